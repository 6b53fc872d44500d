import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli, repoRoot } from '../helpers/cli.js'
import { BUNDLE, BUNDLE_DIR, sha256File, tempDir } from '../helpers/fixtures.js'
import { verifyAuditLog } from '../../src/report/audit-log.js'

describe('pxp build in the repository root', () => {
  const out = tempDir()
  let run: Awaited<ReturnType<typeof runCli>>

  it('builds the playground for every configured target, signed with the DEV keys', async () => {
    // The README's main command: DEV keys (idempotent), then the build.
    expect((await runCli(['keys', 'dev'], { cwd: repoRoot })).code).toBe(0)
    run = await runCli(['build', '--out', out, '--json'], { cwd: repoRoot })
    expect(run.stderr).not.toMatch(/ERROR/)
    expect(run.code).toBe(0)
    expect(run.json.ok).toBe(true)
    expect(run.json.targets.map((t: any) => `${t.os}-${t.arch}`)).toEqual(['linux-amd64', 'linux-arm64'])
    for (const t of run.json.targets) {
      expect(existsSync(t.pxp)).toBe(true)
      expect(t.sha256).toBe(sha256File(t.pxp))
      expect(existsSync(t.integrity)).toBe(true)
      expect(existsSync(t.report)).toBe(true)
      expect(existsSync(t.signature)).toBe(true)
      expect(t.uploads.map((u: any) => u.store)).toContain('fs-store')
    }
  })

  it('verifies with pxp verify and with openssl cms against the DEV root', async () => {
    const verify = await runCli(['verify', BUNDLE(out), '--json'], { cwd: repoRoot })
    expect(verify.code, verify.stderr).toBe(0)
    expect(verify.json).toMatchObject({ ok: true, signed: true, errors: [] })
    expect(verify.json.signer.subject).toMatch(/DEV/)
    const dir = tempDir()
    execFileSync('tar', ['-xzf', BUNDLE(out), '-C', dir, 'integrity.txt', 'manifest.signature'])
    execFileSync('sh', ['-c', 'base64 -d manifest.signature > sig.der'], { cwd: dir })
    const openssl = execFileSync('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', 'sig.der', '-content', 'integrity.txt', '-CAfile', join(repoRoot, '.pxp/keys/dev-root-ca.pem'), '-purpose', 'any', '-out', '/dev/null'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    expect(openssl).toBe('')
  })

  it('puts plugin.yaml and manifest.json at the archive root, after integrity.txt, as tar lists it', () => {
    const listing = execFileSync('tar', ['-tzf', BUNDLE(out)], { encoding: 'utf8' }).trim().split('\n')
    expect(listing.slice(0, 4)).toEqual(['integrity.txt', 'manifest.signature', 'manifest.json', 'plugin.yaml'])
    expect(listing).toContain('backend/bin/plugin')
    expect(listing).toContain('web-admin/.output/public/index.html')
    // The per-target folder is packed as backend/bin/, never as itself.
    expect(listing.some((p) => p.includes('linux-amd64') || p.includes('linux-arm64'))).toBe(false)
    // Every directory entry comes right before its contents.
    const dirs = listing.filter((p) => p.endsWith('/'))
    for (const dir of dirs) {
      const i = listing.indexOf(dir)
      expect(listing[i + 1]!.startsWith(dir)).toBe(true)
      expect(listing.findIndex((p) => p.startsWith(dir))).toBe(i)
    }
  })

  it('extracts to a tree that `sha256sum -c integrity.txt` accepts', () => {
    const dir = tempDir()
    execFileSync('tar', ['-xzf', BUNDLE(out), '-C', dir])
    const check = execFileSync('sha256sum', ['-c', 'integrity.txt'], { cwd: dir, encoding: 'utf8' })
    expect(check).toMatch(/plugin\.yaml: OK/)
    expect(check).not.toMatch(/FAILED/)
    // integrity.txt lists manifest.json and plugin.yaml, and the sidecar equals the embedded copy.
    const integrity = readFileSync(join(dir, 'integrity.txt'), 'utf8')
    expect(integrity).toMatch(/^[0-9a-f]{64} {2}manifest\.json$/m)
    expect(readFileSync(join(BUNDLE_DIR(out), 'integrity.txt'), 'utf8')).toBe(integrity)
    expect(execFileSync('stat', ['-c', '%a', join(dir, 'backend/bin/plugin')], { encoding: 'utf8' }).trim()).toBe('755')
  })

  it('writes the gzip header of the format (mtime 0, no name, OS 255) and normalised tar headers', () => {
    const head = readFileSync(BUNDLE(out)).subarray(0, 10)
    expect([...head.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0])
    expect(head.readUInt32LE(4)).toBe(0)
    expect(head[9]).toBe(255)
    const verbose = execFileSync('tar', ['--numeric-owner', '-tvzf', BUNDLE(out)], { encoding: 'utf8' })
    for (const line of verbose.trim().split('\n')) expect(line).toMatch(/^[-d]rw[-x]r-[-x]r-[-x] 0\/0 +\d+ 2000-01-01 00:00 /)
  })

  it('records manifest, report, dist.log and a valid audit chain', async () => {
    const dir = tempDir()
    execFileSync('tar', ['-xzf', BUNDLE(out), '-C', dir, 'manifest.json'])
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))
    expect(manifest.format_version).toBe(1)
    expect(manifest.manifest).toMatchObject({ id: 'com.powerx.plugins.hello', version: '1.2.0', targets: [{ os: 'linux', arch: 'amd64' }] })
    expect(manifest.manifest.permissions).toContain('tasks:write')
    expect(manifest.artefacts.backend_bundle.path).toBe('backend')
    expect(manifest.encryption).toEqual({ algorithm: 'none' })

    const report = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8'))
    expect(report.bundle.sha256).toBe(sha256File(BUNDLE(out)))
    expect(report.tool.zlib).toBe(process.versions.zlib)
    expect(report.signing).toMatchObject({ policy: 'signed', signer: 'pem' })
    expect(report.uploads.find((u: any) => u.fileName?.endsWith('.pxp'))).toMatchObject({ store: 'fs-store', sha256: sha256File(BUNDLE(out)) })
    expect(Object.keys(report.durations_ms)).toEqual(expect.arrayContaining(['collect', 'hash', 'emit']))
    const runReport = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'))
    expect(runReport.ok).toBe(true)
    expect(runReport.targets).toHaveLength(2)

    const dist = readFileSync(join(out, 'dist.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    const targets = dist.filter((l) => l.event === 'dist.target')
    expect(targets).toHaveLength(2)
    expect(targets[0]).toMatchObject({ pluginId: 'com.powerx.plugins.hello', version: '1.2.0', target: 'linux-amd64', hash: sha256File(BUNDLE(out)), signer: 'pem', artifactStore: expect.arrayContaining(['fs-store']) })
    expect(await verifyAuditLog(join(out, 'audit.log'))).toMatchObject({ ok: true })
  })

  it('honours --os/--arch and `dist --target offline` as the documented alias', async () => {
    const out2 = tempDir()
    const alias = await runCli(['dist', '--target', 'offline', '--os', 'linux', '--arch', 'arm64', '--out', out2, '--json'])
    expect(alias.code).toBe(0)
    expect(alias.json.targets).toHaveLength(1)
    // Signed bundles differ between runs only by the CMS signing time; the target is what matters here.
    expect(alias.json.targets[0].sha256).toBe(sha256File(BUNDLE(out2, 'linux-arm64')))
    expect(execFileSync('tar', ['-tzf', BUNDLE(out2, 'linux-arm64')], { encoding: 'utf8' })).toMatch(/^plugin\.yaml$/m)
    const bad = await runCli(['dist', '--target', 'online', '--out', out2])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/Unknown --target "online"/)
  })

  it('explains itself with --help and exits 2 on an unknown command', async () => {
    const help = await runCli(['build', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/--no-upload/)
    expect(help.stdout).toMatch(/Examples:/)
    const unknown = await runCli(['frobnicate'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/Unknown command "frobnicate"/)
  })
})
