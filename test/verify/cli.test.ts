import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { runCli, repoRoot } from '../helpers/cli.js'
import { copyPlayground, tempDir } from '../helpers/fixtures.js'
import { createDetachedSignedData, keyObjectSigner, loadPrivateKeyPem, parsePemCertificates } from '../../src/plugin-api.js'
import { bundleEntries, writeTarGz } from '../helpers/bundle.js'
import { opensslStatus } from '../helpers/openssl.js'

describe('pxp keys dev', () => {
  const dir = tempDir('pxp-keys-')

  it('writes a DEV root CA and a signing certificate that OpenSSL chains', async () => {
    const run = await runCli(['keys', 'dev', '--cwd', dir, '--json'])
    expect(run.code).toBe(0)
    expect(run.json).toMatchObject({ ok: true, created: true })
    const keys = join(dir, '.pxp', 'keys')
    expect(statSync(join(keys, 'dev-signing.key')).mode & 0o777).toBe(0o600)
    const leaf = new X509Certificate(readFileSync(join(keys, 'dev-signing.pem')))
    const root = new X509Certificate(readFileSync(join(keys, 'dev-root-ca.pem')))
    expect(leaf.subject).toContain('DEV')
    expect(root.subject).toContain('pxp DEV Root CA — NOT FOR PRODUCTION')
    expect(Date.parse(leaf.validTo) - Date.now()).toBeLessThan(31 * 86_400_000)
    expect(leaf.publicKey.asymmetricKeyType).toBe('ec')
    expect(opensslStatus(['verify', '-CAfile', 'dev-root-ca.pem', 'dev-signing.pem'], keys).ok).toBe(true)
    expect(readFileSync(join(keys, 'README.txt'), 'utf8')).toMatch(/NOT FOR PRODUCTION/)
  })

  it('keeps valid keys, replaces them with --force, makes RSA with --rsa', async () => {
    const keys = join(dir, '.pxp', 'keys')
    const before = readFileSync(join(keys, 'dev-signing.pem'), 'utf8')
    expect((await runCli(['keys', 'dev', '--cwd', dir, '--json'])).json).toMatchObject({ created: false })
    expect(readFileSync(join(keys, 'dev-signing.pem'), 'utf8')).toBe(before)
    expect((await runCli(['keys', 'dev', '--cwd', dir, '--force', '--rsa', '--json'])).json).toMatchObject({ created: true })
    const leaf = new X509Certificate(readFileSync(join(keys, 'dev-signing.pem')))
    expect(leaf.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048)
    expect(statSync(join(keys, 'dev-signing.key')).mode & 0o777).toBe(0o600)
  })

  it('refuses an unknown action with exit 2', async () => {
    expect((await runCli(['keys', 'prod', '--cwd', dir])).code).toBe(2)
  })
})

