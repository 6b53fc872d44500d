/**
 * signer-kms end to end: the shipped CLI, the real @aws-sdk/client-kms, and a loopback KMS that
 * speaks the JSON 1.1 protocol with real keys (test/helpers/kms-server.ts). Bundles are checked by
 * `pxp verify` and by `openssl cms -verify`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { BUNDLE } from '../helpers/fixtures.js'
import { KmsServer } from '../helpers/kms-server.js'
import { openssl, Pki } from '../helpers/openssl.js'
import { GetPublicKeyCommand } from '@aws-sdk/client-kms'
import signerKms, { createKmsClient } from '../../plugins/signer-kms/index.js'
import { AWS_TEST_ENV, build, callHook, expectVerifies, firstError, project, rejection, signerContext, targetReport } from '../helpers/remote-signing.js'

const REGION = 'eu-west-1'
const RSA_ID = '0a8f2c1e-1111-4c4c-9d9d-000000000001'
const EC_ID = '0a8f2c1e-2222-4c4c-9d9d-000000000002'
const OFF_ID = '0a8f2c1e-3333-4c4c-9d9d-000000000003'
const ENC_ID = '0a8f2c1e-4444-4c4c-9d9d-000000000004'

describe('signer-kms', () => {
  const pki = new Pki()
  let kms: KmsServer

  const savedEnv = { ...process.env }
  beforeAll(async () => {
    // The in-process plugin tests use the same standard credential chain as the CLI children.
    Object.assign(process.env, AWS_TEST_ENV)
    pki.root('root', 'rsa')
    pki.issue('inter', 'root', { kind: 'rsa', ca: true })
    // The test plays the key owner: it holds the private keys KMS would, and issues certificates for them.
    pki.key('kms-rsa', 'rsa')
    pki.issue('kms-rsa', 'inter')
    pki.key('kms-ec', 'ec')
    pki.issue('pem-leaf', 'root', { kind: 'ec' })
    kms = new KmsServer(REGION, [
      { id: RSA_ID, keyFile: pki.path('kms-rsa.key'), aliases: ['alias/pxp-release'] },
      { id: EC_ID, keyFile: pki.path('kms-ec.key'), aliases: ['alias/pxp-ec'] },
      { id: OFF_ID, keyFile: pki.path('kms-ec.key'), aliases: ['alias/pxp-off'], state: 'Disabled' },
      { id: ENC_ID, keyFile: pki.path('kms-rsa.key'), aliases: ['alias/pxp-encrypt'], usage: 'ENCRYPT_DECRYPT' },
    ])
    await kms.start()
    // The EC certificate is issued the way docs/signing-kms.md says: from the public key KMS hands out.
    const { PublicKey } = await createKmsClient({ type: 'kms', keyId: EC_ID, region: REGION, endpoint: kms.url, cert: '' }).send(new GetPublicKeyCommand({ KeyId: EC_ID }))
    writeFileSync(pki.path('kms-ec.spki.der'), PublicKey!)
    openssl(['pkey', '-pubin', '-inform', 'DER', '-in', 'kms-ec.spki.der', '-out', 'kms-ec.pub.pem'], { cwd: pki.dir })
    writeFileSync(pki.path('kms-ec.ext'), 'keyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n')
    openssl(['x509', '-new', '-CA', 'root.pem', '-CAkey', 'root.key', '-force_pubkey', 'kms-ec.pub.pem', '-subj', '/CN=kms-ec', '-days', '30', '-extfile', 'kms-ec.ext', '-out', 'kms-ec.pem'], { cwd: pki.dir })
  })
  afterEach(() => kms.clearFaults())
  afterAll(async () => {
    process.env = savedEnv
    await kms?.close()
  })

  const kmsEntry = (extra: Record<string, unknown> = {}) => ({ type: 'kms', keyId: 'alias/pxp-release', region: REGION, endpoint: kms.url, cert: pki.path('kms-rsa.pem'), chain: pki.path('inter.pem'), retryDelayMs: 20, ...extra })

  it('RSA via --kms-key-id/--kms-region (cert from the config): pxp verify and openssl accept it; request ids land in dist.log', async () => {
    const p = project({ signer: { type: 'kms', endpoint: kms.url, cert: pki.path('kms-rsa.pem'), chain: pki.path('inter.pem') } })
    const run = await build(p, {}, ['--kms-key-id', 'alias/pxp-release', '--kms-region', REGION])
    expect(run.code, run.stderr).toBe(0)
    const verdict = await expectVerifies(p.out, pki.path('root.pem'))
    expect(verdict.signer.subject).toBe('CN=kms-rsa')

    const signs = kms.calls.filter((c) => c.op === 'Sign' && c.status === 200)
    expect(signs.at(-1)).toMatchObject({ keyId: 'alias/pxp-release' })
    const report = targetReport(p.out)
    expect(report.plugins['signer-kms']).toMatchObject({ signer: 'kms', keyId: 'alias/pxp-release', keyArn: kms.arn(RSA_ID), region: REGION, algorithm: 'RSASSA-PKCS1-v1_5-SHA256', retries: 0 })
    const distLog = readFileSync(join(p.out, 'dist.log'), 'utf8')
    for (const op of ['DescribeKey', 'GetPublicKey', 'Sign']) {
      const call = kms.calls.filter((c) => c.op === op).at(-1)!
      expect(distLog).toContain(`requestId=${call.requestId}`)
    }
  })

  it('ECDSA P-256 by key ARN: verifies both ways', async () => {
    const p = project({ signer: kmsEntry({ keyId: kms.arn(EC_ID), cert: pki.path('kms-ec.pem'), chain: undefined }) })
    const run = await build(p)
    expect(run.code, run.stderr).toBe(0)
    expect(targetReport(p.out).plugins['signer-kms']).toMatchObject({ algorithm: 'ECDSA-P256-SHA256', keyId: kms.arn(EC_ID) })
    await expectVerifies(p.out, pki.path('root.pem'))
  })

  it('throttling twice then success: signs, and the retries are counted in report.json and logged in dist.log', async () => {
    kms.inject('Sign', 'throttle', 2)
    const p = project({ signer: kmsEntry() })
    const run = await build(p)
    expect(run.code, run.stderr).toBe(0)
    expect(targetReport(p.out).plugins['signer-kms'].retries).toBe(2)
    const throttled = kms.calls.filter((c) => c.error === 'ThrottlingException')
    expect(throttled).toHaveLength(2)
    const distLog = readFileSync(join(p.out, 'dist.log'), 'utf8')
    expect(distLog).toMatch(/KMS Sign on key alias\/pxp-release: attempt 1 failed \(ThrottlingException, request id [0-9a-f-]{36}\); retrying/)
    expect(distLog).toContain(throttled[0]!.requestId)
    await expectVerifies(p.out, pki.path('root.pem'), { cli: false })
  })

  it('a KMS that never answers → SIGNER_TIMEOUT (exit 1) in bounded time, no bundle emitted', async () => {
    const p = project({ signer: kmsEntry({ timeoutMs: 400, retries: 1 }) })
    kms.inject('Sign', 'hang', 2)
    const started = Date.now()
    const run = await build(p)
    const elapsed = Date.now() - started
    expect(run.code).toBe(1)
    const error = firstError(run)
    expect(error).toMatchObject({ code: 'SIGNER_TIMEOUT' })
    expect(error.message).toContain('alias/pxp-release')
    expect(error.message).toMatch(/after 2 attempts/)
    expect(error.hint).toMatch(/timeoutMs/)
    expect(elapsed).toBeLessThan(15_000)
    expect(kms.calls.filter((c) => c.op === 'Sign' && c.error === 'hang')).toHaveLength(2)
    expect(existsSync(BUNDLE(p.out))).toBe(false)
  })
  it('fallback `signer: [kms, pem]` with KMS down: the PEM signer signs; report.json and audit.log record the fallback', async () => {
    const p = project({ signer: [kmsEntry({ endpoint: 'http://127.0.0.1:9', retries: 1, timeoutMs: 2000 }), { type: 'pem', cert: pki.path('pem-leaf.pem'), key: pki.path('pem-leaf.key') }] })
    const run = await build(p)
    expect(run.code, run.stderr).toBe(0)
    const verdict = await expectVerifies(p.out, pki.path('root.pem'), { cli: false })
    expect(verdict.signer.subject).toBe('CN=pem-leaf')
    const report = targetReport(p.out)
    const fallbacks = report.signing?.fallbacks ?? report.signingFallbacks
    // (Empty here means a signer plugin answered for an entry that is not its own type: resolveSigner must check `entry.type`.)
    expect(fallbacks, `KMS was never tried: report.signing = ${JSON.stringify(report.signing?.details)}`).toEqual([expect.objectContaining({ signer: 'kms', code: 'SIGNER_UNREACHABLE' })])
    const audit = readFileSync(join(p.out, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    expect(audit.find((l) => l.action === 'sign.fallback')).toMatchObject({ metadata: expect.objectContaining({ from: 'kms', to: 'pem', code: 'SIGNER_UNREACHABLE' }) })
  })

  describe('refusals before signing (plugin level, real SDK and server)', () => {
    const resolve = async (entry: Record<string, unknown>, options: Parameters<typeof signerContext>[0] = {}) => {
      const c = signerContext(options)
      return { ...c, error: await rejection(callHook(signerKms(), 'resolveSigner', c.ctx, { ...kmsEntry(), ...entry })) }
    }

    it('a disabled key → KMS_KEY_DISABLED naming the key, the request id and the fix', async () => {
      const { error, logs } = await resolve({ keyId: 'alias/pxp-off', cert: pki.path('kms-ec.pem'), chain: undefined })
      expect(error).toMatchObject({ code: 'KMS_KEY_DISABLED', exitCode: 1 })
      const describe = kms.calls.filter((c) => c.op === 'DescribeKey').at(-1)!
      expect(error.message).toContain('alias/pxp-off')
      expect(error.message).toContain(describe.requestId)
      expect(error.hint).toMatch(/enable-key/)
      expect(logs.join('\n')).toContain(`requestId=${describe.requestId}`)
    })

    it('a disabled key at Sign time (DisabledException, HTTP 409) → KMS_KEY_DISABLED', async () => {
      const c = signerContext()
      const plugin = signerKms()
      const identity = await callHook(plugin, 'resolveSigner', c.ctx, kmsEntry({ keyId: EC_ID, cert: pki.path('kms-ec.pem'), chain: undefined }))
      kms.setState(EC_ID, 'Disabled')
      try {
        const error = await rejection(callHook(plugin, 'sign', c.ctx, Buffer.from('x  y\n'), identity))
        expect(error).toMatchObject({ code: 'KMS_KEY_DISABLED', exitCode: 1 })
        expect(error.message).toContain(kms.calls.at(-1)!.requestId)
      } finally {
        kms.setState(EC_ID, 'Enabled')
      }
    })

    it('access denied → KMS_ACCESS_DENIED with the permissions to check, not retried', async () => {
      kms.denyAccess = true
      const before = kms.calls.length
      const { error } = await resolve({})
      expect(error).toMatchObject({ code: 'KMS_ACCESS_DENIED', exitCode: 1 })
      expect(error.hint).toMatch(/kms:DescribeKey, kms:GetPublicKey and kms:Sign/)
      expect(error.message).toContain(kms.calls.at(-1)!.requestId)
      expect(kms.calls.length - before).toBe(1)
    })

    it('a certificate for another key → SIGNER_KEY_MISMATCH', async () => {
      const { error } = await resolve({ cert: pki.path('pem-leaf.pem'), chain: undefined })
      expect(error).toMatchObject({ code: 'SIGNER_KEY_MISMATCH', exitCode: 1 })
      expect(error.message).toContain(pki.path('pem-leaf.pem'))
      expect(error.message).toContain('alias/pxp-release')
    })

    it('an ENCRYPT_DECRYPT key → KMS_KEY_USAGE; an unknown key → KMS_KEY_NOT_FOUND', async () => {
      expect((await resolve({ keyId: 'alias/pxp-encrypt' })).error).toMatchObject({ code: 'KMS_KEY_USAGE', exitCode: 1 })
      expect((await resolve({ keyId: 'alias/nope' })).error).toMatchObject({ code: 'KMS_KEY_NOT_FOUND', exitCode: 1 })
    })

    it('5xx is retried with backoff, then reported as SIGNER_UNAVAILABLE with the attempts', async () => {
      kms.inject('DescribeKey', 'internal', 3)
      const { error, facts } = await resolve({ retries: 2 })
      expect(error).toMatchObject({ code: 'SIGNER_UNAVAILABLE' })
      expect(error.message).toMatch(/after 3 attempts/)
      expect(facts.retries).toBe(2)
    })

    it('Ctrl-C (the context signal) cancels a hanging call at once → SIGNER_CANCELLED', async () => {
      kms.inject('DescribeKey', 'hang', 1)
      const controller = new AbortController()
      setTimeout(() => controller.abort(new Error('SIGINT')), 150)
      const started = Date.now()
      const { error } = await resolve({ timeoutMs: 30_000 }, { signal: controller.signal })
      expect(error).toMatchObject({ code: 'SIGNER_CANCELLED' })
      expect(Date.now() - started).toBeLessThan(5_000)
    })

    it('no certificate (as with --kms-key-id alone) → SIGNER_CONFIG, exit code 2', async () => {
      const { error } = await resolve({ cert: undefined })
      expect(error).toMatchObject({ code: 'SIGNER_CONFIG', exitCode: 2 })
      expect(error.hint).toMatch(/signer\.cert/)
    })
  })
})
