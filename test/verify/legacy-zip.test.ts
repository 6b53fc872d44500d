import { execFileSync } from 'node:child_process'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { createDetachedSignedData, keyObjectSigner, loadPrivateKeyPem, parsePemCertificates } from '../../src/plugin-api.js'
import { verifyBundle } from '../../src/verify/index.js'
import { bundleEntries, type RawEntry } from '../helpers/bundle.js'
import { tempDir } from '../helpers/fixtures.js'
import { Pki } from '../helpers/openssl.js'

/** Writes the entries as files and zips them with Info-ZIP in the given order. */
function zipBundle(entries: RawEntry[], extra: (dir: string) => string[] = () => []): string {
  const dir = tempDir('pxp-zip-')
  const files = entries.filter((e) => (e.type ?? 'File') === 'File')
  for (const entry of files) {
    mkdirSync(dirname(join(dir, entry.path)), { recursive: true })
    writeFileSync(join(dir, entry.path), entry.content ?? '')
  }
  const out = join(dir, 'bundle.zip')
  execFileSync('zip', ['-q', '-X', '-D', '-y', out, ...files.map((f) => f.path), ...extra(dir)], { cwd: dir })
  return out
}

describe('legacy zip bundles are read (and checked) like tar ones', () => {
  const pki = new Pki()
  let entries: RawEntry[]
  beforeAll(async () => {
    pki.root('root', 'rsa')
    pki.issue('leaf', 'root', { kind: 'rsa' })
    const key = loadPrivateKeyPem(pki.read('leaf.key').toString(), { file: 'leaf.key' })
    const certificates = parsePemCertificates(pki.read('leaf.pem').toString())
    entries = (await bundleEntries({ sign: (integrity) => createDetachedSignedData({ content: integrity, certificates, signingTime: new Date(), signer: keyObjectSigner(key) }) })).entries
  })

  it('accepts a valid zip in any entry order', async () => {
    const report = await verifyBundle(zipBundle([...entries].reverse()), { trust: [pki.path('root.pem')] })
    expect(report.errors).toEqual([])
    expect(report).toMatchObject({ ok: true, signed: true, signer: { subject: 'CN=leaf' } })
  })

  it('refuses a tampered entry and a symlink', async () => {
    const tampered = entries.map((e) => (e.path === 'README.md' ? { ...e, content: 'evil' } : e))
    expect((await verifyBundle(zipBundle(tampered), { trust: [pki.path('root.pem')] })).errors.map((e) => e.code)).toEqual(['ENTRY_TAMPERED'])
    const withLink = zipBundle(entries, (dir) => {
      symlinkSync('/etc/passwd', join(dir, 'passwd'))
      return ['passwd']
    })
    expect((await verifyBundle(withLink, { trust: [pki.path('root.pem')] })).errors.map((e) => e.code)).toEqual(['PATH_UNSAFE'])
  })
})
