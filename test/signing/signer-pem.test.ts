import { writeFileSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import signerPem from '../../plugins/signer-pem/index.js'
import { verifyDetachedSignedData, parsePemCertificates } from '../../src/plugin-api.js'
import { PxpError } from '../../src/errors.js'
import { codeOf } from '../helpers/errors.js'
import type { PluginContext, PxpPlugin, ResolvedConfig, SignerIdentity } from '../../src/plugin-api.js'
import { openssl, opensslStatus, Pki } from '../helpers/openssl.js'

const PASS = 'signing passphrase 42'
const DAY = 86_400_000

/** The parts of the plugin context the signer uses, recording what it reports. */
function context(signer: Record<string, unknown>, warnDays = 14) {
  const warnings: Array<{ code: string; message: string }> = []
  const audit: string[] = []
  const redacted: Array<string | undefined> = []
  const ctx = {
    config: { signer, offline: { certExpiryWarnDays: warnDays } } as unknown as ResolvedConfig,
    warn: (w: { code: string; message: string }) => warnings.push(w),
    error: (e: { code: string; message: string }) => {
      throw new PxpError(e.code, e.message)
    },
    audit: (action: string) => audit.push(action),
    report: () => {},
    redact: (secret: string | undefined) => redacted.push(secret),
  } as unknown as PluginContext
  return { ctx, warnings, audit, redacted }
}

type Hook<T> = (this: PluginContext, ...args: any[]) => Promise<T>
const resolveSigner = (plugin: PxpPlugin, ctx: PluginContext) => (plugin.resolveSigner as Hook<SignerIdentity>).call(ctx, ctx.config.signer as never)

describe('signer-pem plugin', () => {
  const pki = new Pki()
  beforeAll(() => {
    pki.root('root', 'rsa')
    pki.issue('inter', 'root', { kind: 'rsa', ca: true })
    pki.issue('leaf', 'inter', { kind: 'rsa' })
    pki.issue('other', 'root', { kind: 'ec' })
    pki.issue('soon', 'root', { kind: 'ec', days: 5 })
    pki.issue('old', 'root', { kind: 'ec', notBefore: new Date(Date.now() - 60 * DAY), notAfter: new Date(Date.now() - DAY) })
    pki.issue('later', 'root', { kind: 'ec', notBefore: new Date(Date.now() + 2 * DAY), days: 30 })
    pki.issue('nousage', 'root', { kind: 'ec', keyUsage: 'keyAgreement' })
    openssl(['pkcs8', '-topk8', '-in', 'leaf.key', '-v2', 'aes-256-cbc', '-passout', `pass:${PASS}`, '-out', 'leaf-enc.key'], { cwd: pki.dir })
    openssl(['pkcs12', '-export', '-inkey', 'leaf.key', '-in', 'leaf.pem', '-certfile', 'inter.pem', '-passout', `pass:${PASS}`, '-out', 'leaf.p12'], { cwd: pki.dir })
  })

  it('applies only when a pem signer is configured', () => {
    const plugin = signerPem()
    const apply = plugin.apply as (c: ResolvedConfig) => boolean
    expect(apply({ signer: { type: 'pem', cert: 'c', key: 'k' } } as unknown as ResolvedConfig)).toBe(true)
    expect(apply({ signer: [{ type: 'kms' }, { type: 'pem' }] } as unknown as ResolvedConfig)).toBe(true)
    expect(apply({ signer: { type: 'kms' } } as unknown as ResolvedConfig)).toBe(false)
    expect(apply({} as ResolvedConfig)).toBe(false)
  })

  it('signs with an encrypted key and an intermediate chain; OpenSSL verifies against the root', async () => {
    process.env.PXP_TEST_PASSPHRASE = PASS
    const plugin = signerPem()
    const { ctx, redacted } = context({ type: 'pem', cert: pki.path('leaf.pem'), key: pki.path('leaf-enc.key'), chain: pki.path('inter.pem'), passphraseEnv: 'PXP_TEST_PASSPHRASE' })
    const identity = await resolveSigner(plugin, ctx)
    expect(redacted).toContain(PASS)
    expect(identity).toMatchObject({ signer: 'pem', algorithm: 'RSASSA-PKCS1-v1_5-SHA256' })
    expect(identity.chain.map((c) => c.subject)).toEqual(['CN=leaf', 'CN=inter'])
    const integrity = Buffer.from('0000000000000000000000000000000000000000000000000000000000000000  plugin.yaml\n')
    const result = await (plugin.sign as Hook<{ cms: Uint8Array }>).call(ctx, integrity, identity)
    writeFileSync(pki.path('integrity.txt'), integrity)
    writeFileSync(pki.path('plugin.der'), result.cms)
    expect(opensslStatus(['cms', '-verify', '-binary', '-inform', 'DER', '-in', 'plugin.der', '-content', 'integrity.txt', '-CAfile', 'root.pem', '-purpose', 'any', '-out', '/dev/null'], pki.dir).ok).toBe(true)
    const roots = parsePemCertificates(pki.read('root.pem').toString())
    await expect(verifyDetachedSignedData({ cms: result.cms, content: integrity, trustRoots: roots })).resolves.toBeTruthy()
  })

  it('reads a PKCS#12 bundle given as `p12` without a separate certificate', async () => {
    process.env.PXP_TEST_PASSPHRASE = PASS
    const { ctx } = context({ type: 'pem', p12: pki.path('leaf.p12'), passphraseEnv: 'PXP_TEST_PASSPHRASE' })
    const identity = await resolveSigner(signerPem(), ctx)
    expect(identity.chain.map((c) => c.subject)).toEqual(['CN=leaf', 'CN=inter'])
  })

  it('wrong passphrase → KEY_PASSPHRASE; mismatched key → KEY_MISMATCH naming both files', async () => {
    process.env.PXP_TEST_PASSPHRASE = 'not it at all'
    const wrong = context({ type: 'pem', cert: pki.path('leaf.pem'), key: pki.path('leaf-enc.key'), passphraseEnv: 'PXP_TEST_PASSPHRASE' })
    expect(await codeOf(resolveSigner(signerPem(), wrong.ctx))).toBe('KEY_PASSPHRASE')
    const mismatch = context({ type: 'pem', cert: pki.path('leaf.pem'), key: pki.path('other.key') })
    const error = await resolveSigner(signerPem(), mismatch.ctx).catch((e: PxpError) => e)
    expect(error).toMatchObject({ code: 'KEY_MISMATCH' })
    expect((error as PxpError).message).toContain(pki.path('other.key'))
    expect((error as PxpError).message).toContain(pki.path('leaf.pem'))
  })

  it('certificate policy: expired, not yet valid, wrong usage refused; expiring soon warned', async () => {
    const run = (name: string, warnDays?: number) => {
      const c = context({ type: 'pem', cert: pki.path(`${name}.pem`), key: pki.path(`${name}.key`) }, warnDays)
      return { ...c, result: resolveSigner(signerPem(), c.ctx) }
    }
    expect(await codeOf(run('old').result)).toBe('CERT_EXPIRED')
    expect(await codeOf(run('later').result)).toBe('CERT_NOT_YET_VALID')
    expect(await codeOf(run('nousage').result)).toBe('CERT_USAGE')
    const soon = run('soon')
    await soon.result
    expect(soon.warnings).toEqual([expect.objectContaining({ code: 'CERT_EXPIRING' })])
    const configured = run('soon', 3)
    await configured.result
    expect(configured.warnings).toEqual([])
  })
})
