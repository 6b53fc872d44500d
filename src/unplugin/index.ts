/**
 * `pxp/unplugin`: lets a Vite/Rollup/webpack/esbuild build of the admin UI end with a `.pxp`
 * bundle. After the bundler has written its output (with source maps, when it makes them), pxp's
 * `build()` runs on the plugin repository with that output as the admin UI
 * (`frontend.admin.static_dir` of plugin.yaml, default `web-admin/.output/public`):
 *
 * - when the bundler writes straight into that directory, pxp collects it like any other file;
 * - otherwise a small pxp plugin adds the bundler's files under that path.
 *
 * A failed pxp build fails the bundler build with pxp's error code and hint.
 */
import { existsSync, readFileSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { createUnplugin, type UnpluginInstance } from 'unplugin'
import { parse as parseYaml } from 'yaml'
import { build, type BuildOptions, type BuildResult } from '../pipeline/run.js'
import { PxpError } from '../errors.js'
import type { PxpPlugin } from '../plugin-api.js'
import type { UserConfig } from '../config/types.js'

export interface PxpUnpluginOptions {
  /** The plugin repository (plugin.yaml, px-plugin.config.ts). Default: the nearest directory up from the bundler's root that has plugin.yaml. */
  cwd?: string
  /** Config file, relative to `cwd` (default px-plugin.config.ts). */
  config?: string
  /** The bundler's output directory, when it cannot be read from the bundler's own options. */
  outputDir?: string
  /** Archive directory for the admin UI. Default: plugin.yaml `frontend.admin.static_dir`, else `web-admin/.output/public`. */
  staticDir?: string
  /** Keep `*.map` files in the bundle (default true). */
  sourcemaps?: boolean
  /** Extra config layer (highest), e.g. `{ out: 'dist-pxp' }`. */
  overrides?: UserConfig
  /** Only these targets (default: the config's). */
  os?: string
  arch?: string
  /** Upload/install steps of the config (default false: a bundler build only packs). */
  upload?: boolean
  install?: boolean
  /** Set false to skip pxp (e.g. in watch mode); default true. */
  enabled?: boolean
  /** Called with the build result. */
  onResult?: (result: BuildResult) => void | Promise<void>
}

const DEFAULT_STATIC_DIR = 'web-admin/.output/public'

/** Finds the plugin repository: the nearest directory up from `start` with plugin.yaml. */
export function findPluginRoot(start: string): string | undefined {
  let dir = resolve(start)
  for (;;) {
    if (existsSync(join(dir, 'plugin.yaml'))) return dir
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

function staticDirOf(root: string): string {
  try {
    const doc = parseYaml(readFileSync(join(root, 'plugin.yaml'), 'utf8')) as { frontend?: { admin?: { static_dir?: unknown } } }
    const dir = doc?.frontend?.admin?.static_dir
    if (typeof dir === 'string' && dir.length > 0) return dir.replace(/^\.\//, '').replace(/\/+$/, '')
  } catch {
    // plugin.yaml problems are reported by pxp build itself
  }
  return DEFAULT_STATIC_DIR
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name))
  }
  return out.sort()
}

/** A pxp plugin that adds the bundler's output under `staticDir`. */
export function bundlerOutputPlugin(outputDir: string, staticDir: string): PxpPlugin {
  return {
    name: 'pxp:bundler-output',
    async collect() {
      if (!existsSync(outputDir) || !(await stat(outputDir)).isDirectory()) {
        this.error({ code: 'BUNDLER_OUTPUT_MISSING', message: `The bundler's output directory ${outputDir} does not exist.`, hint: 'Set outputDir in the pxp bundler plugin options.', exitCode: 2 })
      }
      const files = await listFiles(outputDir)
      for (const file of files) {
        this.addFile({ path: `${staticDir}/${relative(outputDir, file).split(sep).join('/')}`, source: file, role: 'frontend' })
      }
      this.report({ outputDir, files: files.length })
    },
  }
}

function dropSourceMaps(staticDir: string): PxpPlugin {
  return {
    name: 'pxp:drop-sourcemaps',
    transform: { filter: { include: [`${staticDir}/**/*.map`] }, handler: () => null },
  }
}

/** Runs pxp's build on the repository with the bundler's output; throws when the build fails. */
export async function buildWithBundlerOutput(options: PxpUnpluginOptions, bundlerRoot: string, outputDir: string | undefined): Promise<BuildResult> {
  const cwd = resolve(options.cwd ?? findPluginRoot(bundlerRoot) ?? bundlerRoot)
  const staticDir = options.staticDir ?? staticDirOf(cwd)
  const plugins: PxpPlugin[] = []
  const out = outputDir ? resolve(bundlerRoot, outputDir) : undefined
  if (out && out !== resolve(cwd, staticDir)) plugins.push(bundlerOutputPlugin(out, staticDir))
  if (options.sourcemaps === false) plugins.push(dropSourceMaps(staticDir))
  const overrides: UserConfig = { ...options.overrides }
  if (plugins.length > 0) overrides.plugins = [...((options.overrides?.plugins as unknown[]) ?? []), ...plugins] as UserConfig['plugins']
  const buildOptions: BuildOptions = {
    cwd,
    configFile: options.config,
    overrides,
    os: options.os,
    arch: options.arch,
    upload: options.upload ?? false,
    install: options.install ?? false,
  }
  const result = await build(buildOptions)
  await options.onResult?.(result)
  if (!result.ok) {
    const first = result.errors[0]!
    throw new PxpError(first.error.code, `[${first.error.code}] pxp build failed for ${first.target}: ${first.error.message}`, { hint: first.error.hint, cause: first.error, exitCode: first.error.exitCode })
  }
  return result
}

function summary(result: BuildResult): string {
  return result.targets.map((t) => `pxp: ${t.bundle?.path ?? '(no bundle)'}`).join('\n')
}

export const unpluginFactory = (options: PxpUnpluginOptions = {}) => {
  let root = process.cwd()
  let outputDir = options.outputDir
  let written = false
  let failed = false
  const enabled = options.enabled !== false
  const run = async (log: (message: string) => void = (m) => process.stderr.write(m + '\n')) => {
    if (!enabled) return
    const result = await buildWithBundlerOutput(options, root, outputDir)
    log(summary(result))
  }
  return {
    name: 'pxp',
    enforce: 'post' as const,
    vite: {
      apply: 'build' as const,
      configResolved(config: { root: string; build: { outDir: string; watch?: unknown } }) {
        root = config.root
        outputDir ??= resolve(config.root, config.build.outDir)
      },
      buildEnd(error?: Error) {
        failed = Boolean(error)
      },
      writeBundle() {
        written = true
      },
      async closeBundle() {
        if (!written || failed) return
        written = false
        await run()
      },
    },
    rollup: {
      buildEnd(error?: Error) {
        failed = Boolean(error)
      },
      writeBundle(output: { dir?: string; file?: string }) {
        outputDir ??= output.dir ?? (output.file ? dirname(output.file) : undefined)
        written = true
      },
      async closeBundle() {
        if (!written || failed) return
        written = false
        await run()
      },
    },
    webpack(compiler: any) {
      root = compiler.options?.context ?? root
      compiler.hooks.afterEmit.tapPromise('pxp', async (compilation: any) => {
        if (compilation.errors?.length) return
        outputDir ??= compiler.outputPath
        await run()
      })
    },
    esbuild: {
      setup(build: any) {
        root = build.initialOptions.absWorkingDir ?? root
        build.onEnd(async (result: { errors: unknown[] }) => {
          if (result.errors.length > 0) return
          const initial = build.initialOptions
          outputDir ??= initial.outdir ?? (initial.outfile ? dirname(initial.outfile) : undefined)
          try {
            await run()
          } catch (error) {
            return { errors: [{ text: error instanceof Error ? error.message : String(error), detail: error }] }
          }
        })
      },
    },
  }
}

export const pxpUnplugin: UnpluginInstance<PxpUnpluginOptions | undefined, false> = createUnplugin(unpluginFactory as any)
export default pxpUnplugin
