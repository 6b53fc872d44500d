import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { BUNDLE_DIR, copyPlayground, write } from '../helpers/fixtures.js'
import { devKeys } from './dev-keys.js'
import { classify, recordOutcome } from '../../plugins/alert-webhook/index.js'
import { closedPort, startReceiver, type Receiver } from '../telemetry/receiver.js'

const BUILD = (out: string, ...extra: string[]) => ['build', '--out', out, '--no-upload', '--no-install', '--json', ...extra]
const ONE_TARGET = ['--os', 'linux', '--arch', 'amd64']

let hook: Receiver
let hanging: Receiver
let expiring: { cert: string; key: string }
let healthy: { cert: string; key: string }

beforeAll(async () => {
  hook = await startReceiver()
  hanging = await startReceiver({ mode: 'hang' })
  // A certificate inside the 14-day warning window, and an unrelated one valid for 60 days.
  ;[expiring, healthy] = await Promise.all([devKeys(3), devKeys(60)])
})
afterAll(async () => {
  await hook.close()
  await hanging.close()
})

/** A playground copy whose config sends alerts to `path` on the loopback webhook. */
function project(config: Record<string, unknown>, path: string): { root: string; out: string } {
  const root = copyPlayground()
  write(root, 'px-plugin.config.json', JSON.stringify({ alerts: { webhook: `${hook.url}${path}`, kind: 'json' }, ...config }, null, 2))
  return { root, out: join(root, 'out') }
}

const received = (path: string) => hook.requests.filter((r) => r.path === path).map((r) => r.body)

function expectAlertShape(alert: any, kind: string, code: string | RegExp) {
  expect(alert).toMatchObject({ kind, pluginId: 'com.powerx.plugins.hello', version: '1.2.0', source: 'pxp' })
  if (typeof code === 'string') expect(alert.code).toBe(code)
  else expect(alert.code).toMatch(code)
  expect(alert.target).toMatch(/^linux-(amd64|arm64)$/)
  expect(typeof alert.message).toBe('string')
  expect(alert.runId).toMatch(/^\d{4}-/)
  expect(Date.parse(alert.timestamp)).not.toBeNaN()
}

