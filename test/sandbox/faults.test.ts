/**
 * Faults end in the documented status, event and audit entry with nothing left behind: plugins that
 * crash, never become healthy, exceed their memory, fail their migration; missing dependencies, a
 * core version out of range, quotas (bytes, memory). Real server, real client, real processes.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { followSse, installBundle, type InstallOutcome } from '../../src/sandbox/client/index.js'
import { runCli } from '../helpers/cli.js'
import { copyPlayground, tempDir, write } from '../helpers/fixtures.js'
import { HOST_ARCH, backend, buildBundle, editDescriptor, getJson, listFiles, startSandboxProc, variant, waitFor, type SandboxProc } from '../helpers/sandbox.js'

const TOKEN = 'faults-token-0123456789'
const TINY = 'tiny-token-0123456789'
const SLOW = 'slow-token-0123456789'
const work = tempDir('pxp-sbx-faults-')
let sbx: SandboxProc
const bundles: Record<string, string> = {}
const ids: Record<string, string> = {}

const serve = (extra = '') => `
import { createServer } from 'node:http'
${extra}
const port = Number(process.env.POWERX_BIND_ADDR.split(':').pop())
createServer((req, res) => res.end('{"ok":true}')).listen(port, '127.0.0.1')
`

function variantOf(name: string, edit: (dir: string) => void): Promise<void> {
  const id = `com.powerx.plugins.${name}`
  ids[name] = id
  const dir = variant((d) => {
    editDescriptor(d, (t) => t.replace('id: com.powerx.plugins.hello', `id: ${id}`))
    edit(d)
  })
  return buildBundle(dir, [], id).then((file) => void (bundles[name] = file))
}

beforeAll(async () => {
  // All variants at once: the builds are mostly process start-up, which overlaps well.
  await Promise.all([
    variantOf('crash', (d) => backend(d, 'console.error("boom"); process.exit(3)')),
    variantOf('unhealthy', (d) => backend(d, `import { createServer } from 'node:http'\nconst port = Number(process.env.POWERX_BIND_ADDR.split(':').pop())\ncreateServer((req, res) => { res.statusCode = 503; res.end() }).listen(port, '127.0.0.1')`)),
    variantOf('hog', (d) => backend(d, serve('const hog = Buffer.alloc(400 * 1024 * 1024, 7)\nsetInterval(() => hog[0]++, 1000)'))),
    variantOf('migfail', (d) => write(d, 'backend/bin/migrate', '#!/usr/bin/env node\nconsole.error("relation tasks already exists"); process.exit(1)\n', 0o755)),
    variantOf('needsdep', (d) => editDescriptor(d, (t) => t.replace('requires: []', 'requires: ["com.powerx.plugins.base >=1.0.0"]'))),
    variantOf('future', (d) => editDescriptor(d, (t) => t.replace('corex_version: ">=1.0.0"', 'corex_version: ">=9.0.0"'))),
    variantOf('seedfail', (d) => {
      write(d, 'backend/bin/seed', '#!/usr/bin/env node\nconst r = await fetch(process.env.POWERX_PLUGIN_URL + "/healthz"); console.error("seed saw " + r.status); process.exit(2)\n', 0o755)
      editDescriptor(d, (t) => t + '\nseed:\n  entry: backend/bin/seed\n')
    }),
    variantOf('flaky', (d) => backend(d, serve('setTimeout(() => { console.error("lost the database"); process.exit(4) }, 1500)'))),
    variantOf('sleepy', (d) => write(d, 'backend/bin/migrate', '#!/usr/bin/env node\nsetTimeout(() => {}, 60000)\n', 0o755)),
    variantOf('bigmem', (d) => editDescriptor(d, (t) => t.replace('  health:\n    http: /healthz', '  resources: { memory_mb: 4096 }\n  health:\n    http: /healthz'))),
    buildBundle(copyPlayground()).then((file) => void (bundles.playground = file)),
    buildBundle(variant((d) => editDescriptor(d, (t) => t.replace('version: 1.2.0', 'version: 1.3.0').replace('Hello from PowerX', 'Hello again'))), [], 'com.powerx.plugins.hello', '1.3.0').then((file) => void (bundles.v13 = file)),
  ])
  writeFileSync(join(work, 'sandbox.yaml'), `core_version: 1.4.0
tenants:
  dev: { allow_unsigned: true }
  tiny: { allow_unsigned: true }
  slow: { allow_unsigned: true }
tokens:
  - { token: ${SLOW}, tenant: slow, permissions: [plugin:dev, tenant:sandbox:read] }
  - { token: ${TOKEN}, tenant: dev, permissions: [plugin:dev, tenant:sandbox:read] }
  - { token: ${TINY}, tenant: tiny, permissions: [plugin:dev, tenant:sandbox:read] }
`)
  writeFileSync(join(work, 'limits.yaml'), `defaults: { health_timeout: 5s, max_memory_mb: 150, install_timeout: 60s }
tenants:
  tiny: { max_package_bytes: 2000 }
  slow: { install_timeout: 3s, max_concurrent_installs: 1 }
`)
  sbx = await startSandboxProc(['--config', join(work, 'sandbox.yaml'), '--limits', join(work, 'limits.yaml')])
}, 120_000)

afterAll(async () => {
  expect(await sbx?.stop()).toBe(0)
})

const answers = { env: { HELLO_BOARD_NAME: 'Faults' } }
const run = (name: string, options: { skip?: boolean; tenant?: string; token?: string } = {}): Promise<InstallOutcome> =>
  installBundle({ file: bundles[name]!, url: sbx.url, tenant: options.tenant ?? 'dev', token: options.token ?? TOKEN, answers, progress: false, skipValidation: options.skip ?? true })

/** The documented end state of a failed install: event, audit, nothing on disk, no process. */
async function expectRolledBack(outcome: InstallOutcome, stage: string, code: string, tenant = 'dev', token = TOKEN) {
  expect(outcome).toMatchObject({ ok: false, status: 'failed', stage, errorCode: code, rolledBack: true })
  const events = (await getJson(`${sbx.url}/api/events?since=0`, token)).body.data.events
  const failed = events.find((e: any) => e.type === 'plugin.install.failed' && e.install_id === outcome.installId)
  expect(failed?.data).toMatchObject({ tenant_id: tenant, stage, error_code: code, rolled_back: true })
  expect(failed.data.failure_reason).toBeTruthy()
  expect(events.some((e: any) => e.type === 'plugin.install.rollback_started' && e.install_id === outcome.installId)).toBe(true)
  const audit = (await getJson(`${sbx.url}/api/tenants/${tenant}/audit`, token)).body.data
  expect(audit.chain.ok).toBe(true)
  expect(audit.entries.some((e: any) => e.action === 'install.failed' && e.metadata.install_id === outcome.installId && e.metadata.rolled_back === true)).toBe(true)
  expect(listFiles(join(sbx.dataDir, 'tenants', tenant, 'plugins'))).toEqual([])
  expect(listFiles(join(sbx.dataDir, 'tenants', tenant, 'staging'))).toEqual([])
  expect(pluginProcesses()).toEqual([])
}

