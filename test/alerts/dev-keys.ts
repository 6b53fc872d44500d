import { join } from 'node:path'
import { expect } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/fixtures.js'

/**
 * `pxp keys dev --days N` into a fresh directory → the signing certificate and key paths.
 *
 * Known issue (reported to the lead, src/crypto/dev-certs.ts): a random serial whose first byte
 * masks to 0x00 (and second < 0x80) is a non-minimal DER INTEGER, and OpenSSL refuses it with
 * "illegal padding" about once in 128 runs. Only that exact failure is retried, so anything else
 * still fails the test. Remove the retry once dev-certs.ts forces a non-zero first byte.
 */
export async function devKeys(days: number): Promise<{ dir: string; cert: string; key: string; root: string }> {
  const dir = tempDir('pxp-dev-keys-')
  let run = await runCli(['keys', 'dev', '--out', dir, '--days', String(days), '--force'])
  for (let attempt = 1; attempt < 3 && run.code !== 0 && /illegal padding/.test(run.stderr); attempt++) {
    run = await runCli(['keys', 'dev', '--out', dir, '--days', String(days), '--force'])
  }
  expect(run.code, run.stderr).toBe(0)
  return { dir, cert: join(dir, 'dev-signing.pem'), key: join(dir, 'dev-signing.key'), root: join(dir, 'dev-root-ca.pem') }
}
