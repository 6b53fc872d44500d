import { execFileSync, spawnSync } from 'node:child_process'
import { closeSync, ftruncateSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../helpers/cli.js'
import { BUNDLE, copyPlayground, tempDir, write } from '../helpers/fixtures.js'

describe('streaming', () => {
  it('packs a 400 MB file with flat memory (peak RSS far below the file size)', () => {
    const root = copyPlayground()
    const big = join(root, 'backend/bin/linux-amd64/model.bin')
    // A sparse file: 400 MB to read, hash and compress, almost nothing on disk.
    const fd = openSync(big, 'w')
    ftruncateSync(fd, 400 * 1024 * 1024)
    closeSync(fd)
    // Above the published 200 MiB backend budget on purpose: raise it for this project.
    write(root, 'px-plugin.config.ts', 'export default { limits: { maxBackendBytes: 1024 ** 3, maxBundleBytes: 1024 ** 3 } }\n')
    const out = tempDir()
    // The build runs in its own process so its peak RSS is the build's alone.
    const script = `
      const { build } = await import(${JSON.stringify(join(repoRoot, 'dist/src/index.js'))})
      const { createConsola } = await import('consola')
      const r = await build({ cwd: ${JSON.stringify(root)}, os: 'linux', arch: 'amd64', upload: false, install: false, overrides: { out: ${JSON.stringify(out)} }, logger: createConsola({ level: -999 }) })
      console.log(JSON.stringify({ ok: r.ok, maxRssKb: process.resourceUsage().maxRSS }))`
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' })
    expect(run.status, run.stderr).toBe(0)
    const { ok, maxRssKb } = JSON.parse(run.stdout.trim().split('\n').pop()!)
    expect(ok).toBe(true)
    expect(maxRssKb / 1024).toBeLessThan(200)
    const listing = execFileSync('tar', ['-tvzf', BUNDLE(out)], { encoding: 'utf8' })
    expect(listing).toMatch(/419430400 2000-01-01 00:00 backend\/bin\/model\.bin/)
  }, 120_000)
})
