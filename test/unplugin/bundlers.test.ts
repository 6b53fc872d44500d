/**
 * Real bundler builds of a small admin UI end with a `.pxp` bundle through the compiled entry
 * points the package ships: `pxp/vite` (Vite 8), `pxp/rollup` (in rolldown, the Rollup API Vite 8
 * ships) and `pxp/esbuild`. The UI's assets and source maps land under the descriptor's static_dir,
 * and the bundle verifies against the dev root. (`pxp/webpack` shares the same code path after
 * webpack's `afterEmit`; webpack itself is not installed for tests.)
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { build as viteBuild } from 'vite'
import { beforeAll, describe, expect, it } from 'vitest'
import { rolldown } from 'rolldown'
import pxpVite from '../../dist/src/unplugin/vite.js'
import pxpRollup from '../../dist/src/unplugin/rollup.js'
import pxpEsbuild from '../../dist/src/unplugin/esbuild.js'
import { build as esbuild } from 'esbuild'
import type { BuildResult } from '../../dist/src/index.js'
import { runCli } from '../helpers/cli.js'
import { copyPlayground, tempDir, write } from '../helpers/fixtures.js'

let keys: string
beforeAll(async () => {
  keys = tempDir('pxp-vite-keys-')
  const made = await runCli(['keys', 'dev', '--out', keys, '--json'])
  expect(made.code, made.stderr).toBe(0)
})

/** The playground without its prebuilt UI, plus UI sources for Vite. */
function adminUiProject(): string {
  const dir = copyPlayground()
  rmSync(join(dir, 'web-admin', '.output', 'public'), { recursive: true, force: true })
  write(dir, 'web-admin/index.html', '<!doctype html><html><head><title>Hello Tasks</title></head><body><div id="app"></div><script type="module" src="/src/main.ts"></script></body></html>\n')
  write(dir, 'web-admin/src/main.ts', "import { greet } from './greet'\nconst app = document.querySelector('#app')\nif (app) app.textContent = greet('PowerX')\n")
  write(dir, 'web-admin/src/greet.ts', 'export function greet(name: string): string {\n  return `Hello, ${name}: your tasks are ready`\n}\n')
  write(dir, 'web-admin/src/style.css', 'body { font-family: sans-serif }\n')
  return dir
}

const listBundle = (file: string) => execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n')

async function viteBuildWithPxp(dir: string, outDir: string, options: Record<string, unknown> = {}) {
  let result: BuildResult | undefined
  await viteBuild({
    root: join(dir, 'web-admin'),
    configFile: false,
    logLevel: 'silent',
    build: { outDir, emptyOutDir: true, sourcemap: true },
    plugins: [
      pxpVite({
        os: 'linux',
        arch: 'amd64',
        overrides: { signer: { type: 'pem', cert: join(keys, 'dev-signing.pem'), key: join(keys, 'dev-signing.key') } },
        onResult: (r) => {
          result = r
        },
        ...options,
      }),
    ],
  })
  return result
}

