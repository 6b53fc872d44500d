import { readFileSync, writeFileSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { createDetachedSignedData, keyObjectSigner, loadPrivateKeyPem, parsePemCertificates, verifyDetachedSignedData } from '../../src/plugin-api.js'
import { codeOf } from '../helpers/errors.js'
import { opensslStatus, Pki, type KeyKind } from '../helpers/openssl.js'

const INTEGRITY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  README.md\n'

async function signWithPxp(pki: Pki, leaf: string, extra: string[] = []): Promise<Uint8Array> {
  const key = loadPrivateKeyPem(readFileSync(pki.path(`${leaf}.key`), 'utf8'), { file: `${leaf}.key` })
  const certificates = [leaf, ...extra].flatMap((name) => parsePemCertificates(readFileSync(pki.path(`${name}.pem`), 'utf8')))
  return createDetachedSignedData({ content: Buffer.from(INTEGRITY), certificates, signingTime: new Date(), signer: keyObjectSigner(key) })
}

const roots = (pki: Pki, ...names: string[]) => names.flatMap((n) => parsePemCertificates(readFileSync(pki.path(`${n}.pem`), 'utf8')))

describe.each<KeyKind>(['rsa', 'ec'])('CMS with %s keys, OpenSSL as the peer', (kind) => {
  const pki = new Pki()
  beforeAll(() => {
    pki.root('root', kind)
    pki.issue('leaf', 'root', { kind })
    pki.issue('inter', 'root', { kind, ca: true })
    pki.issue('deep', 'inter', { kind })
    pki.root('other', kind)
    writeFileSync(pki.path('integrity.txt'), INTEGRITY)
  })

  it('pxp signs, `openssl cms -verify` accepts against the root', async () => {
    writeFileSync(pki.path('pxp.der'), await signWithPxp(pki, 'leaf'))
    const result = opensslStatus(['cms', '-verify', '-binary', '-inform', 'DER', '-in', 'pxp.der', '-content', 'integrity.txt', '-CAfile', 'root.pem', '-purpose', 'any', '-out', '/dev/null'], pki.dir)
    expect(result).toEqual({ ok: true, stderr: '' })
  })

  it('OpenSSL signs, pxp verifies', async () => {
    const cms = readFileSync(pki.cmsSign('integrity.txt', 'leaf'))
    const verified = await verifyDetachedSignedData({ cms, content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root') })
    expect(verified.signer.subject).toBe('CN=leaf')
    expect(verified.algorithm).toBe(kind === 'rsa' ? 'RSASSA-PKCS1-v1_5-SHA256' : 'ECDSA-P256-SHA256')
    expect(verified.chain.map((c) => c.subject)).toEqual(['CN=leaf', 'CN=root'])
  })

  it('root → intermediate → leaf verifies with only the root trusted, both directions', async () => {
    writeFileSync(pki.path('deep.der'), await signWithPxp(pki, 'deep', ['inter']))
    const result = opensslStatus(['cms', '-verify', '-binary', '-inform', 'DER', '-in', 'deep.der', '-content', 'integrity.txt', '-CAfile', 'root.pem', '-purpose', 'any', '-out', '/dev/null'], pki.dir)
    expect(result.ok).toBe(true)
    const ours = await verifyDetachedSignedData({ cms: pki.read('deep.der'), content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root') })
    expect(ours.chain.map((c) => c.subject)).toEqual(['CN=deep', 'CN=inter', 'CN=root'])
    const theirs = readFileSync(pki.cmsSign('integrity.txt', 'deep', { certfile: 'inter.pem', out: 'deep-ossl.der' }))
    await expect(verifyDetachedSignedData({ cms: theirs, content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root') })).resolves.toMatchObject({ signer: { subject: 'CN=deep' } })
  })

  it('a chain without the intermediate embedded is untrusted', async () => {
    const cms = await signWithPxp(pki, 'deep')
    expect(await codeOf(verifyDetachedSignedData({ cms, content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root') }))).toBe('CERT_UNTRUSTED')
  })

  it('refuses an untrusted root, other bytes, no roots at all', async () => {
    const cms = await signWithPxp(pki, 'leaf')
    expect(await codeOf(verifyDetachedSignedData({ cms, content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'other') }))).toBe('CERT_UNTRUSTED')
    expect(await codeOf(verifyDetachedSignedData({ cms, content: Buffer.from(INTEGRITY + 'x'), trustRoots: roots(pki, 'root') }))).toBe('SIGNATURE_INVALID')
    expect(await codeOf(verifyDetachedSignedData({ cms, content: Buffer.from(INTEGRITY), trustRoots: [] }))).toBe('CERT_UNTRUSTED')
  })

  it('refuses a tampered signature value', async () => {
    const cms = Buffer.from(await signWithPxp(pki, 'leaf'))
    cms[cms.length - 5] ^= 0xff // inside the signature OCTET STRING, the last field
    expect(await codeOf(verifyDetachedSignedData({ cms, content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root') }))).toBe('SIGNATURE_INVALID')
  })

  it('refuses SHA-1 (and for RSA MD5) digests made by OpenSSL', async () => {
    // ECDSA has no MD5 variant; OpenSSL refuses to make one.
    for (const md of kind === 'rsa' ? ['sha1', 'md5'] : ['sha1']) {
      const cms = readFileSync(pki.cmsSign('integrity.txt', 'leaf', { md, out: `${md}.der` }))
      expect(await codeOf(verifyDetachedSignedData({ cms, content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root') }))).toBe('ALGORITHM_NOT_ALLOWED')
    }
  })
})

describe('certificate policy at verification', () => {
  const pki = new Pki()
  const day = 86_400_000
  beforeAll(() => {
    pki.root('root', 'ec')
    pki.issue('expired', 'root', { kind: 'ec', notBefore: new Date(Date.now() - 40 * day), notAfter: new Date(Date.now() - 10 * day) })
    pki.issue('future', 'root', { kind: 'ec', notBefore: new Date(Date.now() + 10 * day), days: 30 })
    pki.issue('encipher', 'root', { kind: 'ec', keyUsage: 'keyAgreement' })
    pki.issue('tls', 'root', { kind: 'ec', extendedKeyUsage: 'serverAuth' })
    pki.issue('sha1cert', 'root', { kind: 'ec', md: 'sha1' })
  })

  it('expired and not-yet-valid signers', async () => {
    const expired = await signWithPxp(pki, 'expired')
    expect(await codeOf(verifyDetachedSignedData({ cms: expired, content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root') }))).toBe('CERT_EXPIRED')
    const future = await signWithPxp(pki, 'future')
    // signingTime is now, so the leaf is not valid yet either at signing or now
    expect(await codeOf(verifyDetachedSignedData({ cms: future, content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root') }))).toBe('CERT_NOT_YET_VALID')
  })

  it('a certificate valid now but not at signingTime', async () => {
    const cms = await signWithPxp(pki, 'future')
    const later = new Date(Date.now() + 12 * day)
    // "now" inside the validity window, signingTime (real now) before it
    expect(await codeOf(verifyDetachedSignedData({ cms, content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root'), now: later }))).toBe('CERT_NOT_YET_VALID')
  })

  it('wrong key usage is SIGNATURE_INVALID', async () => {
    for (const name of ['encipher', 'tls']) {
      const cms = await signWithPxp(pki, name)
      expect(await codeOf(verifyDetachedSignedData({ cms, content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root') }))).toBe('SIGNATURE_INVALID')
    }
  })

  it('a signer certificate signed with SHA-1 is ALGORITHM_NOT_ALLOWED', async () => {
    const cms = await signWithPxp(pki, 'sha1cert')
    expect(await codeOf(verifyDetachedSignedData({ cms, content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root') }))).toBe('ALGORITHM_NOT_ALLOWED')
  })

  it('garbage is SIGNATURE_INVALID', async () => {
    expect(await codeOf(verifyDetachedSignedData({ cms: Buffer.from('not a cms'), content: Buffer.from(INTEGRITY), trustRoots: roots(pki, 'root') }))).toBe('SIGNATURE_INVALID')
  })
})
