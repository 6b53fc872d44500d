/**
 * The sandbox end to end: the real server (`pxp sandbox --config`) driven over HTTP by the real
 * client (`pxp install` and the client module). Signed playground install, failed upgrade, bad
 * signatures, tokens, tenant isolation, secrets, metrics and the audit trail.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SandboxClient } from '../../src/sandbox/client/index.js'
import { runCli } from '../helpers/cli.js'
import { copyPlayground, tempDir } from '../helpers/fixtures.js'
import { allText, backend, plugin, buildBundle, editDescriptor, getJson, listFiles, startSandboxProc, tamper, variant, waitFor, type SandboxProc } from '../helpers/sandbox.js'

const ID = 'com.powerx.plugins.hello'
const TOKEN_A = 'token-a-0123456789abcdef'
const TOKEN_B = 'token-b-local-only-123456'
const TOKEN_A_READ = 'token-a-read-only-987654'
const SECRET = 'S3cr3t-Value-Never-Logged-42'
const work = tempDir('pxp-sbx-main-')
const keys = join(work, 'keys')
const otherKeys = join(work, 'other-keys')
let sbx: SandboxProc
let signed: string
let unsignedLogsSecret: string
let brokenUpgrade: string
let untrusted: string
let otherPlugin: string
let hook: Server
const hooked: any[] = []

const install = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['install', ...args, '--sandbox', sbx.url, '--json', '--yes'], { env: { PXP_SANDBOX_TOKEN: TOKEN_A, ...env } })

beforeAll(async () => {
  const made = await Promise.all([runCli(['keys', 'dev', '--out', keys]), runCli(['keys', 'dev', '--out', otherKeys])])
  expect(made.map((r) => r.code)).toEqual([0, 0])
  const sign = (k: string) => ['--sign', join(k, 'dev-signing.pem'), '--key', join(k, 'dev-signing.key')]
  const upgradeDir = variant((dir) => {
    editDescriptor(dir, (t) => t.replace('version: 1.2.0', 'version: 1.3.0'))
    backend(dir, 'console.log(JSON.stringify({ level: "error", msg: "cannot open the board store" })); process.exit(3)')
  })
  const leaky = variant((dir) => {
    backend(dir, readFileSync(plugin(copyPlayground()), 'utf8').replace('#!/usr/bin/env node\n', '') + '\nconsole.log(JSON.stringify({ level: "warn", msg: "token is " + process.env.HELLO_API_TOKEN }))')
  })
  const other = variant((dir) => editDescriptor(dir, (t) => t.replace('id: com.powerx.plugins.hello', 'id: com.powerx.plugins.other')))
  ;[signed, brokenUpgrade, untrusted, unsignedLogsSecret, otherPlugin] = await Promise.all([
    buildBundle(copyPlayground(), sign(keys)),
    buildBundle(upgradeDir, sign(keys), ID, '1.3.0'),
    buildBundle(copyPlayground(), sign(otherKeys)),
    buildBundle(leaky),
    buildBundle(other, [], 'com.powerx.plugins.other'),
  ])

  let deliveries = 0
  hook = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      // The very first delivery fails: the sandbox must retry it.
      if (++deliveries === 1) {
        res.statusCode = 503
        return void res.end('busy')
      }
      hooked.push(JSON.parse(body))
      res.end('ok')
    })
  })
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()))
  const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/events`
  writeFileSync(join(work, 'sandbox.yaml'), `core_version: 1.4.0
trust: [${join(keys, 'dev-root-ca.pem')}]
tenants:
  dev-a: { allow_unsigned: false, secret_env: [HELLO_*] }
  dev-b: { allow_unsigned: true, secret_env: [HELLO_*] }
tokens:
  - { token_env: PXP_TOKEN_A, tenant: dev-a, permissions: [plugin:dev, tenant:sandbox:read] }
  - { token: ${TOKEN_A_READ}, tenant: dev-a, permissions: [tenant:sandbox:read] }
  - { token: ${TOKEN_B}, tenant: dev-b, permissions: [plugin:dev, tenant:sandbox:read] }
webhooks: [${hookUrl}]
`)
  writeFileSync(join(work, 'limits.yaml'), `defaults: { max_plugins: 5, install_timeout: 60s, health_timeout: 10s, rollback_timeout: 20s }
tenants:
  dev-b: { max_plugins: 1 }
`)
  sbx = await startSandboxProc(['--config', join(work, 'sandbox.yaml'), '--limits', join(work, 'limits.yaml')], { env: { PXP_TOKEN_A: TOKEN_A, HELLO_TOKEN_SRC: SECRET } })
}, 120_000)

afterAll(async () => {
  const code = await sbx?.stop()
  hook?.close()
  expect(code).toBe(0)
})

describe('pxp sandbox + pxp install', () => {
  it('installs the signed playground in seconds and answers on its entry URL', async () => {
    const t0 = Date.now()
    const run = await install([signed, '--tenant', 'dev-a', '--set', 'HELLO_BOARD_NAME=Demo', '--secret', 'HELLO_API_TOKEN=env:HELLO_TOKEN_SRC', '--log-level', 'debug'])
    const wall = Date.now() - t0
    expect(run.code, run.stderr).toBe(0)
    expect(run.json).toMatchObject({ ok: true, status: 'running', entryUrl: `${sbx.url}/_p/dev-a/${ID}/` })
    console.log(`[sandbox] playground install: ${run.json.durationMs} ms in the sandbox, ${wall} ms for the whole pxp install (validate, upload, follow)`)
    expect(run.json.durationMs).toBeLessThan(10_000)
    const entry = await getJson(run.json.entryUrl)
    expect(entry).toMatchObject({ status: 200, body: { plugin: ID, board: 'Demo' } })
    expect((await getJson(`${run.json.entryUrl}api/v1/tasks`)).body.board).toBe('Demo')
    const logs = await getJson(run.json.logsUrl, TOKEN_A)
    expect(logs.body.data.lines.some((l: any) => l.msg === 'listening')).toBe(true)
    const warnOnly = await getJson(`${run.json.logsUrl}?level=warn`, TOKEN_A)
    expect(warnOnly.body.data.lines.every((l: any) => l.level === 'warn' || l.level === 'error')).toBe(true)
    const rec = await getJson(`${sbx.url}/api/plugins/installs/${run.json.installId}`, TOKEN_A)
    expect(rec.body.data.stages.map((s: any) => s.name)).toEqual(['receive', 'validate', 'dependencies', 'quota', 'configure', 'provision', 'start', 'expose'])
    expect(rec.body.data.config.secrets).toEqual({ HELLO_API_TOKEN: 'env:HELLO_TOKEN_SRC' })
    expect(existsSync(join(sbx.dataDir, 'tenants/dev-a/plugins', ID, '1.2.0/.pxp-data/.migrations-applied'))).toBe(true)
    const done = await waitFor(() => hooked.find((e) => e.type === 'plugin.install.sandbox_completed' && e.tenant_id === 'dev-a'))
    expect(done.data).toMatchObject({ tenant_id: 'dev-a', plugin_id: ID, version: '1.2.0', entry_url: run.json.entryUrl })
    expect(done.data.trace_id).toMatch(/[0-9a-f-]{36}/)
    expect(done.data.install_duration_ms).toBeGreaterThan(0)
    const first = await waitFor(() => hooked.find((e) => e.tenant_id === 'dev-a' && e.seq === 1))
    expect(first.type).toBe('plugin.install.stage_started')
  })

  it('a failed upgrade rolls back and leaves the old version running and answering', async () => {
    const run = await install([brokenUpgrade, '--tenant', 'dev-a', '--set', 'HELLO_BOARD_NAME=Demo'])
    expect(run.code, run.stderr).toBe(1)
    expect(run.json).toMatchObject({ ok: false, status: 'failed', stage: 'start', errorCode: 'process_start_failed', rolledBack: true })
    expect(run.json.reason).toMatch(/exit code 3/)
    expect(existsSync(join(sbx.dataDir, 'tenants/dev-a/plugins', ID, '1.3.0'))).toBe(false)
    const plugin = await getJson(`${sbx.url}/api/tenants/dev-a/plugins/${ID}`, TOKEN_A)
    expect(plugin.body.data).toMatchObject({ status: 'running', current_version: '1.2.0' })
    expect((await getJson(`${sbx.url}/_p/dev-a/${ID}/`)).body.board).toBe('Demo')
    const failedLogs = await getJson(`${sbx.url}/api/tenants/dev-a/plugins/${ID}/logs?version=1.3.0&level=error`, TOKEN_A)
    expect(failedLogs.body.data.lines.some((l: any) => l.msg === 'cannot open the board store')).toBe(true)
  })

  it('refuses unsigned, tampered and untrusted bundles at validate, with event and audit', async () => {
    // pxp install stops at remote validation and uploads nothing to install.
    const unsigned = await install([unsignedLogsSecret, '--tenant', 'dev-a', '--set', 'HELLO_BOARD_NAME=x'])
    expect(unsigned.code).toBe(1)
    expect(unsigned.json).toMatchObject({ ok: false, status: 'rejected', stage: 'validate', errorCode: 'SIGNATURE_MISSING' })
    // Tampering is caught locally before any upload.
    const tampered = tamper(signed, 'Hello from PowerX', 'Hallo from PowerX')
    const local = await install([tampered, '--tenant', 'dev-a', '--set', 'HELLO_BOARD_NAME=x'])
    expect(local.code).toBe(1)
    expect(local.json.error.code).toBe('PREVALIDATION_FAILED')
    const untrustedRun = await install([untrusted, '--tenant', 'dev-a', '--set', 'HELLO_BOARD_NAME=x'])
    expect(untrustedRun.json).toMatchObject({ status: 'rejected', stage: 'validate', errorCode: 'CERT_UNTRUSTED' })

    // The server refuses them itself when a client skips the checks.
    const client = new SandboxClient(sbx.url, 'dev-a', TOKEN_A)
    for (const [file, code] of [[unsignedLogsSecret, 'SIGNATURE_MISSING'], [tampered, 'ENTRY_TAMPERED'], [untrusted, 'CERT_UNTRUSTED']] as const) {
      const accepted = await client.upload(file, { env: { HELLO_BOARD_NAME: 'x' }, secrets: {} })
      const rec = await client.follow(accepted.data.install_id, 30_000)
      expect(rec).toMatchObject({ status: 'failed', stage: 'validate', error_code: code, rolled_back: true })
      const events = (await getJson(`${sbx.url}/api/events?since=0`, TOKEN_A)).body.data.events
      const failed = events.find((e: any) => e.type === 'plugin.install.failed' && e.install_id === rec.install_id)
      expect(failed.data).toMatchObject({ tenant_id: 'dev-a', stage: 'validate', error_code: code, rolled_back: true })
      const audit = (await getJson(`${sbx.url}/api/tenants/dev-a/audit`, TOKEN_A)).body.data
      expect(audit.entries.some((e: any) => e.action === 'install.failed' && e.metadata.install_id === rec.install_id && e.metadata.error_code === code)).toBe(true)
    }
    expect(listFiles(join(sbx.dataDir, 'tenants/dev-a/staging'))).toEqual([])
    expect(listFiles(join(sbx.dataDir, 'tenants/dev-a/plugins', ID)).filter((f) => !f.startsWith('1.2.0/'))).toEqual([])
    const metrics = (await getJson(`${sbx.url}/metrics`, TOKEN_A)).body.data
    expect(metrics['plugin.install.signature_failure_total']).toBe(2)
    expect(metrics['plugin.install.rollback_total']).toBe(4)
    expect(metrics['plugin.install.sandbox_success_rate']).toBeCloseTo(1 / 5)
    expect(metrics['plugin.install.sandbox_duration_p95']).toBeGreaterThan(0)
    const prom = await fetch(`${sbx.url}/metrics?format=prometheus`, { headers: { authorization: `Bearer ${TOKEN_A}` } })
    expect(await prom.text()).toMatch(/plugin_install_signature_failure_total\{tenant="dev-a"\} 2/)
  })

  it('lists the missing wizard answers when not interactive (exit 2)', async () => {
    const run = await runCli(['install', unsignedLogsSecret, '--sandbox', sbx.url, '--tenant', 'dev-b', '--yes', '--json'], { env: { PXP_SANDBOX_TOKEN: TOKEN_B } })
    expect(run.code).toBe(2)
    expect(run.json.error).toMatchObject({ code: 'MISSING_ANSWERS', details: { missing: ['HELLO_BOARD_NAME'] } })
    expect(run.json.error.hint).toContain('--set HELLO_BOARD_NAME=VALUE')
    expect((await getJson(`${sbx.url}/api/tenants/dev-b/plugins`, TOKEN_B)).body.data.plugins).toEqual([])
  })

  it('never lets a secret reference reach another tenant\'s token or files', async () => {
    for (const ref of ['env:PXP_TOKEN_A', 'env:PATH', `file:${join(sbx.dataDir, 'tenants/dev-a/audit.log')}`, 'file:../../dev-a/audit.log']) {
      const run = await runCli(['install', unsignedLogsSecret, '--sandbox', sbx.url, '--tenant', 'dev-b', '--set', 'HELLO_BOARD_NAME=x', '--secret', `HELLO_API_TOKEN=${ref}`, '--yes', '--json'], { env: { PXP_SANDBOX_TOKEN: TOKEN_B } })
      expect(run.code, ref).toBe(1)
      expect(run.json, ref).toMatchObject({ status: 'failed', stage: 'configure', errorCode: 'secret_not_allowed', rolledBack: true })
    }
    expect(listFiles(join(sbx.dataDir, 'tenants/dev-b/plugins'))).toEqual([])
  })

  it('refuses a token of another tenant and a token without plugin:dev', async () => {
    expect((await getJson(`${sbx.url}/api/tenants/dev-a/plugins`)).status).toBe(401)
    expect((await getJson(`${sbx.url}/api/tenants/dev-a/plugins`, 'not-a-token-at-all')).body.error_code).toBe('unauthorized')
    const cross = await getJson(`${sbx.url}/api/tenants/dev-a/plugins`, TOKEN_B)
    expect(cross).toMatchObject({ status: 403, body: { error_code: 'tenant_forbidden' } })
    expect((await getJson(`${sbx.url}/api/tenants/dev-a/audit`, TOKEN_B)).status).toBe(403)
    expect((await getJson(`${sbx.url}/api/tenants/dev-a/plugins/${ID}/logs`, TOKEN_B)).status).toBe(403)
    // Its own tenant's routes cannot climb into another tenant's files either.
    const climb = await getJson(`${sbx.url}/api/tenants/dev-b/plugins/..%2F..%2Fdev-a%2Flogs%2F${ID}/logs?version=1.2.0`, TOKEN_B)
    expect(climb.status).toBe(404)
    const installs = (await getJson(`${sbx.url}/api/events?since=0`, TOKEN_A)).body.data.events.map((e: any) => e.install_id).filter(Boolean)
    expect((await getJson(`${sbx.url}/api/plugins/installs/${installs[0]}`, TOKEN_B)).status).toBe(404)
    const readOnly = await runCli(['install', signed, '--sandbox', sbx.url, '--tenant', 'dev-a', '--set', 'HELLO_BOARD_NAME=x', '--yes', '--json'], { env: { PXP_SANDBOX_TOKEN: TOKEN_A_READ } })
    expect(readOnly.code).toBe(1)
    expect(readOnly.json.error).toMatchObject({ code: 'SANDBOX_AUTH' })
    expect(readOnly.json.error.message).toContain('forbidden')
    const wrongTenant = await runCli(['install', signed, '--sandbox', sbx.url, '--tenant', 'dev-a', '--set', 'HELLO_BOARD_NAME=x', '--yes', '--json'], { env: { PXP_SANDBOX_TOKEN: TOKEN_B } })
    expect(wrongTenant.code).toBe(1)
    expect(wrongTenant.json.error.message).toContain('tenant_forbidden')
    const denied = (await getJson(`${sbx.url}/api/tenants/dev-a/audit`, TOKEN_A)).body.data.entries.filter((e: any) => e.action === 'access.denied')
    expect(denied.length).toBeGreaterThan(0)
  })

  it('keeps two tenants apart: plugins, logs, events and audit; quota max_plugins; secrets masked', async () => {
    const values = join(work, 'values.yaml')
    writeFileSync(values, 'env:\n  HELLO_BOARD_NAME: Beta\nsecrets:\n  HELLO_API_TOKEN: env:HELLO_TOKEN_SRC\nlog_level: warn\n')
    const run = await runCli(['install', unsignedLogsSecret, '--sandbox', sbx.url, '--tenant', 'dev-b', '--values', values, '--yes', '--json'], { env: { PXP_SANDBOX_TOKEN: TOKEN_B } })
    expect(run.code, run.stderr).toBe(0)
    expect(run.json.entryUrl).toBe(`${sbx.url}/_p/dev-b/${ID}/`)
    expect((await getJson(run.json.entryUrl)).body.board).toBe('Beta')
    expect((await getJson(`${sbx.url}/_p/dev-a/${ID}/`)).body.board).toBe('Demo')

    const aPlugins = (await getJson(`${sbx.url}/api/tenants/dev-a/plugins`, TOKEN_A)).body.data.plugins
    const bPlugins = (await getJson(`${sbx.url}/api/tenants/dev-b/plugins`, TOKEN_B)).body.data.plugins
    expect(aPlugins.map((p: any) => p.tenant_id)).toEqual(['dev-a'])
    expect(bPlugins.map((p: any) => `${p.tenant_id}:${p.current_version}`)).toEqual(['dev-b:1.2.0'])
    const aEvents = (await getJson(`${sbx.url}/api/events?since=0`, TOKEN_A)).body.data.events
    const bEvents = (await getJson(`${sbx.url}/api/events?since=0`, TOKEN_B)).body.data.events
    expect(aEvents.every((e: any) => e.tenant_id === 'dev-a')).toBe(true)
    expect(bEvents.every((e: any) => e.tenant_id === 'dev-b')).toBe(true)
    const aIds = new Set(aEvents.map((e: any) => e.install_id).filter(Boolean))
    const bAudit = (await getJson(`${sbx.url}/api/tenants/dev-b/audit`, TOKEN_B)).body.data
    expect(bAudit.chain.ok).toBe(true)
    expect(bAudit.entries.some((e: any) => aIds.has(e.metadata.install_id))).toBe(false)
    expect(bAudit.entries.some((e: any) => e.metadata.install_id)).toBe(true)
    expect((await getJson(`${sbx.url}/api/tenants/dev-a/audit`, TOKEN_A)).body.data.chain.ok).toBe(true)

    // The plugin printed its secret: the captured log shows it masked.
    const logs = await waitFor(async () => {
      const lines = (await getJson(`${run.json.logsUrl}?level=warn`, TOKEN_B)).body.data.lines
      return lines.find((l: any) => String(l.msg).startsWith('token is')) ? lines : undefined
    })
    expect(logs.find((l: any) => String(l.msg).startsWith('token is')).msg).toBe('token is ***')

    // dev-b allows one plugin: a second id is refused at quota, whether the client checks first or not.
    const quota = await runCli(['install', otherPlugin, '--sandbox', sbx.url, '--tenant', 'dev-b', '--set', 'HELLO_BOARD_NAME=x', '--yes', '--json', '--skip-validation'], { env: { PXP_SANDBOX_TOKEN: TOKEN_B } })
    expect(quota.code).toBe(1)
    expect(quota.json).toMatchObject({ status: 'failed', stage: 'quota', errorCode: 'quota_exceeded', rolledBack: true })
    expect(existsSync(join(sbx.dataDir, 'tenants/dev-b/plugins/com.powerx.plugins.other'))).toBe(false)

    // No secret value anywhere in the data directory, nor in any output.
    expect(allText(sbx.dataDir)).not.toContain(SECRET)
    expect(allText(sbx.dataDir)).not.toContain(TOKEN_A)
    expect(sbx.output()).not.toContain(SECRET)
    expect(JSON.stringify(hooked)).not.toContain(SECRET)
  })

  it('rolls a plugin back to its previous version and uninstalls it, audited', async () => {
    // dev-a: 1.2.0 is the only version; rollback has nowhere to go.
    const none = await fetch(`${sbx.url}/api/tenants/dev-a/plugins/${ID}/rollback`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN_A}` } })
    expect(none.status).toBe(404)
    const forbidden = await fetch(`${sbx.url}/api/tenants/dev-a/plugins/${ID}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN_A_READ}` } })
    expect(forbidden.status).toBe(403)
    const del = await fetch(`${sbx.url}/api/tenants/dev-b/plugins/${ID}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN_B}` } })
    expect(del.status).toBe(200)
    expect(existsSync(join(sbx.dataDir, 'tenants/dev-b/plugins', ID))).toBe(false)
    expect((await getJson(`${sbx.url}/_p/dev-b/${ID}/`)).status).toBe(404)
    const audit = (await getJson(`${sbx.url}/api/tenants/dev-b/audit`, TOKEN_B)).body.data.entries
    expect(audit.at(-1)).toMatchObject({ action: 'plugin.uninstalled', metadata: { plugin_id: ID } })
  })
})
