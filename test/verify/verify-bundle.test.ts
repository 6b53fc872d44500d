import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { beforeAll, describe, expect, it } from 'vitest'
import { createDetachedSignedData, keyObjectSigner, loadPrivateKeyPem, parsePemCertificates } from '../../src/plugin-api.js'
import { verifyBundle, type VerifyOptions, type VerifyReport } from '../../src/verify/index.js'
import { bundleEntries, tarBytes, writeLargeBundle, writeTarGz, zeroSha256, type BundleInput, type RawEntry } from '../helpers/bundle.js'
import { tempDir } from '../helpers/fixtures.js'
import { Pki } from '../helpers/openssl.js'

const pki = new Pki()
const work = tempDir('pxp-verify-')
let sign: (integrity: Buffer) => Promise<Uint8Array>
let trust: VerifyOptions

beforeAll(() => {
  pki.root('root', 'ec')
  pki.issue('leaf', 'root', { kind: 'ec' })
  pki.root('stranger', 'ec')
  pki.issue('alien', 'stranger', { kind: 'ec' })
  const key = loadPrivateKeyPem(pki.read('leaf.key').toString(), { file: 'leaf.key' })
  const certificates = parsePemCertificates(pki.read('leaf.pem').toString())
  sign = (integrity) => createDetachedSignedData({ content: integrity, certificates, signingTime: new Date(), signer: keyObjectSigner(key) })
  trust = { trust: [pki.path('root.pem')] }
})

let counter = 0
async function bundle(input: BundleInput & { edit?: (entries: RawEntry[]) => RawEntry[] } = {}): Promise<string> {
  const built = await bundleEntries({ sign, ...input })
  const file = join(work, `b${counter++}.pxp`)
  return writeTarGz(file, input.edit ? input.edit(built.entries) : built.entries)
}

const codes = (report: VerifyReport) => report.errors.map((e) => e.code)

describe('verifyBundle: good bundles', () => {
  it('accepts a signed bundle and reports signer, manifest, descriptor', async () => {
    const report = await verifyBundle(await bundle(), trust)
    expect(report.errors).toEqual([])
    expect(report).toMatchObject({ ok: true, signed: true, signer: { subject: 'CN=leaf', issuer: 'CN=root' }, files: 6, descriptor: { id: 'com.example.demo' } })
    expect(report.bundleSha256).toMatch(/^[0-9a-f]{64}$/)
  })

  it('unsigned: SIGNATURE_MISSING unless allowUnsigned', async () => {
    const file = await bundle({ sign: undefined })
    expect(codes(await verifyBundle(file, trust))).toEqual(['SIGNATURE_MISSING'])
    expect(await verifyBundle(file, { ...trust, allowUnsigned: true })).toMatchObject({ ok: true, signed: false })
  })

  it('a detached sidecar made by `openssl cms -sign` over integrity.txt verifies', async () => {
    const built = await bundleEntries({})
    const file = writeTarGz(join(work, 'sidecar.pxp'), built.entries)
    writeFileSync(pki.path('integrity.txt'), built.integrity)
    const sidecar = pki.cmsSign('integrity.txt', 'leaf', { out: 'sidecar.der' })
    expect(await verifyBundle(file, { ...trust, signature: sidecar })).toMatchObject({ ok: true, signed: true, signer: { subject: 'CN=leaf' } })
    // base64 one-line form, as pxp writes it next to the bundle
    writeFileSync(pki.path('sidecar.b64'), readFileSync(sidecar).toString('base64') + '\n')
    expect((await verifyBundle(file, { ...trust, signature: pki.path('sidecar.b64') })).ok).toBe(true)
    // a sidecar over other bytes
    writeFileSync(pki.path('other.txt'), 'something else\n')
    const other = pki.cmsSign('other.txt', 'leaf', { out: 'other.der' })
    expect(codes(await verifyBundle(file, { ...trust, signature: other }))).toEqual(['SIGNATURE_INVALID'])
  })

  it('extracts only into the target, and nothing when the bundle fails', async () => {
    const good = join(work, 'x-good')
    expect((await verifyBundle(await bundle(), { ...trust, extractTo: good })).ok).toBe(true)
    expect(readdirSync(good).sort()).toEqual(['README.md', 'integrity.txt', 'manifest.json', 'manifest.signature', 'plugin.yaml', 'web-admin'])
    expect(readFileSync(join(good, 'web-admin/i18n/en.json'), 'utf8')).toBe('{"hello":"world"}\n')
    const bad = join(work, 'x-bad')
    const tampered = await bundle({ edit: (entries) => entries.map((e) => (e.path === 'README.md' ? { ...e, content: '# evil\n' } : e)) })
    expect((await verifyBundle(tampered, { ...trust, extractTo: bad })).ok).toBe(false)
    expect(readdirSync(bad)).toEqual([])
  })
})

