import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { copyPlayground, write } from '../helpers/fixtures.js'
import { devKeys } from '../alerts/dev-keys.js'
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../helpers/s3-server.js'
import { closedPort, startReceiver, type Receiver } from '../telemetry/receiver.js'

let s3: S3Server
let sandbox: Server
let sandboxUrl: string
let telemetry: Receiver
let keys: { fresh: { cert: string; key: string }; expiring: { cert: string; key: string } }

beforeAll(async () => {
  const [server, fresh, expiring, receiver] = await Promise.all([startS3Server('pxp-doctor'), devKeys(60), devKeys(3), startReceiver()])
  s3 = server
  telemetry = receiver
  keys = { fresh, expiring }
  // A sandbox stand-in that answers /healthz like `pxp sandbox` does.
  sandbox = createServer((req, res) => {
    res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ ok: req.url === '/healthz' }))
  })
  await new Promise<void>((resolve) => sandbox.listen(0, '127.0.0.1', resolve))
  sandboxUrl = `http://127.0.0.1:${(sandbox.address() as AddressInfo).port}`
})

afterAll(async () => {
  await s3?.close()
  await telemetry?.close()
  if (sandbox) {
    sandbox.closeAllConnections()
    await new Promise((resolve) => sandbox.close(resolve))
  }
})

const S3_ENV = { PX_ARTIFACT_STORE_ACCESS_KEY: S3RVER_CREDENTIALS.accessKeyId, PX_ARTIFACT_STORE_SECRET: S3RVER_CREDENTIALS.secretAccessKey }

function project(config: Record<string, unknown>): string {
  const root = copyPlayground()
  write(root, 'px-plugin.config.json', JSON.stringify(config, null, 2))
  return root
}

const byName = (json: any) => Object.fromEntries(json.checks.map((c: any) => [c.name, c]))

