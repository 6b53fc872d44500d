import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { BUNDLE_DIR, copyPlayground, write } from '../helpers/fixtures.js'
import { buildPayload, endpointOf, METRICS } from '../../plugins/telemetry-http/index.js'
import { closedPort, startReceiver, type Receiver } from './receiver.js'

const BUILD = (out: string) => ['build', '--out', out, '--os', 'linux', '--arch', 'amd64', '--no-upload', '--no-install', '--json']

function project(telemetry: Record<string, unknown>): { root: string; out: string } {
  const root = copyPlayground()
  write(root, 'px-plugin.config.json', JSON.stringify({ telemetry }, null, 2))
  return { root, out: join(root, 'out') }
}

const spooled = (out: string) => (existsSync(join(out, '.telemetry')) ? readdirSync(join(out, '.telemetry')).filter((f) => f.endsWith('.json')) : [])
const metricsOf = (body: any) => Object.fromEntries(body.metrics.map((m: { name: string; value: number }) => [m.name, m.value]))

let receivers: Receiver[] = []
afterEach(async () => {
  await Promise.all(receivers.map((r) => r.close()))
  receivers = []
})
async function receiver(mode: 'ok' | 'hang' | 'error' = 'ok', port?: number) {
  const r = await startReceiver({ mode, port })
  receivers.push(r)
  return r
}