describe('pxp verify', () => {
  const dir = tempDir('pxp-verify-cli-')
  let good: string
  let tampered: string
  let unsigned: string
  const keys = join(dir, '.pxp', 'keys')

  beforeAll(async () => {
    expect((await runCli(['keys', 'dev', '--cwd', dir])).code).toBe(0)
    const key = loadPrivateKeyPem(readFileSync(join(keys, 'dev-signing.key'), 'utf8'), { file: 'dev-signing.key' })
    const certificates = parsePemCertificates(readFileSync(join(keys, 'dev-signing.pem'), 'utf8'))
    const sign = (integrity: Buffer) => createDetachedSignedData({ content: integrity, certificates, signingTime: new Date(), signer: keyObjectSigner(key) })
    const built = await bundleEntries({ sign })
    good = writeTarGz(join(dir, 'good.pxp'), built.entries)
    tampered = writeTarGz(join(dir, 'tampered.pxp'), built.entries.map((e) => (e.path === 'README.md' ? { ...e, content: 'changed' } : e)))
    unsigned = writeTarGz(join(dir, 'unsigned.pxp'), (await bundleEntries({})).entries)
  })

  it('exit 0 and the cli.md JSON for a good bundle', async () => {
    const run = await runCli(['verify', good, '--trust', join(keys, 'dev-root-ca.pem'), '--json'])
    expect(run.code).toBe(0)
    expect(Object.keys(run.json)).toEqual(['ok', 'signed', 'signer', 'errors'])
    expect(run.json).toMatchObject({ ok: true, signed: true, signer: { subject: expect.stringContaining('DEV'), issuer: expect.stringContaining('Root CA'), notAfter: expect.any(String) }, errors: [] })
  })

  it('takes trust roots from PX_TRUST_ROOTS (separated by `:` or `,`)', async () => {
    const root = join(keys, 'dev-root-ca.pem')
    for (const list of [root, `${root}:${root}`, `${root},${root}`]) {
      const run = await runCli(['verify', good, '--json'], { cwd: dir, env: { PX_TRUST_ROOTS: list } })
      expect(run.json).toMatchObject({ ok: true })
    }
  })

  it('falls back to the config\'s `trust` (found with --cwd)', async () => {
    const project = tempDir('pxp-verify-config-')
    writeFileSync(join(project, 'px-plugin.config.mjs'), `export default { trust: [${JSON.stringify(join(keys, 'dev-root-ca.pem'))}] }\n`)
    const run = await runCli(['verify', good, '--cwd', project, '--json'], { env: { PX_TRUST_ROOTS: '' } })
    expect(run.json).toMatchObject({ ok: true, signed: true })
  })

  it('exit 1 with codes for a tampered, unsigned or untrusted bundle', async () => {
    const root = join(keys, 'dev-root-ca.pem')
    const bad = await runCli(['verify', tampered, '--trust', root, '--json'])
    expect(bad.code).toBe(1)
    expect(bad.json).toMatchObject({ ok: false, errors: [{ code: 'ENTRY_TAMPERED', path: 'README.md' }] })
    const human = await runCli(['verify', tampered, '--trust', root])
    expect(human.code).toBe(1)
    expect(human.stderr).toMatch(/\[ENTRY_TAMPERED\] README.md/)
    const plain = await runCli(['verify', unsigned, '--trust', root, '--json'])
    expect(plain.json.errors.map((e: any) => e.code)).toEqual(['SIGNATURE_MISSING'])
    // Own cwd: the repository's config names DEV trust roots that only exist after `pxp keys dev`.
    expect((await runCli(['verify', unsigned, '--allow-unsigned', '--json'], { cwd: dir, env: { PX_TRUST_ROOTS: '' } })).json).toMatchObject({ ok: true, signed: false, signer: null })
    const untrusted = await runCli(['verify', good, '--json'], { cwd: dir, env: { PX_TRUST_ROOTS: '' } })
    expect(untrusted.code).toBe(1)
    expect(untrusted.json.errors.map((e: any) => e.code)).toEqual(['CERT_UNTRUSTED'])
  })

  it('exit 2 for usage errors: no file, missing file, unreadable trust file', async () => {
    expect((await runCli(['verify'])).code).toBe(2)
    expect((await runCli(['verify', join(dir, 'nope.pxp')])).code).toBe(2)
    const missingTrust = await runCli(['verify', good, '--trust', join(dir, 'missing.pem'), '--json'])
    expect(missingTrust.code).toBe(2)
    writeFileSync(join(dir, 'not-a-cert.pem'), 'hello')
    expect((await runCli(['verify', good, '--trust', join(dir, 'not-a-cert.pem')])).code).toBe(2)
  })
})

describe('end to end: keys dev → build --sign → verify and openssl cms -verify', () => {
  it('builds the playground signed and both verifiers accept it', async () => {
    const root = copyPlayground()
    expect((await runCli(['keys', 'dev', '--cwd', root])).code).toBe(0)
    const keys = join(root, '.pxp', 'keys')
    const preset = readFileSync(join(repoRoot, 'presets/default/index.ts'), 'utf8')
    // Until the default preset loads signer-pem for `signer: {type: 'pem'}`, name it in the config.
    if (!preset.includes('signer-pem')) {
      writeFileSync(join(root, 'px-plugin.config.mjs'), `import signerPem from ${JSON.stringify(join(repoRoot, 'dist/plugins/signer-pem/index.js'))}\nexport default { plugins: [signerPem()] }\n`)
    }
    const out = join(root, 'out')
    const build = await runCli(['build', '--cwd', root, '--out', out, '--sign', join(keys, 'dev-signing.pem'), '--key', join(keys, 'dev-signing.key'), '--no-upload', '--no-install', '--json'])
    expect(build.stderr).not.toMatch(/ERROR/)
    expect(build.code).toBe(0)
    for (const target of build.json.targets) {
      const verify = await runCli(['verify', target.pxp, '--trust', join(keys, 'dev-root-ca.pem'), '--json'])
      expect(verify.json).toMatchObject({ ok: true, signed: true, errors: [] })
      writeFileSync(join(root, 'sig.der'), Buffer.from(readFileSync(target.signature, 'utf8'), 'base64'))
      const openssl = opensslStatus(['cms', '-verify', '-binary', '-inform', 'DER', '-in', join(root, 'sig.der'), '-content', target.integrity, '-CAfile', join(keys, 'dev-root-ca.pem'), '-purpose', 'any', '-out', '/dev/null'], root)
      expect(openssl).toEqual({ ok: true, stderr: '' })
      const sidecar = await runCli(['verify', target.pxp, '--signature', target.signature, '--trust', join(keys, 'dev-root-ca.pem'), '--json'])
      expect(sidecar.json.ok).toBe(true)
    }
  })
})
