import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { BUNDLE, copyPlayground, tempDir } from '../helpers/fixtures.js'

describe('the signer named in manifest.json', () => {
  let a: string
  let b: string
  let out: string
  let work: string
  beforeAll(async () => {
    a = tempDir('pxp-keys-a-')
    b = tempDir('pxp-keys-b-')
    expect((await runCli(['keys', 'dev', '--out', a])).code).toBe(0)
    expect((await runCli(['keys', 'dev', '--out', b, '--rsa'])).code).toBe(0)
    out = tempDir()
    const build = await runCli(['build', '--out', out, '--os', 'linux', '--arch', 'amd64', '--no-upload', '--no-install', '--sign', join(a, 'dev-signing.pem'), '--key', join(a, 'dev-signing.key')], { cwd: copyPlayground() })
    expect(build.code, build.stderr).toBe(0)
    work = tempDir()
    execFileSync('tar', ['-xzf', BUNDLE(out), '-C', work, 'integrity.txt'])
  })

  /** A detached sidecar made by OpenSSL over the bundle's integrity.txt with the given DEV key. */
  function sidecar(keys: string): string {
    const der = execFileSync('openssl', ['cms', '-sign', '-binary', '-in', join(work, 'integrity.txt'), '-signer', join(keys, 'dev-signing.pem'), '-inkey', join(keys, 'dev-signing.key'), '-outform', 'DER', '-md', 'sha256'])
    const file = join(work, `sig-${keys === a ? 'a' : 'b'}`)
    writeFileSync(file, der.toString('base64') + '\n')
    return file
  }

  it('accepts a sidecar by the same signer', async () => {
    const run = await runCli(['verify', BUNDLE(out), '--signature', sidecar(a), '--trust', join(a, 'dev-root-ca.pem'), '--json'])
    expect(run.json, run.stderr).toMatchObject({ ok: true, signed: true })
  })

  it('refuses a signature by another trusted signer than the one manifest.json names', async () => {
    const run = await runCli(['verify', BUNDLE(out), '--signature', sidecar(b), '--trust', join(a, 'dev-root-ca.pem'), '--trust', join(b, 'dev-root-ca.pem'), '--json'])
    expect(run.code).toBe(1)
    expect(run.json.ok).toBe(false)
    expect(run.json.errors).toContainEqual(expect.objectContaining({ code: 'SIGNATURE_INVALID', message: expect.stringMatching(/manifest\.json names the signer ".*" \([0-9a-f]{64}\) but the signature is by ".*" \([0-9a-f]{64}\)/) }))
  })
})
