/**
 * The package as published: `npm pack` (files/exports of package.json), installed into an empty
 * project from the local npm cache where possible, then `npx pxp build` on a small static plugin
 * there, a signed build through a built-in preset imported by subpath, and `tsc` on a TypeScript
 * file importing `pxp`, `pxp/vite` and `pxp/presets/aws` (types must be real: a wrong key fails).
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../helpers/cli.js'
import { tempDir, write } from '../helpers/fixtures.js'

const run = promisify(execFile)
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const env = { ...process.env, NO_COLOR: '1', CI: '1', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' }
let project: string

beforeAll(async () => {
  const packDir = tempDir('pxp-pack-')
  // dist/ is compiled by the test setup; --ignore-scripts keeps `prepare` from compiling again.
  const packed = await run(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: repoRoot, env, timeout: 60_000 })
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
  const files = info!.files.map((f) => f.path)
  for (const needed of ['bin/pxp.mjs', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/unplugin/vite.d.ts', 'dist/presets/aws/index.js', 'dist/presets/default/index.js', 'dist/plugins/signer-pem/index.js', 'dist/plugins/collect-fs/index.js']) {
    expect(files, needed).toContain(needed)
  }
  expect(files.some((f) => f.startsWith('test/') || f.startsWith('playground/'))).toBe(false)

  project = tempDir('pxp-empty-project-')
  write(project, 'package.json', JSON.stringify({ name: 'empty-project', private: true, type: 'module' }))
  await run(npm, ['install', join(packDir, info!.filename), '--prefer-offline', '--no-audit', '--no-fund'], { cwd: project, env, timeout: 150_000 })
}, 200_000)

const STATIC_PLUGIN = `id: com.example.static-hello
name: Static Hello
version: 0.1.0
corex_version: ">=1.0.0"
runtime:
  kind: static
frontend:
  admin:
    kind: static
    static_dir: web/dist
`

describe('the packed tarball in an empty project', () => {
  it('npx pxp build packs a plugin there; a preset imported by subpath signs it and pxp verify accepts it', async () => {
    write(project, 'plugin.yaml', STATIC_PLUGIN)
    write(project, 'web/dist/index.html', '<!doctype html><h1>Static Hello</h1>\n')
    write(project, 'px-plugin.config.ts', `import { defineConfig } from 'pxp'
export default defineConfig({ offline: { targets: [{ os: 'linux', arch: 'amd64' }], assets: ['web/dist'] } })
`)
    const built = await run('npx', ['--no', 'pxp', 'build', '--json'], { cwd: project, env, timeout: 60_000 })
    const result = JSON.parse(built.stdout)
    expect(result.ok).toBe(true)
    expect(result.targets[0].pxp).toBe(join(project, 'dist/com.example.static-hello/0.1.0/linux-amd64/com.example.static-hello-0.1.0-linux-amd64.pxp'))

    // The other binary name, straight from node_modules/.bin (npx itself was proven above).
    const pxBin = join(project, 'node_modules/.bin/px-plugin')
    await run(pxBin, ['keys', 'dev', '--out', 'keys'], { cwd: project, env, timeout: 30_000 })
    write(project, 'px-plugin.config.ts', `import { defineConfig } from 'pxp'
import powerxIntranet from 'pxp/presets/powerx-intranet'

export default defineConfig({
  presets: [powerxIntranet({ cert: 'keys/dev-signing.pem', key: 'keys/dev-signing.key', nasDir: './nas', trust: ['keys/dev-root-ca.pem'] })],
  offline: { targets: [{ os: 'linux', arch: 'amd64' }], assets: ['web/dist'] },
})
`)
    const signed = JSON.parse((await run(pxBin, ['build', '--no-install', '--json'], { cwd: project, env, timeout: 60_000 })).stdout)
    expect(signed.ok).toBe(true)
    expect(signed.targets[0].signature).toBeTruthy()
    expect(readdirSync(join(project, 'nas/com.example.static-hello/0.1.0/linux-amd64'))).toContain('com.example.static-hello-0.1.0-linux-amd64.pxp')
    const verified = JSON.parse((await run(pxBin, ['verify', signed.targets[0].pxp, '--json'], { cwd: project, env, timeout: 30_000 })).stdout)
    expect(verified).toMatchObject({ ok: true, signed: true })
  })

  it('types and subpath exports work from TypeScript (and catch a wrong key)', async () => {
    write(project, 'tsconfig.json', JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(repoRoot, 'node_modules/@types')] },
      include: ['src/*.ts'],
    }))
    write(project, 'src/ok.ts', `import { defineConfig, definePlugin, build, type PxpPlugin } from 'pxp'
import pxpVite from 'pxp/vite'
import { pxpUnplugin, type PxpUnpluginOptions } from 'pxp/unplugin'
import aws from 'pxp/presets/aws'

const stamp: PxpPlugin = definePlugin({ name: 'stamp', collect() { this.addFile({ path: 'docs/stamp.txt', content: 'x' }) } })
const options: PxpUnpluginOptions = { cwd: '.', sourcemaps: true, os: 'linux', arch: 'amd64' }
export const vitePlugin = pxpVite(options)
export const rollupPlugin = pxpUnplugin.rollup(options)
export const run: typeof build = build
export default defineConfig({ presets: [aws({ bucket: 'acme-plugins', region: 'eu-west-1' })], plugins: [stamp] })
`)
    write(project, 'src/bad.ts', `import { defineConfig } from 'pxp'
import aws from 'pxp/presets/aws'
export const a = aws({ bukket: 'typo' })
export default defineConfig({ offline: { targets: 'linux' } })
`)
    const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc')
    const checked = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, env, timeout: 60_000 }).then(() => ({ code: 0, out: '' }), (e) => ({ code: e.code as number, out: String(e.stdout) }))
    // Only the deliberate mistakes fail: ok.ts type-checks, bad.ts has exactly its two errors.
    expect(checked.code).not.toBe(0)
    const errors = checked.out.split('\n').filter((l) => /error TS\d+/.test(l))
    expect(errors.filter((l) => !l.startsWith('src/bad.ts')), checked.out).toEqual([])
    expect(errors.some((l) => l.startsWith('src/bad.ts(3,') && l.includes('bukket')), checked.out).toBe(true)
    expect(errors.some((l) => l.startsWith('src/bad.ts(4,')), checked.out).toBe(true)
    expect(existsSync(join(project, 'node_modules/pxp/dist/src/index.d.ts'))).toBe(true)
  })
})