describe('verifyBundle: every bad input has its code', () => {
  const cases: Array<[string, string[], BundleInput & { edit?: (entries: RawEntry[]) => RawEntry[] }, VerifyOptions?]> = [
    ['tampered entry', ['ENTRY_TAMPERED'], { edit: (es) => es.map((e) => (e.path === 'README.md' ? { ...e, content: '# changed\n' } : e)) }],
    ['missing entry', ['ENTRY_MISSING'], { edit: (es) => es.filter((e) => e.path !== 'README.md') }],
    ['extra entry', ['ENTRY_UNEXPECTED'], { edit: (es) => [...es, { path: 'zz-extra.txt', content: 'x' }] }],
    ['renamed entry', ['ENTRY_UNEXPECTED', 'ENTRY_MISSING'], { edit: (es) => es.map((e) => (e.path === 'README.md' ? { ...e, path: 'README.txt' } : e)) }],
    ['duplicate entry', ['ENTRY_UNEXPECTED'], { edit: (es) => [...es, { path: 'README.md', content: '# demo\n' }] }],
    ['`../` traversal', ['PATH_UNSAFE'], { edit: (es) => [...es, { path: '../escape.txt', content: 'x' }] }],
    ['nested traversal', ['PATH_UNSAFE'], { edit: (es) => [...es, { path: 'web-admin/../../escape.txt', content: 'x', pax: true }] }],
    ['absolute path', ['PATH_UNSAFE'], { edit: (es) => [...es, { path: '/tmp/pxp-escape.txt', content: 'x' }] }],
    ['drive letter', ['PATH_UNSAFE'], { edit: (es) => [...es, { path: 'C:/evil.txt', content: 'x' }] }],
    ['backslash', ['PATH_UNSAFE'], { edit: (es) => [...es, { path: '..\\evil.txt', content: 'x' }] }],
    ['non-NFC name', ['PATH_UNSAFE'], { edit: (es) => [...es, { path: 'cafe\u0301.txt', content: 'x', pax: true }] }],
    ['case-fold collision', ['PATH_UNSAFE'], { edit: (es) => [...es, { path: 'readme.MD', content: 'x' }] }],
    ['symlink entry', ['PATH_UNSAFE'], { edit: (es) => [...es, { path: 'link', type: 'SymbolicLink', linkpath: '/etc/passwd' }] }],
    ['hard link entry', ['PATH_UNSAFE'], { edit: (es) => [...es, { path: 'hard', type: 'Link', linkpath: 'README.md' }] }],
    ['device entry', ['PATH_UNSAFE'], { edit: (es) => [...es, { path: 'dev', type: 'CharacterDevice' }] }],
    ['global pax header', ['ENTRY_UNEXPECTED'], { edit: (es) => [...es, { path: 'g', type: 'GlobalExtendedHeader', content: '' }] }],
    ['integrity.txt not first', ['ENTRY_MISSING'], { edit: (es) => [es[1]!, es[0]!, ...es.slice(2)] }],
    ['integrity.txt with CRLF', ['INTEGRITY_MALFORMED'], { edit: (es) => es.map((e) => (e.path === 'integrity.txt' ? { ...e, content: String(e.content).replace(/\n/g, '\r\n') } : e)) }],
    ['integrity.txt unsorted', ['INTEGRITY_MALFORMED'], { edit: (es) => es.map((e) => (e.path === 'integrity.txt' ? { ...e, content: String(e.content).split('\n').filter(Boolean).reverse().join('\n') + '\n' } : e)) }],
    ['integrity.txt uppercase hex', ['INTEGRITY_MALFORMED'], { edit: (es) => es.map((e) => (e.path === 'integrity.txt' ? { ...e, content: String(e.content).toUpperCase() } : e)) }],
    ['manifest id disagrees with plugin.yaml', ['MANIFEST_INVALID'], { manifest: (m) => (m.manifest.id = 'com.example.other') }],
    ['manifest format_version 2', ['MANIFEST_INVALID'], { manifest: (m) => (m.format_version = 2) }],
    ['manifest artefact hash wrong', ['MANIFEST_INVALID'], { manifest: (m) => (m.artefacts.frontend_bundle.hash = '0'.repeat(64)) }],
    ['signature over different bytes', ['SIGNATURE_INVALID'], { sign: (integrity) => sign(Buffer.concat([integrity, Buffer.from('x')])) }],
    ['signature not base64', ['SIGNATURE_INVALID'], { edit: (es) => es.map((e) => (e.path === 'manifest.signature' ? { ...e, content: 'not base64!!\n' } : e)) }],
    ['signature from an untrusted root', ['CERT_UNTRUSTED'], {}, { trust: [] as string[] }],
  ]

  it.each(cases)('%s → %j', async (_name, expected, input, options) => {
    const file = await bundle(input)
    const opts = options ?? trust
    const report = await verifyBundle(file, opts.trust?.length === 0 ? { trust: [pki.path('stranger.pem')] } : opts)
    expect(report.ok).toBe(false)
    expect(codes(report)).toEqual(expected)
    for (const error of report.errors) expect(error.message).not.toMatch(/\n/)
  })

  it('a signer from another root is CERT_UNTRUSTED even though the CMS embeds its root', async () => {
    const key = loadPrivateKeyPem(pki.read('alien.key').toString(), { file: 'alien.key' })
    const certificates = [...parsePemCertificates(pki.read('alien.pem').toString()), ...parsePemCertificates(pki.read('stranger.pem').toString())]
    const file = await bundle({ sign: (integrity) => createDetachedSignedData({ content: integrity, certificates, signingTime: new Date(), signer: keyObjectSigner(key) }) })
    expect(codes(await verifyBundle(file, trust))).toEqual(['CERT_UNTRUSTED'])
  })

  it('garbage, empty, zip, truncated and corrupt gzip are ARCHIVE_CORRUPT', async () => {
    const good = readFileSync(await bundle())
    const variants: Record<string, Buffer> = {
      garbage: Buffer.from('this is not a bundle at all'),
      empty: Buffer.alloc(0),
      zip: Buffer.from('PK\x03\x04rest-of-a-zip'),
      truncated: good.subarray(0, Math.floor(good.length / 2)),
      corrupt: Buffer.concat([good.subarray(0, 40), Buffer.from(good.subarray(40, 80).map((b) => b ^ 0x5a)), good.subarray(80)]),
      'tar without gzip': tarBytes((await bundleEntries({ sign })).entries),
      'gzip of garbage': gzipSync(Buffer.from('x'.repeat(2000))),
      'tar without end marker': gzipSync(tarBytes((await bundleEntries({ sign })).entries).subarray(0, -1024)),
    }
    for (const [name, bytes] of Object.entries(variants)) {
      const file = join(work, `corrupt-${name}.pxp`)
      writeFileSync(file, bytes)
      const report = await verifyBundle(file, trust)
      expect({ name, codes: codes(report) }).toEqual({ name, codes: ['ARCHIVE_CORRUPT'] })
    }
  })

  it('nothing is written outside the extraction directory for hostile names', async () => {
    const parent = tempDir('pxp-extract-parent-')
    const target = join(parent, 'inside')
    const file = await bundle({ edit: (es) => [...es, { path: '../outside.txt', content: 'x' }, { path: 'link', type: 'SymbolicLink', linkpath: '..' }] })
    const report = await verifyBundle(file, { ...trust, extractTo: target })
    expect(codes(report)).toEqual(['PATH_UNSAFE'])
    expect(readdirSync(parent)).toEqual(['inside'])
    expect(readdirSync(target)).toEqual([])
    expect(existsSync('/tmp/pxp-escape.txt')).toBe(false)
  })
})

