import { spawnSync } from 'node:child_process'
import { chmodSync, readFileSync, readdirSync, statSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { pxpBin } from '../helpers/cli.js'
import { BUNDLE, copyPlayground, sha256File, tempDir, write } from '../helpers/fixtures.js'

/** Walks a tree and applies `fn` to every file. */
function eachFile(dir: string, fn: (path: string) => void): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) eachFile(path, fn)
    else fn(path)
  }
}

/** Builds in a shell with the given umask, as a user's terminal would. */
function buildWithUmask(cwd: string, out: string, umask: string, env: NodeJS.ProcessEnv = {}): string {
  const run = spawnSync('sh', ['-c', `umask ${umask} && exec "${process.execPath}" "${pxpBin}" build --out "${out}" --no-upload --no-install --os linux --arch amd64`], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', ...env },
    encoding: 'utf8',
  })
  expect(run.stderr).not.toMatch(/ERROR/)
  expect(run.status).toBe(0)
  return sha256File(BUNDLE(out))
}

describe('deterministic bundles', () => {
  it('gives the same bytes whatever the checkout path, mtimes, permission bits, umask and creation order', () => {
    const a = copyPlayground()
    // The second copy lives deeper, is written in reverse order and gets its own mtimes and modes.
    const b = join(tempDir('pxp-other-checkout-'), 'nested', 'checkout')
    const files: string[] = []
    eachFile(a, (p) => files.push(p))
    for (const path of [...files].reverse()) {
      const rel = path.slice(a.length + 1)
      write(b, rel, readFileSync(path))
    }
    let i = 0
    eachFile(b, (path) => {
      const executable = (statSync(join(a, path.slice(b.length + 1))).mode & 0o100) !== 0
      // Shuffle the bits a checkout may differ in; keep what the format records (owner-executable).
      chmodSync(path, executable ? [0o700, 0o755, 0o775, 0o711][i % 4]! : [0o600, 0o644, 0o664, 0o640][i % 4]!)
      utimesSync(path, 1_000_000 + i * 7919, 2_000_000_000 - i * 104_729)
      i++
    })

    const hashA = buildWithUmask(a, tempDir(), '022')
    const hashB = buildWithUmask(b, tempDir(), '077')
    expect(hashB).toBe(hashA)
  })

  it('uses SOURCE_DATE_EPOCH for entry mtimes, and only that changes the bytes', () => {
    const a = copyPlayground()
    const plain = buildWithUmask(a, tempDir(), '022')
    const out = tempDir()
    const epoch = buildWithUmask(a, out, '022', { SOURCE_DATE_EPOCH: '1700000000' })
    const epochAgain = buildWithUmask(a, tempDir(), '022', { SOURCE_DATE_EPOCH: '1700000000' })
    expect(epoch).not.toBe(plain)
    expect(epochAgain).toBe(epoch)
    const listing = spawnSync('tar', ['--utc', '-tvzf', BUNDLE(out)], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } }).stdout
    expect(listing).toMatch(/2023-11-14 22:13 plugin\.yaml/)
  })
})
