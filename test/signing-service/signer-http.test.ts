/**
 * signer-http against a loopback service implementing docs/signing-service.md
 * (test/helpers/signing-service.ts): both protocol modes end to end through the shipped CLI and
 * checked by `pxp verify` and `openssl cms -verify`; auth, outages, timeouts and mTLS at plugin level.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import signerHttp from '../../plugins/signer-http/index.js'
import { BUNDLE, sha256File } from '../helpers/fixtures.js'
import { openssl, Pki } from '../helpers/openssl.js'
import { build, callHook, expectVerifies, firstError, project, rejection, signerContext, targetReport } from '../helpers/remote-signing.js'
import { SigningService } from '../helpers/signing-service.js'

const TOKEN = 'sk-pxp-test-7f3a9c1d2e'

/** Every file under `dir`, as text. */
function allText(dir: string): string {
  let text = ''
  for (const name of readdirSync(dir)) {
    const file = join(dir, name)
    text += statSync(file).isDirectory() ? allText(file) : readFileSync(file, 'latin1')
  }
  return text
}

describe('signer-http', () => {
  const pki = new Pki()
  let rsa: SigningService
  let ec: SigningService

  beforeAll(async () => {
    pki.root('root', 'rsa')
    pki.issue('inter', 'root', { kind: 'rsa', ca: true })
    pki.issue('svc-rsa', 'inter', { kind: 'rsa' })
    pki.issue('svc-ec', 'root', { kind: 'ec' })
    rsa = new SigningService({ keyFile: pki.path('svc-rsa.key'), certFile: pki.path('svc-rsa.pem'), chainFile: pki.path('inter.pem'), token: TOKEN })
    ec = new SigningService({ keyFile: pki.path('svc-ec.key'), certFile: pki.path('svc-ec.pem'), serveCertificates: false })
    await rsa.start()
    await ec.start()
  })
  afterEach(() => {
    rsa.clearFaults()
    ec.clearFaults()
  })
  afterAll(async () => {
    await rsa?.close()
    await ec?.close()
  })

  it('signature mode via PX_SIGNING_ENDPOINT + bearer token, chain from /identity: verifies both ways; the token appears nowhere', async () => {
    const p = project({})
    const run = await build(p, { PX_SIGNING_ENDPOINT: rsa.url, PX_SIGNING_TOKEN: TOKEN })
    expect(run.code, run.stderr).toBe(0)
    const verdict = await expectVerifies(p.out, pki.path('root.pem'))
    expect(verdict.signer.subject).toBe('CN=svc-rsa')
    const sign = rsa.calls.filter((c) => c.path === '/sign').at(-1)!
    expect(sign).toMatchObject({ authorized: true, status: 200, body: { mode: 'signature', digestAlgorithm: 'SHA-256', algorithm: 'RSASSA-PKCS1-v1_5-SHA256' } })
    const report = targetReport(p.out)
    expect(report.signing).toMatchObject({ signer: 'http', algorithm: 'RSASSA-PKCS1-v1_5-SHA256' })
    expect(report.signing.chain.map((c: { subject: string }) => c.subject)).toEqual(['CN=svc-rsa', 'CN=inter'])
    expect(report.plugins['signer-http']).toMatchObject({ auth: 'bearer', mode: 'signature', requestIds: expect.arrayContaining([sign.requestId]) })
    expect(readFileSync(join(p.out, 'dist.log'), 'utf8')).toContain(`requestId=${sign.requestId}`)
    expect(run.stdout + run.stderr + allText(p.out)).not.toContain(TOKEN)
  })

  it('cms mode (the service returns an OpenSSL-made detached CMS), chain from the config: verifies both ways', async () => {
    const p = project({ signer: { type: 'http', url: ec.url, mode: 'cms', cert: pki.path('svc-ec.pem'), retryDelayMs: 20 } })
    const run = await build(p)
    expect(run.code, JSON.stringify(run.json)).toBe(0)
    const sign = ec.calls.filter((c) => c.path === '/sign').at(-1)!
    expect(sign.body).toMatchObject({ mode: 'cms', algorithm: 'ECDSA-P256-SHA256', contentSha256: expect.stringMatching(/^[0-9a-f]{64}$/) })
    const verdict = await expectVerifies(p.out, pki.path('root.pem'), { cli: false })
    expect(verdict.signer.subject).toBe('CN=svc-ec')
  })

  it('service down → SIGNER_UNREACHABLE, exit code 1, the previous bundle intact', async () => {
    const down = new SigningService({ keyFile: pki.path('svc-ec.key'), certFile: pki.path('svc-ec.pem') })
    await down.start()
    const p = project({ signer: { type: 'http', url: down.url, retries: 1, retryDelayMs: 20 } })
    expect((await build(p)).code).toBe(0)
    const before = sha256File(BUNDLE(p.out))
    await down.close()
    const run = await build(p)
    expect(run.code).toBe(1)
    const error = firstError(run)
    expect(error).toMatchObject({ code: 'SIGNER_UNREACHABLE' })
    expect(error.message).toMatch(/127\.0\.0\.1:\d+.*unreachable after 2 attempts \(ECONNREFUSED\)/)
    expect(error.hint).toMatch(/PX_SIGNING_ENDPOINT/)
    expect(sha256File(BUNDLE(p.out))).toBe(before)
  })

  describe('plugin level (real HTTP)', () => {
    const resolve = (entry: Record<string, unknown>) => {
      const c = signerContext()
      return { ...c, identity: callHook(signerHttp(), 'resolveSigner', c.ctx, { type: 'http', retryDelayMs: 10, ...entry }) }
    }

    it('a wrong bearer token → SIGNER_AUTH naming the env var, never the token, not retried', async () => {
      process.env.PXP_TEST_SIGNING_TOKEN = 'wrong-token-0123456789'
      try {
        const { identity, logs } = resolve({ url: rsa.url, tokenEnv: 'PXP_TEST_SIGNING_TOKEN' })
        const error = await rejection(identity)
        expect(error).toMatchObject({ code: 'SIGNER_AUTH', exitCode: 1 })
        expect(error.hint).toContain('PXP_TEST_SIGNING_TOKEN')
        const last = rsa.calls.at(-1)!
        expect(last).toMatchObject({ status: 401, authorized: false })
        expect(error.message).toContain(last.requestId)
        const everything = JSON.stringify({ ...error.toJSON(), message: error.message, hint: error.hint }) + logs.join('\n')
        expect(everything).not.toContain('wrong-token-0123456789')
        expect(everything).not.toContain(TOKEN)
        expect(rsa.calls.filter((c) => c.requestId === last.requestId)).toHaveLength(1)
      } finally {
        delete process.env.PXP_TEST_SIGNING_TOKEN
      }
    })

    it('503 twice then success: retried with backoff, retries reported', async () => {
      ec.inject('/identity', 503, 2)
      const { identity, facts } = resolve({ url: ec.url, cert: pki.path('svc-ec.pem') })
      await expect(identity).resolves.toMatchObject({ signer: 'http', algorithm: 'ECDSA-P256-SHA256' })
      expect(facts.retries).toBe(2)
    })

    it('a service that hangs → SIGNER_TIMEOUT within the configured deadline', async () => {
      ec.inject('/sign', 'hang', 2)
      const c = signerContext()
      const plugin = signerHttp()
      const identity = await callHook(plugin, 'resolveSigner', c.ctx, { type: 'http', url: ec.url, cert: pki.path('svc-ec.pem'), timeoutMs: 300, retries: 1, retryDelayMs: 10 })
      const started = Date.now()
      const error = await rejection(callHook(plugin, 'sign', c.ctx, Buffer.from('0  a\n'), identity))
      expect(error).toMatchObject({ code: 'SIGNER_TIMEOUT', exitCode: 1 })
      expect(error.message).toMatch(/after 2 attempts/)
      expect(Date.now() - started).toBeLessThan(3_000)
    })

    it('a certificate for another key than the service holds → SIGNER_KEY_MISMATCH', async () => {
      const error = await rejection(resolve({ url: ec.url, cert: pki.path('svc-rsa.pem') }).identity)
      expect(error).toMatchObject({ code: 'SIGNER_KEY_MISMATCH', exitCode: 1 })
    })

    it('a service that signs with another key than it publishes is caught before the signature is used → SIGNER_BAD_SIGNATURE', async () => {
      pki.key('rogue', 'rsa')
      const liar = new SigningService({ keyFile: pki.path('svc-rsa.key'), certFile: pki.path('svc-rsa.pem'), signWith: pki.path('rogue.key') })
      await liar.start()
      try {
        const c = signerContext()
        const plugin = signerHttp()
        const identity = await callHook(plugin, 'resolveSigner', c.ctx, { type: 'http', url: liar.url })
        const error = await rejection(callHook(plugin, 'sign', c.ctx, Buffer.from('0  a\n'), identity))
        expect(error).toMatchObject({ code: 'SIGNER_BAD_SIGNATURE', exitCode: 1 })
        expect(error.message).toContain(liar.calls.at(-1)!.requestId)
      } finally {
        await liar.close()
      }
    })

    it('cms mode: a CMS over other bytes than pxp sent is refused → SIGNER_BAD_SIGNATURE', async () => {
      const broken = new SigningService({ keyFile: pki.path('svc-ec.key'), certFile: pki.path('svc-ec.pem'), cmsOverOtherBytes: true })
      await broken.start()
      try {
        const c = signerContext()
        const plugin = signerHttp()
        const identity = await callHook(plugin, 'resolveSigner', c.ctx, { type: 'http', url: broken.url, mode: 'cms' })
        const error = await rejection(callHook(plugin, 'sign', c.ctx, Buffer.from('0  a\n'), identity))
        expect(error).toMatchObject({ code: 'SIGNER_BAD_SIGNATURE', exitCode: 1 })
        expect(error.message).toMatch(/messageDigest/)
      } finally {
        await broken.close()
      }
    })

    it('mTLS: a client certificate from the config is presented; without it the service refuses', async () => {
      const dir = pki.dir
      // Server certificate for 127.0.0.1 and a client certificate, both from the test root.
      pki.key('tls-server', 'ec')
      openssl(['req', '-new', '-key', 'tls-server.key', '-subj', '/CN=127.0.0.1', '-out', 'tls-server.csr'], { cwd: dir })
      writeFileSync(join(dir, 'tls-server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
      openssl(['x509', '-req', '-in', 'tls-server.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-days', '2', '-out', 'tls-server.pem', '-extfile', 'tls-server.ext'], { cwd: dir })
      pki.issue('tls-client', 'root', { kind: 'ec', keyUsage: 'digitalSignature', extendedKeyUsage: 'clientAuth' })
      const secure = new SigningService({ keyFile: pki.path('svc-ec.key'), certFile: pki.path('svc-ec.pem'), tls: { cert: pki.path('tls-server.pem'), key: pki.path('tls-server.key'), clientCa: pki.path('root.pem') } })
      await secure.start()
      try {
        const c = signerContext()
        const plugin = signerHttp()
        const identity = await callHook(plugin, 'resolveSigner', c.ctx, { type: 'http', url: secure.url, clientCert: pki.path('tls-client.pem'), clientKey: pki.path('tls-client.key'), ca: pki.path('root.pem') })
        expect(identity).toMatchObject({ signer: 'http', algorithm: 'ECDSA-P256-SHA256' })
        expect(c.facts.auth).toBe('mtls')
        const result = await callHook(plugin, 'sign', c.ctx, Buffer.from('0  a\n'), identity)
        expect(result.cms.length).toBeGreaterThan(100)
        const refused = await rejection(resolve({ url: secure.url, ca: pki.path('root.pem'), retries: 0 }).identity)
        expect(refused.code).toMatch(/^SIGNER_(TLS|UNREACHABLE)$/)
        expect(refused.exitCode).toBe(1)
      } finally {
        await secure.close()
      }
    })

    it('bad config is a usage error (exit 2): no url, a non-http url, half an mTLS pair, an empty tokenEnv', async () => {
      expect(await rejection(resolve({}).identity)).toMatchObject({ code: 'SIGNER_CONFIG', exitCode: 2 })
      expect(await rejection(resolve({ url: 'ftp://x' }).identity)).toMatchObject({ code: 'SIGNER_CONFIG', exitCode: 2 })
      expect(await rejection(resolve({ url: ec.url, clientCert: 'a.pem' }).identity)).toMatchObject({ code: 'SIGNER_CONFIG', exitCode: 2 })
      expect(await rejection(resolve({ url: ec.url, tokenEnv: 'PXP_TEST_UNSET_TOKEN' }).identity)).toMatchObject({ code: 'SIGNER_CONFIG', exitCode: 2 })
    })
  })
})