describe('verifyBundle: limits', () => {
  it('entry count, entry size, total size and path length', async () => {
    const file = await bundle()
    expect(codes(await verifyBundle(file, { ...trust, limits: { maxEntries: 3 } }))).toEqual(['LIMIT_EXCEEDED'])
    expect(codes(await verifyBundle(file, { ...trust, limits: { maxEntryBytes: 10 } }))).toEqual(['LIMIT_EXCEEDED'])
    expect(codes(await verifyBundle(file, { ...trust, limits: { maxTotalBytes: 100 } }))).toEqual(['LIMIT_EXCEEDED'])
    expect(codes(await verifyBundle(file, { ...trust, limits: { maxPathBytes: 12 } }))).toEqual(['LIMIT_EXCEEDED'])
  })

  it('a header that declares a huge entry is refused before reading it', async () => {
    const file = await bundle({ edit: (es) => [...es, { path: 'huge.bin', size: 8 * 1024 ** 3 }] })
    const started = Date.now()
    const report = await verifyBundle(file, trust)
    expect(codes(report)).toEqual(['LIMIT_EXCEEDED'])
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('a decompression bomb stops at the ratio limit', async () => {
    const size = 200 * 1024 * 1024
    const built = await bundleEntries({ sign, listedOnly: { 'zzz-zeros.bin': zeroSha256(size) } })
    const file = join(work, 'bomb.pxp')
    await writeLargeBundle(file, built.entries, { path: 'zzz-zeros.bin', size })
    const report = await verifyBundle(file, trust)
    expect(codes(report)).toEqual(['LIMIT_EXCEEDED'])
    expect(report.errors[0]!.message).toMatch(/expands more than 200:1/)
  })
})
