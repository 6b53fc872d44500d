/**
 * `pxp init` and `pxp add` through the shipped CLI on real files: init writes a config that builds,
 * add edits it with magicast and leaves hand-written comments and formatting alone.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../dist/src/config/load.js'
import { addToConfig } from '../../dist/src/scaffold/add.js'
import { init } from '../../dist/src/cli/commands/init.js'
import { devKeys } from '../../dist/src/cli/commands/keys.js'
import { repoRoot, runCli } from '../helpers/cli.js'
import { copyPlayground, tempDir, write } from '../helpers/fixtures.js'

/** A minimal ELF header for linux/arm64 (e_machine 0xb7), enough for pxp's platform sniffing. */
function elfHeader(machine: number): Buffer {
  const b = Buffer.alloc(64)
  b.write('\x7fELF', 0, 'latin1')
  b[4] = 2 // 64-bit
  b[5] = 1 // little endian
  b[6] = 1
  b.writeUInt16LE(2, 16) // ET_EXEC
  b.writeUInt16LE(machine, 18)
  return b
}

describe('pxp init', () => {
  it('on a copy of the playground without config, reproduces a working config (same targets as the repo\'s)', async () => {
    const dir = copyPlayground()
    expect(existsSync(join(dir, 'px-plugin.config.ts'))).toBe(false)
    const run = await runCli(['init', '--yes', '--json'], { cwd: dir })
    expect(run.code, run.stderr).toBe(0)
    expect(run.json).toMatchObject({ ok: true, configFile: join(dir, 'px-plugin.config.ts'), targets: ['linux-amd64', 'linux-arm64'], adminUi: { dir: 'web-admin/.output/public', built: true }, contracts: ['docs/contracts'], assets: [] })
    const text = readFileSync(join(dir, 'px-plugin.config.ts'), 'utf8')
    expect(text).toContain("import { defineConfig } from 'pxp'")
    expect(text).toContain('export default defineConfig({')

    const written = await loadConfig({ cwd: dir, env: {} })
    const repo = await loadConfig({ cwd: repoRoot, env: {} })
    expect(written.config.offline.targets).toEqual(repo.config.offline.targets)
    expect(written.config.root).toBe(dir)

    const build = await runCli(['build', '--json'], { cwd: dir })
    expect(build.code, build.stdout + build.stderr).toBe(0)
    expect(build.json.targets.map((t: { os: string; arch: string }) => `${t.os}-${t.arch}`)).toEqual(['linux-amd64', 'linux-arm64'])
  })

  it('detects a single binary\'s platform, a static_dir and contracts outside the default payload', async () => {
    const dir = copyPlayground()
    rmSync(join(dir, 'backend', 'bin'), { recursive: true })
    write(dir, 'backend/bin/plugin', elfHeader(0xb7), 0o755)
    write(dir, 'backend/bin/migrate', '#!/bin/sh\nexit 0\n', 0o755)
    write(dir, 'plugin.yaml', readFileSync(join(dir, 'plugin.yaml'), 'utf8').replace('static_dir: web-admin/.output/public', 'static_dir: ui/dist'))
    write(dir, 'ui/dist/index.html', '<!doctype html><title>ui</title>\n')
    write(dir, 'api/openapi.yaml', 'openapi: 3.0.0\n')
    const run = await runCli(['init', '--yes', '--json', '--dev-keys'], { cwd: dir })
    expect(run.code, run.stderr).toBe(0)
    expect(run.json).toMatchObject({ targets: ['linux-arm64'], assets: ['ui/dist', 'api/openapi.yaml'] })
    expect(readFileSync(join(dir, 'px-plugin.config.ts'), 'utf8')).toContain("assets: ['ui/dist', 'api/openapi.yaml']")
    await devKeys({ cwd: dir })
    const build = await runCli(['build', '--json'], { cwd: dir })
    expect(build.code, build.stdout + build.stderr).toBe(0)
    expect(build.json.targets[0]).toMatchObject({ os: 'linux', arch: 'arm64' })
    expect(build.json.targets[0].signature).toBeTruthy()
  })

  it('refuses to overwrite a config without --force, and refuses a directory without plugin.yaml', async () => {
    const dir = copyPlayground()
    write(dir, 'px-plugin.config.ts', 'export default {}\n')
    const again = await runCli(['init', '--yes', '--json'], { cwd: dir })
    expect(again.code).toBe(2)
    expect(again.json.error).toMatchObject({ code: 'CONFIG_EXISTS' })
    await init({ cwd: dir, yes: true, force: true, preset: 'powerx-intranet' }, false)
    expect(readFileSync(join(dir, 'px-plugin.config.ts'), 'utf8')).toContain("presets: ['powerx-intranet']")
    await expect(init({ cwd: tempDir('pxp-init-empty-'), yes: true }, false)).rejects.toMatchObject({ code: 'DESCRIPTOR_MISSING', exitCode: 2 })
    await expect(init({ cwd: dir, yes: true, force: true, preset: 'gcp' }, false)).rejects.toMatchObject({ code: 'USAGE', exitCode: 2 })
  })
})

const HAND_WRITTEN = `import { defineConfig } from 'pxp'

// Hand-written note: builds go to the release share. Keep this comment!
export default defineConfig({
  offline: {
    targets: [ { os: 'linux',   arch: 'amd64' } ],   /* odd spacing on purpose */
  },
  limits: { maxBundleBytes: 50_000_000 }, // trailing comment
})
`