describe('bundler integration', () => {
  it('a Vite build into the static_dir ends with a verified bundle holding the UI and its source maps', async () => {
    const dir = adminUiProject()
    const result = await viteBuildWithPxp(dir, '.output/public')
    expect(result?.ok).toBe(true)
    const bundle = result!.targets[0]!.bundle!.path
    expect(bundle).toBe(join(dir, 'dist', 'com.powerx.plugins.hello', '1.2.0', 'linux-amd64', 'com.powerx.plugins.hello-1.2.0-linux-amd64.pxp'))
    const entries = listBundle(bundle)
    expect(entries).toContain('web-admin/.output/public/index.html')
    const js = entries.filter((e) => /^web-admin\/\.output\/public\/assets\/index-[\w-]+\.js$/.test(e))
    expect(js).toHaveLength(1)
    expect(entries).toContain(`${js[0]}.map`)
    // The packed JS is what Vite produced, and its map points back at the sources.
    const extracted = tempDir('pxp-vite-x-')
    execFileSync('tar', ['-xzf', bundle, '-C', extracted])
    expect(readFileSync(join(extracted, js[0]!), 'utf8')).toContain('your tasks are ready')
    expect(JSON.parse(readFileSync(join(extracted, `${js[0]}.map`), 'utf8')).sources.join()).toContain('greet.ts')
    const verified = await runCli(['verify', bundle, '--trust', join(keys, 'dev-root-ca.pem'), '--json'])
    expect(verified.code, verified.stdout).toBe(0)
    expect(verified.json).toMatchObject({ ok: true, signed: true })
  })

  it('an output directory elsewhere is added under the static_dir; sourcemaps: false leaves maps out', async () => {
    const dir = adminUiProject()
    const result = await viteBuildWithPxp(dir, join(dir, 'ui-dist'), { sourcemaps: false })
    expect(result?.ok).toBe(true)
    const entries = listBundle(result!.targets[0]!.bundle!.path)
    expect(entries).toContain('web-admin/.output/public/index.html')
    expect(entries.some((e) => /^web-admin\/\.output\/public\/assets\/index-[\w-]+\.js$/.test(e))).toBe(true)
    expect(entries.some((e) => e.endsWith('.map'))).toBe(false)
    expect(result!.targets[0]!.plugins['pxp:bundler-output']).toMatchObject({ files: 3 })
  })

  it('a failing pxp build fails the Vite build with pxp\'s error code', async () => {
    const dir = adminUiProject()
    write(dir, 'plugin.yaml', 'id: [unclosed\n')
    await expect(viteBuildWithPxp(dir, '.output/public')).rejects.toThrow(/\[DESCRIPTOR_MALFORMED\] pxp build failed for linux-amd64/)
  })

  it('pxp/rollup: a Rollup-API build (rolldown, which Vite 8 ships) hands output.dir to pxp', async () => {
    const dir = adminUiProject()
    let result: BuildResult | undefined
    const bundle = await rolldown({
      input: join(dir, 'web-admin/src/main.ts'),
      logLevel: 'silent',
      plugins: [pxpRollup({ cwd: dir, os: 'linux', arch: 'amd64', onResult: (r) => void (result = r) })],
    })
    await bundle.write({ dir: join(dir, 'rollup-out'), sourcemap: true })
    await bundle.close()
    expect(result?.ok).toBe(true)
    const entries = listBundle(result!.targets[0]!.bundle!.path)
    expect(entries).toContain('web-admin/.output/public/main.js')
    expect(entries).toContain('web-admin/.output/public/main.js.map')
  })

  it('pxp/esbuild: onEnd hands outdir to pxp; a failing pxp build becomes an esbuild error', async () => {
    const dir = adminUiProject()
    let result: BuildResult | undefined
    await esbuild({
      entryPoints: [join(dir, 'web-admin/src/main.ts')],
      bundle: true,
      sourcemap: true,
      outdir: join(dir, 'esbuild-out'),
      logLevel: 'silent',
      plugins: [pxpEsbuild({ cwd: dir, os: 'linux', arch: 'amd64', onResult: (r) => void (result = r) })],
    })
    expect(result?.ok).toBe(true)
    const entries = listBundle(result!.targets[0]!.bundle!.path)
    expect(entries).toEqual(expect.arrayContaining(['web-admin/.output/public/main.js', 'web-admin/.output/public/main.js.map']))

    write(dir, 'plugin.yaml', 'id: [unclosed\n')
    await expect(
      esbuild({ entryPoints: [join(dir, 'web-admin/src/main.ts')], bundle: true, outdir: join(dir, 'esbuild-out'), logLevel: 'silent', plugins: [pxpEsbuild({ cwd: dir, os: 'linux', arch: 'amd64' })] }),
    ).rejects.toThrow(/\[DESCRIPTOR_MALFORMED\] pxp build failed/)
  })
})