describe('pxp doctor', () => {
  it('a healthy setup: every check passes, one line each, exit 0', async () => {
    const webhook = await startReceiver()
    try {
      const root = project({
        signer: { type: 'pem', cert: keys.fresh.cert, key: keys.fresh.key },
        artifactStore: [
          { type: 's3', bucket: s3.bucket, endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1' },
          { type: 'fs', dir: './nas' },
        ],
        sandbox: { url: sandboxUrl, tenant: 'dev-a', tokenEnv: 'PXP_DOCTOR_TOKEN' },
        telemetry: { url: telemetry.url },
        alerts: { webhook: `${webhook.url}/services/T0/B0/doctorSecretPath`, kind: 'slack' },
      })
      const env = { ...S3_ENV, PXP_DOCTOR_TOKEN: 'doctor-token-value' }
      const [json, human] = await Promise.all([runCli(['doctor', '--json'], { cwd: root, env }), runCli(['doctor'], { cwd: root, env })])
      expect(json.code, json.stdout + json.stderr).toBe(0)
      expect(json.json.ok).toBe(true)
      const checks = byName(json.json)
      expect(Object.keys(checks)).toEqual([
        'config', 'plugin.yaml', 'output', 'signer pem certificate', 'signer pem key',
        'store[0] s3 credentials', 'store[0] s3', 'store[1] fs', 'sandbox', 'sandbox token', 'telemetry', 'alerts',
      ])
      for (const check of json.json.checks) expect(check.status, `${check.name}: ${check.detail}`).toBe('ok')
      expect(checks['plugin.yaml'].detail).toBe('com.powerx.plugins.hello@1.2.0')
      expect(checks['store[0] s3'].detail).toMatch(/HeadBucket/)
      expect(checks['signer pem certificate'].detail).toMatch(/valid until .* \((59|60) days\)/)
      // Nothing was posted: doctor only connects to the webhook and GETs the telemetry base URL.
      expect(webhook.requests).toHaveLength(0)
      expect(telemetry.requests.every((r) => r.method === 'GET')).toBe(true)

      expect(human.code).toBe(0)
      const lines = human.stderr.trim().split('\n').filter((l) => /^[✔⚠✖·] /.test(l))
      expect(lines).toHaveLength(12)
      expect(lines[0]).toMatch(/^✔ config — .*px-plugin\.config\.json is valid/)
      expect(human.stderr).toMatch(/All checks passed/)
      for (const text of [human.stderr, json.stdout]) {
        expect(text).not.toContain('doctorSecretPath')
        expect(text).not.toContain('doctor-token-value')
      }
    } finally {
      await webhook.close()
    }
  })

  it('problems: one line per check with the fix, warnings for what can wait, exit 1', async () => {
    const down = await closedPort()
    const root = project({
      signer: [
        { type: 'pem', cert: keys.expiring.cert, key: keys.fresh.key },
        { type: 'http', url: `http://127.0.0.1:${down}/sign`, tokenEnv: 'PXP_DOCTOR_UNSET_TOKEN' },
      ],
      artifactStore: [
        { type: 's3', bucket: 'no-such-bucket', endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1' },
        { type: 'fs', dir: '/proc/pxp-cannot-write-here' },
        { type: 'fs', dir: './plugin.yaml/nas' },
      ],
      sandbox: { url: `http://127.0.0.1:${down}`, tenant: 'dev-a' },
      telemetry: { url: `http://127.0.0.1:${down}` },
    })
    const [run, human] = await Promise.all([
      runCli(['doctor', '--json', '--timeout', '1500'], { cwd: root, env: S3_ENV }),
      runCli(['doctor', '--timeout', '1500'], { cwd: root, env: S3_ENV }),
    ])
    expect(run.code).toBe(1)
    expect(run.json.ok).toBe(false)
    const checks = byName(run.json)
    expect(checks['signer[0] pem certificate']).toMatchObject({ status: 'warn', detail: expect.stringMatching(/expires on .* \(in [23] days, warning window 14 days\)/), fix: expect.stringMatching(/Renew/) })
    expect(checks['signer[0] pem key']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/does not belong to the certificate/) })
    expect(checks['signer[1] http endpoint']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/unreachable \(ECONNREFUSED\)/) })
    expect(checks['signer[1] http token']).toMatchObject({ status: 'fail', detail: 'PXP_DOCTOR_UNSET_TOKEN is not set', fix: expect.stringMatching(/Export PXP_DOCTOR_UNSET_TOKEN/) })
    expect(checks['store[0] s3']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/no such bucket/), fix: expect.stringMatching(/Create the bucket/) })
    expect(checks['store[1] fs']).toMatchObject({ status: 'fail', fix: expect.stringMatching(/writable/) })
    expect(checks['store[2] fs']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/plugin\.yaml is not a directory/) })
    expect(checks.sandbox).toMatchObject({ status: 'fail', detail: expect.stringMatching(/\/healthz unreachable/), fix: expect.stringMatching(/pxp sandbox/) })
    expect(checks.telemetry).toMatchObject({ status: 'warn', detail: expect.stringMatching(/spool/) })
    expect(checks.alerts).toMatchObject({ status: 'skip' })
    for (const check of run.json.checks) if (check.status === 'warn' || check.status === 'fail') expect(check.fix, check.name).toBeTruthy()

    expect(human.code).toBe(1)
    expect(human.stderr).toMatch(/^✖ sandbox — http:\/\/127\.0\.0\.1:\d+\/healthz unreachable \(ECONNREFUSED\) — Start it with `pxp sandbox`/m)
    expect(human.stderr).toMatch(/^⚠ signer\[0\] pem certificate — certificate .* expires on .* — Renew/m)
    expect(human.stderr).toMatch(/problems to fix/)
  })

  it('wrong store credentials are reported as refused, not as unreachable', async () => {
    const root = project({ artifactStore: { type: 's3', bucket: s3.bucket, endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1' } })
    const run = await runCli(['doctor', '--json'], { cwd: root, env: { PX_ARTIFACT_STORE_ACCESS_KEY: 'WRONGKEY', PX_ARTIFACT_STORE_SECRET: 'wrong-secret-value' } })
    expect(run.code).toBe(1)
    expect(byName(run.json)['store s3']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/credentials refused \(HTTP 403\)/) })
    expect(run.stdout).not.toContain('wrong-secret-value')
  })

  it('an invalid config is one ✖ config line and exit 2', async () => {
    const root = project({ offline: { targets: [{ os: 'plan9', arch: 'amd64' }] } })
    const [run, human] = await Promise.all([runCli(['doctor', '--json'], { cwd: root }), runCli(['doctor'], { cwd: root })])
    expect(run.code).toBe(2)
    expect(run.json).toMatchObject({ ok: false, configValid: false })
    expect(run.json.checks).toHaveLength(1)
    expect(run.json.checks[0]).toMatchObject({ name: 'config', status: 'fail' })
    expect(run.json.checks[0].detail).toMatch(/offline\.targets\[0\]\.os/)
    expect(human.code).toBe(2)
    expect(human.stderr).toMatch(/^✖ config — /m)
  })

  it('no signer is a warning, not a failure', async () => {
    const root = project({})
    const run = await runCli(['doctor', '--json'], { cwd: root })
    expect(run.code).toBe(0)
    expect(byName(run.json).signer).toMatchObject({ status: 'warn', fix: expect.stringMatching(/pxp keys dev/) })
  })
})