describe('alert-webhook (generic JSON)', () => {
  it('cert_expiring: a certificate inside its warning window alerts once per run, not once per target', async () => {
    const { root, out } = project({ offline: { targets: [{ os: 'linux', arch: 'amd64' }, { os: 'linux', arch: 'arm64' }] } }, '/cert')
    const run = await runCli(BUILD(out, '--sign', expiring.cert, '--key', expiring.key), { cwd: root })
    expect(run.code, run.stderr).toBe(0)
    expect(run.json.targets).toHaveLength(2)
    const alerts = received('/cert')
    expect(alerts).toHaveLength(1)
    expectAlertShape(alerts[0], 'cert_expiring', 'CERT_EXPIRING')
    expect(alerts[0].message).toMatch(/expires on/)
  })

  it('signature_failure: a key that does not belong to the certificate', async () => {
    const { root, out } = project({}, '/sig')
    const run = await runCli(BUILD(out, ...ONE_TARGET, '--sign', healthy.cert, '--key', expiring.key), { cwd: root })
    expect(run.code).not.toBe(0)
    expect(run.json.errors[0].code).toBe('KEY_MISMATCH')
    const alerts = received('/sig')
    expect(alerts).toHaveLength(1)
    expectAlertShape(alerts[0], 'signature_failure', 'KEY_MISMATCH')
  })

  it('signing_timeout: the KMS signer against a KMS endpoint that never answers — fatal, and saved by a PEM fallback', async () => {
    const kms = { type: 'kms', keyId: 'alias/pxp-alerts', region: 'us-east-1', endpoint: hanging.url, cert: healthy.cert, timeoutMs: 300, retries: 0 }
    const alone = project({ signer: kms }, '/kms')
    const chain = project({ signer: [kms, { type: 'pem', cert: healthy.cert, key: healthy.key }] }, '/kms-fallback')
    const env = { AWS_ACCESS_KEY_ID: 'AKIAPXPTESTEXAMPLE00', AWS_SECRET_ACCESS_KEY: 'pxp-test-secret-not-real-0000000000000000', AWS_EC2_METADATA_DISABLED: 'true' }
    const [fatal, saved] = await Promise.all([
      runCli(BUILD(alone.out, ...ONE_TARGET), { cwd: alone.root, env }),
      runCli(BUILD(chain.out, ...ONE_TARGET), { cwd: chain.root, env }),
    ])
    expect(fatal.code).toBe(1)
    expect(fatal.json.errors[0].code).toBe('SIGNER_TIMEOUT')
    const alerts = received('/kms')
    expect(alerts).toHaveLength(1)
    expectAlertShape(alerts[0], 'signing_timeout', 'SIGNER_TIMEOUT')
    expect(alerts[0].recovered).toBeUndefined()

    expect(saved.code, saved.stderr).toBe(0)
    const report = JSON.parse(readFileSync(join(BUNDLE_DIR(chain.out), 'report.json'), 'utf8'))
    expect(report.signing.signer).toBe('pem')
    const recovered = received('/kms-fallback')
    expect(recovered).toHaveLength(1)
    expectAlertShape(recovered[0], 'signing_timeout', 'SIGNER_TIMEOUT')
    expect(recovered[0]).toMatchObject({ recovered: true, message: expect.stringMatching(/a fallback signer took over/) })
  })

  it('oversize: SIZE_BUDGET_EXCEEDED as a warning (build goes on) and as an error (build fails)', async () => {
    const warned = project({ limits: { maxBundleBytes: 1024, onExceed: 'warn' } }, '/size-warn')
    const failed = project({ limits: { maxBundleBytes: 1024, onExceed: 'fail' } }, '/size-fail')
    const [ok, ko] = await Promise.all([
      runCli(BUILD(warned.out, ...ONE_TARGET), { cwd: warned.root }),
      runCli(BUILD(failed.out, ...ONE_TARGET), { cwd: failed.root }),
    ])
    expect(ok.code, ok.stderr).toBe(0)
    const warnAlerts = received('/size-warn')
    expect(warnAlerts).toHaveLength(1)
    expectAlertShape(warnAlerts[0], 'oversize', 'SIZE_BUDGET_EXCEEDED')

    expect(ko.code).toBe(1)
    expect(ko.json.errors[0].code).toBe('SIZE_BUDGET_EXCEEDED')
    const failAlerts = received('/size-fail')
    expect(failAlerts).toHaveLength(1)
    expectAlertShape(failAlerts[0], 'oversize', 'SIZE_BUDGET_EXCEEDED')
  })

  it('consecutive_failures: only on the third consecutive failed build; the count survives runs and a success resets it', async () => {
    const { root, out } = project({}, '/streak')
    const secret = write(root, 'config/.env', 'API_KEY=must-not-ship\n')
    const build = () => runCli(BUILD(out, ...ONE_TARGET), { cwd: root })
    const streak = () => received('/streak').filter((a) => a.kind === 'consecutive_failures')
    const state = () => JSON.parse(readFileSync(join(out, '.alerts', 'state.json'), 'utf8')).plugins['com.powerx.plugins.hello']

    for (const n of [1, 2]) {
      const run = await build()
      expect(run.json.errors[0].code).toBe('SECRET_IN_TREE')
      expect(state().failures).toBe(n)
      expect(streak()).toHaveLength(0)
    }
    await build()
    expect(state().failures).toBe(3)
    expect(streak()).toHaveLength(1)
    expectAlertShape(streak()[0], 'consecutive_failures', 'SECRET_IN_TREE')
    expect(streak()[0].count).toBe(3)
    expect(streak()[0].message).toMatch(/last 3 builds/)

    await build() // the fourth failure: same incident, no second page
    expect(state().failures).toBe(4)
    expect(streak()).toHaveLength(1)

    rmSync(secret)
    const green = await build()
    expect(green.code, green.stderr).toBe(0)
    expect(state().failures).toBe(0)
    // Nothing about a clean build is worth an alert.
    expect(received('/streak')).toHaveLength(1)
  })

  it('a webhook that is down or failing never fails or holds up the build', async () => {
    const failing = await startReceiver({ mode: 'error' })
    try {
      await Promise.all([`http://127.0.0.1:${await closedPort()}/down`, `${failing.url}/503`].map(async (url) => {
        const root = copyPlayground()
        write(root, 'px-plugin.config.json', JSON.stringify({ alerts: { webhook: url }, limits: { maxBundleBytes: 1024, onExceed: 'warn' } }))
        const run = await runCli(BUILD(join(root, 'out'), ...ONE_TARGET), { cwd: root })
        expect(run.code, run.stderr).toBe(0)
        expect(run.stderr).toMatch(/alerts: could not deliver oversize/)
        expect(readFileSync(join(root, 'out', 'audit.log'), 'utf8')).toMatch(/"alert.failed"/)
      }))
      expect(failing.requests).toHaveLength(1)
    } finally {
      await failing.close()
    }
  })
})