/** Processes whose command line points into the data directory (plugin processes). */
function pluginProcesses(): number[] {
  const found: number[] = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (Number(pid) !== sbx.proc.pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(sbx.dataDir)) found.push(Number(pid))
    } catch {
      // Gone meanwhile.
    }
  }
  return found
}

describe('faults roll back', () => {
  it('a plugin that crashes at start', async () => {
    const outcome = await run('crash')
    await expectRolledBack(outcome, 'start', 'process_start_failed')
    const logs = (await getJson(`${sbx.url}/api/tenants/dev/plugins/${ids.crash}/logs?level=error`, TOKEN)).body.data.lines
    expect(logs.map((l: any) => l.msg)).toContain('boom')
  })

  it('a plugin that never becomes healthy (health_timeout 5s)', async () => {
    const outcome = await run('unhealthy')
    await expectRolledBack(outcome, 'start', 'healthcheck_failed')
    expect(outcome.reason).toMatch(/\/healthz within 5000 ms/)
  })

  it('a plugin that exceeds its memory is killed', async () => {
    const outcome = await run('hog')
    await expectRolledBack(outcome, 'start', 'memory_limit_exceeded')
    expect(outcome.reason).toMatch(/above the limit of 150 MB/)
  })

  it('a plugin that crashes after it is running is marked crashed, with an event', async () => {
    const outcome = await run('flaky')
    expect(outcome).toMatchObject({ ok: true, status: 'running' })
    const plugin = await waitFor(async () => {
      const p = (await getJson(`${sbx.url}/api/tenants/dev/plugins/${ids.flaky}`, TOKEN)).body.data
      return p.status === 'crashed' ? p : undefined
    })
    expect(plugin.last_exit).toMatchObject({ code: 4 })
    const proxied = await getJson(outcome.entryUrl!)
    expect(proxied).toMatchObject({ status: 503, body: { error_code: 'plugin_not_running' } })
    const events = (await getJson(`${sbx.url}/api/events?since=0`, TOKEN)).body.data.events
    expect(events.some((e: any) => e.type === 'plugin.process.exited' && e.plugin_id === ids.flaky)).toBe(true)
    expect(pluginProcesses()).toEqual([])
    expect((await fetch(`${sbx.url}/api/tenants/dev/plugins/${ids.flaky}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200)
  })

  it('a migration that fails', async () => {
    const outcome = await run('migfail')
    await expectRolledBack(outcome, 'provision', 'migration_failed')
    const logs = (await getJson(`${sbx.url}/api/tenants/dev/plugins/${ids.migfail}/logs`, TOKEN)).body.data.lines
    expect(logs.some((l: any) => l.stream === 'migrate' && l.msg === 'relation tasks already exists')).toBe(true)
  })

  it('a seed step that fails after the plugin started', async () => {
    const outcome = await run('seedfail')
    await expectRolledBack(outcome, 'expose', 'seed_failed')
    const logs = (await getJson(`${sbx.url}/api/tenants/dev/plugins/${ids.seedfail}/logs`, TOKEN)).body.data.lines
    expect(logs.map((l: any) => l.msg)).toContain('seed saw 200')
  })

  it('a missing dependency and a corex_version out of range', async () => {
    const checked = await run('needsdep', { skip: false })
    expect(checked).toMatchObject({ ok: false, status: 'rejected', stage: 'dependencies', errorCode: 'missing_dependency', installId: null })
    await expectRolledBack(await run('needsdep'), 'dependencies', 'missing_dependency')
    const future = await run('future')
    await expectRolledBack(future, 'dependencies', 'incompatible_corex_version')
    expect(future.reason).toContain('>=9.0.0')
  })

  it('quotas: memory reservation and package bytes', async () => {
    const mem = await run('bigmem')
    await expectRolledBack(mem, 'quota', 'quota_exceeded')
    expect(mem.reason).toMatch(/max_memory_mb 150/)
    const bytes = await run('playground', { tenant: 'tiny', token: TINY })
    await expectRolledBack(bytes, 'receive', 'quota_exceeded', 'tiny', TINY)
    expect(bytes.reason).toMatch(/max_package_bytes \(2000 bytes\)/)
    const metrics = (await getJson(`${sbx.url}/metrics`, TOKEN)).body.data
    expect(metrics['plugin.install.rollback_total']).toBe(8)
    expect(metrics['plugin.install.sandbox_success_rate']).toBeCloseTo(1 / 9) // only the flaky plugin got to running
  })

  it('install_timeout stops a migration that hangs; max_concurrent_installs refuses a second install', async () => {
    const first = run('sleepy', { tenant: 'slow', token: SLOW })
    await waitFor(async () => ((await getJson(`${sbx.url}/api/events?since=0`, SLOW)).body.data.events.some((e: any) => e.data.stage === 'provision') ? true : undefined))
    const second = await run('playground', { tenant: 'slow', token: SLOW }).catch((error: any) => error)
    expect(second.code).toBe('SANDBOX_API')
    expect(second.message).toContain('too_many_installs')
    const outcome = await first
    await expectRolledBack(outcome, 'provision', 'timeout', 'slow', SLOW)
    expect(outcome.reason).toMatch(/did not finish within/)
  })

  it('afterwards the tenant still installs the playground', async () => {
    const outcome = await run('playground', { skip: false })
    expect(outcome).toMatchObject({ ok: true, status: 'running' })
    expect((await getJson(outcome.entryUrl!)).body.board).toBe('Faults')
    expect(existsSync(join(sbx.dataDir, 'tenants/dev/plugins/com.powerx.plugins.hello/1.2.0/plugin.yaml'))).toBe(true)
  })

  it('upgrades with live SSE events, then rolls back to the previous version by API', async () => {
    const seen: any[] = []
    // Resume from the last event seen so far: nothing is missed however late the stream connects.
    const last = (await getJson(`${sbx.url}/api/events?since=0`, TOKEN)).body.data.events.at(-1).seq
    const live = followSse(`${sbx.url}/api/events?since=${last}`, { authorization: `Bearer ${TOKEN}` }, (e) => (seen.push(e), e.event === 'plugin.install.sandbox_completed'), 30_000)
    const up = await run('v13', { skip: false })
    expect(up).toMatchObject({ ok: true, version: '1.3.0' })
    expect(await live).toBe('stopped')
    expect(seen.map((e) => e.event)).toContain('plugin.install.stage_completed')
    expect(seen.every((e) => e.data.tenant_id === 'dev')).toBe(true)
    expect((await getJson(up.entryUrl!)).body.greeting).toBe('Hello again')
    const logTail: any[] = []
    const tail = followSse(`${sbx.url}/api/tenants/dev/plugins/com.powerx.plugins.hello/logs?follow=1&tail=1`, { authorization: `Bearer ${TOKEN}` }, (e) => (logTail.push(e.data), e.data.msg === 'request'), 10_000)
    await new Promise((r) => setTimeout(r, 400))
    await getJson(`${up.entryUrl}api/v1/tasks`)
    expect(await tail).toBe('stopped')

    const res = await fetch(`${sbx.url}/api/tenants/dev/plugins/com.powerx.plugins.hello/rollback`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
    expect(res.status).toBe(200)
    expect((await res.json()).data).toMatchObject({ status: 'running', current_version: '1.2.0', previous_version: '1.3.0' })
    expect((await getJson(up.entryUrl!)).body.greeting).toBe('Hello from PowerX')
    const audit = (await getJson(`${sbx.url}/api/tenants/dev/audit`, TOKEN)).body.data.entries
    expect(audit.at(-1)).toMatchObject({ action: 'plugin.rolled_back', metadata: { from: '1.3.0', to: '1.2.0' } })
  })

  it('pxp build runs the installer-sandbox plugin as its install step', async () => {
    const dir = variant((d) => editDescriptor(d, (t) => t.replace('id: com.powerx.plugins.hello', 'id: com.powerx.plugins.built')))
    writeFileSync(join(dir, 'px-plugin.config.ts'), `export default {
  offline: { targets: [{ os: 'linux', arch: 'amd64' }, { os: 'linux', arch: 'arm64' }] },
  sandbox: { url: '${sbx.url}', tenant: 'dev', tokenEnv: 'FAULTS_SANDBOX_TOKEN', values: { HELLO_BOARD_NAME: 'Built' } },
}\n`)
    const out = tempDir('pxp-sbx-build-')
    const build = await runCli(['build', '--cwd', dir, '--out', out, '--no-upload', '--json'], { env: { FAULTS_SANDBOX_TOKEN: TOKEN } })
    expect(build.code, build.stderr).toBe(0)
    const host = build.json.targets.find((t: any) => t.arch === HOST_ARCH)
    const other = build.json.targets.find((t: any) => t.arch !== HOST_ARCH)
    expect(host.install).toMatchObject({ status: 'running', entryUrl: `${sbx.url}/_p/dev/com.powerx.plugins.built/` })
    expect(other.install).toMatchObject({ status: 'skipped' })
    expect((await getJson(host.install.entryUrl)).body.board).toBe('Built')
    expect(build.stdout + build.stderr).not.toContain(TOKEN)
  })
})