describe('telemetry-http', () => {
  it('POSTs the offline.dist metrics with their tags to a loopback endpoint; the telemetry id is in report.json', async () => {
    const endpoint = await receiver()
    // Credentials in the URL travel as a Basic header and are never written anywhere.
    const { root, out } = project({ url: `${endpoint.url.replace('//', '//pxp:t3l3m3tryPassw0rd@')}/ingest/` })
    const run = await runCli(BUILD(out), { cwd: root })
    expect(run.code, run.stderr).toBe(0)
    expect(endpoint.requests).toHaveLength(1)
    const [request] = endpoint.requests
    expect(request!.method).toBe('POST')
    expect(request!.path).toBe('/ingest/telemetry/offline-dist')
    expect(request!.headers['content-type']).toBe('application/json')
    expect(request!.headers.authorization).toBe(`Basic ${Buffer.from('pxp:t3l3m3tryPassw0rd').toString('base64')}`)
    for (const text of [run.stdout, run.stderr, ...['dist.log', 'audit.log'].map((f) => readFileSync(join(out, f), 'utf8')), readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8'), readFileSync(join(BUNDLE_DIR(out), 'report.html'), 'utf8')]) {
      expect(text).not.toContain('t3l3m3tryPassw0rd')
    }
    const body = request!.body
    const report = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8'))
    expect(body.telemetryId).toMatch(/^[0-9a-f-]{36}$/)
    expect(report.telemetry_id).toBe(body.telemetryId)
    expect(report.plugins['telemetry-http'].telemetryId).toBe(body.telemetryId)
    expect(body.tags).toEqual({
      pluginId: 'com.powerx.plugins.hello',
      version: '1.2.0',
      target: 'linux-amd64',
      signer: 'unsigned',
      store: 'none',
      telemetry_id: body.telemetryId,
    })
    const metrics = metricsOf(body)
    expect(Object.keys(metrics).sort()).toEqual([METRICS.duration, METRICS.failures, METRICS.retries, METRICS.size].sort())
    expect(metrics[METRICS.size]).toBe(run.json.targets[0].size)
    expect(metrics[METRICS.failures]).toBe(0)
    expect(metrics[METRICS.retries]).toBe(0)
    expect(metrics[METRICS.duration]).toBeGreaterThan(0)
    expect(body.ok).toBe(true)
    expect(body.runId).toBe(report.runId)
    expect(spooled(out)).toEqual([])
  })

  it('a failed build is counted in failures_total with its error code', async () => {
    const endpoint = await receiver()
    const { root, out } = project({ url: endpoint.url })
    write(root, 'config/.env', 'API_KEY=not-for-the-bundle\n')
    const run = await runCli(BUILD(out), { cwd: root })
    expect(run.code).toBe(1)
    expect(run.json.errors[0].code).toBe('SECRET_IN_TREE')
    expect(endpoint.requests).toHaveLength(1)
    const body = endpoint.requests[0]!.body
    expect(body.ok).toBe(false)
    expect(metricsOf(body)[METRICS.failures]).toBe(1)
    expect(metricsOf(body)[METRICS.size]).toBe(0)
    expect(body.error).toMatchObject({ code: 'SECRET_IN_TREE', plugin: 'collect-fs' })
  })

  it('with the endpoint down the build still succeeds, the payload is spooled, and a later run flushes it', async () => {
    const port = await closedPort()
    const { root, out } = project({ url: `http://127.0.0.1:${port}` })
    const first = await runCli(BUILD(out), { cwd: root })
    expect(first.code, first.stderr).toBe(0)
    expect(first.stderr).toMatch(/telemetry: .*unreachable .*spooled/)
    const files = spooled(out)
    expect(files).toHaveLength(1)
    const parked = JSON.parse(readFileSync(join(out, '.telemetry', files[0]!), 'utf8'))
    const firstReport = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8'))
    expect(parked.payload.telemetryId).toBe(firstReport.telemetry_id)

    // The endpoint comes back (same URL): the next run sends the spooled payload and its own.
    await receiver('ok', port)
    const endpoint = receivers[0]!
    const second = await runCli(BUILD(out), { cwd: root })
    expect(second.code, second.stderr).toBe(0)
    expect(endpoint.requests).toHaveLength(2)
    const [flushed, fresh] = endpoint.requests
    expect(flushed!.headers['x-pxp-spooled']).toBe('1')
    expect(flushed!.body.telemetryId).toBe(firstReport.telemetry_id)
    expect(flushed!.body.runId).toBe(firstReport.runId)
    const secondReport = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8'))
    expect(fresh!.body.telemetryId).toBe(secondReport.telemetry_id)
    expect(fresh!.body.telemetryId).not.toBe(firstReport.telemetry_id)
    expect(spooled(out)).toEqual([])
    expect(readFileSync(join(out, 'audit.log'), 'utf8')).toMatch(/"telemetry.flushed"/)
  })

  it('an endpoint that accepts and never answers costs one short timeout per run; later payloads spool at once', async () => {
    const hanging = await receiver('hang')
    const { root, out } = project({ url: hanging.url, timeoutMs: 400 })
    write(root, 'px-plugin.config.json', JSON.stringify({ telemetry: { url: hanging.url, timeoutMs: 400 }, offline: { targets: [{ os: 'linux', arch: 'amd64' }, { os: 'linux', arch: 'arm64' }] } }))
    const build = ['build', '--out', out, '--no-upload', '--no-install', '--json']
    const started = Date.now()
    const run = await runCli(build, { cwd: root })
    const elapsed = Date.now() - started
    expect(run.code, run.stderr).toBe(0)
    expect(run.json.targets).toHaveLength(2)
    // The first target waited out the timeout; the second did not try again.
    expect(hanging.requests).toHaveLength(1)
    expect(run.stderr).toMatch(/unreachable \(timed out\)/)
    expect(run.stderr).toMatch(/without another attempt/)
    expect(spooled(out)).toHaveLength(2)
    expect(elapsed).toBeLessThan(10_000)

    // Still hanging on the next run: one flush attempt, the spool keeps everything, nothing is lost.
    const again = await runCli(build, { cwd: root })
    expect(again.code, again.stderr).toBe(0)
    expect(hanging.requests).toHaveLength(2)
    expect(hanging.requests[1]!.headers['x-pxp-spooled']).toBe('1')
    expect(spooled(out)).toHaveLength(4)
    const attempts = spooled(out).map((f) => JSON.parse(readFileSync(join(out, '.telemetry', f), 'utf8')).attempts).sort()
    // The oldest (tried once in the first run) was tried again; this run's two never waited on the endpoint.
    expect(attempts).toEqual([0, 0, 0, 2])
  })

  it('a telemetry.url that is not a URL is a config error (exit 2) naming the key', async () => {
    const { root, out } = project({ url: 'not a url' })
    const run = await runCli(BUILD(out), { cwd: root })
    expect(run.code).toBe(2)
    expect(run.json.error).toMatchObject({ code: 'TELEMETRY_CONFIG', keyPath: 'telemetry.url', plugin: 'telemetry-http' })
  })
})

describe('telemetry payload', () => {
  it('sums upload retries across stores and files and names the stores that received the bundle', () => {
    const payload = buildPayload(
      {
        ok: true,
        target: { os: 'linux', arch: 'arm64' },
        result: {
          runId: 'r1', target: { os: 'linux', arch: 'arm64' }, pluginId: 'p', version: '1.0.0', artifacts: [], integrity: [], durations: { collect: 5, emit: 7 }, warnings: [], plugins: {},
          bundle: { kind: 'bundle', fileName: 'b.pxp', path: '/x/b.pxp', sha256: 'a'.repeat(64), size: 1234 },
          signer: { signer: 'kms', algorithm: 'ECDSA-P256-SHA256', chain: [] },
          uploads: [{ store: 's3-main', url: 'u', sha256: 'a' }, { store: 'fs-nas', url: 'v', sha256: 'a' }, { store: 's3-main', url: 'w', sha256: 'b' }],
          metrics: [
            { name: METRICS.retries, value: 2, tags: { store: 's3-main', file: 'b.pxp' } },
            { name: METRICS.retries, value: 1, tags: { store: 'fs-nas', file: 'b.pxp' } },
            { name: 'offline.dist.hashed_bytes', value: 99 },
          ],
        },
      },
      'tid',
      undefined,
      { artifactStore: undefined } as never,
    )
    expect(payload.tags).toMatchObject({ signer: 'kms', store: 's3-main,fs-nas', target: 'linux-arm64', telemetry_id: 'tid' })
    expect(Object.fromEntries(payload.metrics.map((m) => [m.name, m.value]))).toEqual({
      [METRICS.duration]: 12,
      [METRICS.size]: 1234,
      [METRICS.failures]: 0,
      [METRICS.retries]: 3,
    })
  })

  it('keeps a base path of the configured URL', () => {
    expect(endpointOf(new URL('https://m.example.com'))).toBe('https://m.example.com/telemetry/offline-dist')
    expect(endpointOf(new URL('https://m.example.com/ingest/'))).toBe('https://m.example.com/ingest/telemetry/offline-dist')
  })
})