describe('alert-webhook (Slack)', () => {
  it('posts Slack incoming-webhook messages and never writes the webhook secret anywhere', async () => {
    const secretPath = '/services/T0PXPTEST/B0PXPTEST/s3cr3tW3bh00kT0k3n'
    const root = copyPlayground()
    write(root, 'px-plugin.config.json', JSON.stringify({ alerts: { webhook: `${hook.url}${secretPath}`, kind: 'slack' }, limits: { maxBundleBytes: 1024, onExceed: 'warn' } }))
    const out = join(root, 'out')
    const run = await runCli(BUILD(out, ...ONE_TARGET), { cwd: root })
    expect(run.code, run.stderr).toBe(0)
    const [message] = received(secretPath)
    expect(message.text).toMatch(/Bundle over its size budget — com\.powerx\.plugins\.hello@1\.2\.0 \(linux-amd64\) \[SIZE_BUDGET_EXCEEDED\]/)
    expect(message.blocks[0]).toMatchObject({ type: 'header' })
    expect(JSON.stringify(message.blocks)).toMatch(/SIZE_BUDGET_EXCEEDED/)
    expect(run.stderr).toMatch(/alert oversize \(SIZE_BUDGET_EXCEEDED\) sent to http:\/\/127\.0\.0\.1:\d+/)
    for (const text of [run.stdout, run.stderr, ...['dist.log', 'audit.log', 'report.json', '.alerts/state.json'].map((f) => readFileSync(join(out, f), 'utf8')), readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8')]) {
      expect(text).not.toMatch(/s3cr3tW3bh00kT0k3n/)
      expect(text).not.toMatch(/B0PXPTEST/)
    }
  })
})

describe('alert classification and the failure streak (units)', () => {
  const base = { runId: 'r', target: { os: 'linux', arch: 'amd64' }, pluginId: 'p', version: '1.0.0', artifacts: [], integrity: [], uploads: [], durations: {}, metrics: [], plugins: {} }

  it('a fallback signer that saved the build still raises the primary signer\'s timeout or failure', () => {
    const alerts = classify({
      ok: true,
      target: base.target,
      result: { ...base, warnings: [{ code: 'SIGNER_FALLBACK', message: 'Signer "kms" failed' }], signingFallbacks: [{ signer: 'kms', code: 'SIGNER_TIMEOUT', message: 'timed out' }, { signer: 'http', code: 'SIGNER_BAD_SIGNATURE', message: 'bad' }] },
    }, 'r')
    expect(alerts.map((a) => [a.kind, a.code, a.recovered])).toEqual([['signing_timeout', 'SIGNER_TIMEOUT', true], ['signature_failure', 'SIGNER_BAD_SIGNATURE', true]])
  })

  it('errors outside signing and budgets are not alerts of their own; CERT_EXPIRING is not a signature failure', () => {
    const error = Object.assign(new Error('x'), { code: 'SECRET_IN_TREE', plugin: 'collect-fs', hook: 'collect' })
    expect(classify({ ok: false, error: error as never, target: base.target, result: { ...base, warnings: [] } }, 'r')).toEqual([])
    const expiring = classify({ ok: true, target: base.target, result: { ...base, warnings: [{ code: 'CERT_EXPIRING', message: 'soon' }, { code: 'CERT_EXPIRING', message: 'soon' }] } }, 'r')
    expect(expiring.map((a) => a.kind)).toEqual(['cert_expiring'])
  })

  it('a run counts once however many targets fail, and fails if any target fails', () => {
    const state = { version: 1 as const, plugins: {} }
    // run 1: both targets fail → 1
    expect(recordOutcome(state, 'p', 'r1', true, 'E')).toBe(1)
    expect(recordOutcome(state, 'p', 'r1', true, 'E')).toBeUndefined()
    // run 2: the first target succeeds, the second fails → still a failed run → 2
    expect(recordOutcome(state, 'p', 'r2', false, undefined)).toBeUndefined()
    expect(recordOutcome(state, 'p', 'r2', true, 'E')).toBe(2)
    // run 3: fails → 3 (the caller alerts on exactly the threshold)
    expect(recordOutcome(state, 'p', 'r3', true, 'E')).toBe(3)
    // run 4: all green → reset
    expect(recordOutcome(state, 'p', 'r4', false, undefined)).toBeUndefined()
    expect((state.plugins as Record<string, { failures: number }>).p!.failures).toBe(0)
  })
})