describe('pxp add', () => {
  it('adds a preset and a built-in plugin\'s section, keeps comments and formatting, and is idempotent', async () => {
    const dir = copyPlayground()
    write(dir, 'px-plugin.config.ts', HAND_WRITTEN)
    const preset = await runCli(['add', 'aws', '--json'], { cwd: dir })
    expect(preset.code, preset.stderr).toBe(0)
    expect(preset.json).toMatchObject({ kind: 'preset', change: "presets += 'aws'", created: false })
    const plugin = await runCli(['add', 'uploader-fs', '--json'], { cwd: dir })
    expect(plugin.code, plugin.stderr).toBe(0)
    expect(plugin.json).toMatchObject({ kind: 'builtin-plugin' })
    const twice = await runCli(['add', 'aws', '--json'], { cwd: dir })
    expect(twice.json).toMatchObject({ change: 'unchanged' })

    const text = readFileSync(join(dir, 'px-plugin.config.ts'), 'utf8')
    expect(text).toContain('// Hand-written note: builds go to the release share. Keep this comment!')
    expect(text).toContain("    targets: [ { os: 'linux',   arch: 'amd64' } ],   /* odd spacing on purpose */")
    expect(text).toContain('  limits: { maxBundleBytes: 50_000_000 }, // trailing comment')
    expect(text.match(/'aws'/g)).toHaveLength(1)
    // Only insertions: every hand-written line is still there, in order.
    const lines = text.split('\n')
    let at = -1
    for (const line of HAND_WRITTEN.trimEnd().split('\n')) {
      const next = lines.indexOf(line, at + 1)
      expect(next, line).toBeGreaterThan(at)
      at = next
    }
    const loaded = await loadConfig({ cwd: dir, env: {} })
    expect(loaded.presets.map((p) => p.name)).toEqual(['default', 'aws'])
    // The project's own fs store section overrides the preset's S3 store key by key.
    expect(loaded.config.artifactStore).toMatchObject({ type: 'fs', dir: join(dir, 'artifacts') })
  })

  it('installs a missing npm package with npm, adds it to plugins, and the build runs it', async () => {
    const dir = copyPlayground()
    write(dir, 'package.json', JSON.stringify({ name: 'hello-tasks', private: true }))
    write(dir, 'px-plugin.config.ts', HAND_WRITTEN)
    const pkg = tempDir('pxp-plugin-pkg-')
    write(pkg, 'package.json', JSON.stringify({ name: 'pxp-plugin-stamp', version: '1.0.0', type: 'module', exports: './index.mjs' }))
    write(pkg, 'index.mjs', `export default () => ({ name: 'stamp', collect() { this.addFile({ path: 'docs/stamp.txt', content: 'stamped' }) } })\n`)
    const run = await runCli(['add', `pxp-plugin-stamp@file:${pkg}`, '--json'], { cwd: dir, timeoutMs: 60_000 })
    expect(run.code, run.stderr).toBe(0)
    expect(run.json).toMatchObject({ kind: 'plugin', installed: true, change: "plugins += 'pxp-plugin-stamp'" })
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).devDependencies).toHaveProperty('pxp-plugin-stamp')
    expect(readFileSync(join(dir, 'px-plugin.config.ts'), 'utf8')).toContain('// Hand-written note')
    const build = await runCli(['build', '--json'], { cwd: dir })
    expect(build.code, build.stdout + build.stderr).toBe(0)
    expect(build.json.targets[0].pxp).toBeTruthy()
  })

  it('creates a config when there is none; refuses to replace a section of another type; rejects junk names', async () => {
    const dir = copyPlayground()
    const created = await runCli(['add', 'signer-pem', '--json'], { cwd: dir })
    expect(created.code, created.stderr).toBe(0)
    expect(created.json).toMatchObject({ created: true, change: "signer = { type: 'pem', … }" })
    expect(readFileSync(join(dir, 'px-plugin.config.ts'), 'utf8')).toContain("type: 'pem'")
    await expect(addToConfig({ cwd: dir, name: 'signer-kms' })).rejects.toMatchObject({ code: 'ADD_SECTION_EXISTS', keyPath: 'signer', exitCode: 2 })
    await expect(addToConfig({ cwd: dir, name: 'Not A Package!' })).rejects.toMatchObject({ code: 'USAGE', exitCode: 2 })
    await expect(addToConfig({ cwd: dir, name: 'pxp-plugin-nowhere', install: false })).rejects.toMatchObject({ code: 'ADD_NOT_INSTALLED', exitCode: 2 })
    write(dir, 'px-plugin.config.ts', 'const plugins = []\nexport default { plugins }\n')
    await expect(addToConfig({ cwd: dir, name: 'aws' })).resolves.toMatchObject({ change: "presets += 'aws'" })
    await expect(addToConfig({ cwd: dir, name: './nowhere.ts' })).rejects.toMatchObject({ code: 'ADD_NOT_FOUND' })
    write(dir, 'local.ts', "export default { name: 'local' }\n")
    await expect(addToConfig({ cwd: dir, name: './local.ts' })).rejects.toMatchObject({ code: 'ADD_CONFIG_UNSUPPORTED', keyPath: 'plugins' })
  })

  it('edits a JSON config too', async () => {
    const dir = copyPlayground()
    write(dir, 'px-plugin.config.json', '{\n    "plugins": []\n}\n')
    await addToConfig({ cwd: dir, name: 'aliyun' })
    await addToConfig({ cwd: dir, name: 'uploader-fs' })
    expect(readFileSync(join(dir, 'px-plugin.config.json'), 'utf8')).toBe('{\n    "plugins": [],\n    "presets": [\n        "aliyun"\n    ],\n    "artifactStore": {\n        "type": "fs",\n        "dir": "./artifacts"\n    }\n}\n')
  })
})
