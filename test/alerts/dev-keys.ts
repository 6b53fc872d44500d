import { join } from 'node:path'
import { expect } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/fixtures.js'

/** `pxp keys dev --days N` into a fresh directory → the signing certificate and key paths. */
export async function devKeys(days: number): Promise<{ dir: string; cert: string; key: string; root: string }> {
  const dir = tempDir('pxp-dev-keys-')
  const run = await runCli(['keys', 'dev', '--out', dir, '--days', String(days), '--force'])
  expect(run.code, run.stderr).toBe(0)
  return { dir, cert: join(dir, 'dev-signing.pem'), key: join(dir, 'dev-signing.key'), root: join(dir, 'dev-root-ca.pem') }
}
