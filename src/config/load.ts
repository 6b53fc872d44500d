/**
 * Loads `px-plugin.config.*` through c12 (layers, `extends`, `$env` keys, `.env`), puts the PX_*
 * environment and the command-line flags on top, validates once and resolves every path.
 */
import { existsSync } from 'node:fs'
import { dirname, extname, isAbsolute, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createJiti } from 'jiti'
import { loadConfig as loadC12, SUPPORTED_EXTENSIONS } from 'c12'
import { configError, PxpError } from '../errors.js'
import { DEFAULT_MTIME } from '../bundle/layout.js'
import { envLayer } from './env.js'
import { mergeConfig } from './merge.js'
import { hostTarget } from './platform.js'
import { getPath, layerOf, validateConfig } from './validate.js'
import { importSpecifier, pxpAlias, splitSpecifier } from '../module-loader.js'
import { builtInPresetName, isPresetLike, loadBuiltInPreset } from './builtin-presets.js'
import defaultPreset from '../../presets/default/index.js'
import type { ConfigLayer, Preset, ResolvedConfig, UserConfig } from './types.js'

export interface LoadConfigOptions {
  cwd?: string
  /** Explicit config file (`--config`); must exist. */
  configFile?: string
  command?: ResolvedConfig['command']
  /** Values from command-line flags: the highest layer. Paths must already be absolute. */
  overrides?: UserConfig
  /** Env name for `$production`/`$development`/`$env` keys; default NODE_ENV. */
  envName?: string
  /** Approval reference for an unsigned build (`--approval`). */
  approval?: string
  env?: NodeJS.ProcessEnv
}

export interface LoadedConfig {
  config: ResolvedConfig
  /** The default preset, then the config's presets in declaration order. */
  presets: Preset[]
  /** The plugin options as written, resolved later by the host. */
  pluginOptions: unknown[]
  /** Directory relative plugin specifiers resolve against. */
  configDir: string
}

const PATH_KEYS: string[][] = [['root'], ['out'], ['trust'], ['artifactStore', 'dir']]
const SIGNER_PATH_KEYS = ['cert', 'key', 'chain', 'p12', 'clientCert', 'clientKey', 'ca']

export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env
  const cwd = resolve(options.cwd ?? process.cwd())
  if (!existsSync(cwd)) throw configError('CWD_NOT_FOUND', `The directory ${cwd} does not exist.`, { hint: 'Check --cwd.' })
  if (options.configFile && !existsSync(resolve(cwd, options.configFile))) {
    throw configError('CONFIG_NOT_FOUND', `Config file ${resolve(cwd, options.configFile)} does not exist.`, { file: options.configFile, hint: 'Check --config, or omit it to use px-plugin.config.ts in the working directory.' })
  }

  let loaded
  try {
    loaded = await loadC12<UserConfig>({
      name: 'px-plugin',
      cwd,
      ...(options.configFile && { configFile: resolve(cwd, options.configFile) }),
      dotenv: { cwd },
      envName: options.envName ?? env.NODE_ENV ?? 'production',
      rcFile: false,
      globalRc: false,
      packageJson: false,
      jitiOptions: { alias: pxpAlias() },
      resolve: (source, c12Options) => resolveFileLayer(source, c12Options.cwd ?? cwd, options.envName ?? env.NODE_ENV ?? 'production'),
      merger: mergeConfig as (...sources: Array<UserConfig | null | undefined>) => UserConfig,
    })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    throw configError('CONFIG_LOAD_FAILED', `Could not load the config: ${message.split('\n')[0]}`, {
      file: options.configFile ?? 'px-plugin.config.ts',
      hint: 'Fix the syntax or the import named above; `extends` entries must be files, directories or installed packages.',
      cause: error,
    })
  }

  const configFile = loaded.configFile && existsSync(loaded.configFile) ? loaded.configFile : undefined
  const fileLayers: Array<ConfigLayer & { cwd?: string }> = (loaded.layers ?? [])
    .filter((l) => l.config && (l.configFile || l.source))
    .map((l, i) => ({ source: (i === 0 && configFile) || layerFile(l.cwd ?? cwd, l.configFile ?? l.source ?? '<config>'), config: l.config as Record<string, unknown>, cwd: l.cwd }))
  const configDir = configFile ? dirname(configFile) : cwd

  const fromFiles = (loaded.config ?? {}) as UserConfig
  // Presets are layers below the project's files: a later preset overrides an earlier one.
  const presetLayers: Array<ConfigLayer & { cwd?: string }> = []
  const presets: Preset[] = [defaultPreset]
  for (const option of (fromFiles.presets ?? []) as unknown[]) {
    if (!option) continue
    let preset = option as Preset
    let presetDir = configDir
    if (typeof option === 'string' || Array.isArray(option)) {
      const [specifier, presetOptions] = splitSpecifier(option as string | [string, unknown])
      const builtIn = builtInPresetName(specifier)
      if (builtIn) {
        // Built-in presets: relative paths in them and in their options resolve against the config.
        preset = await loadBuiltInPreset(builtIn, presetOptions)
      } else {
        const { value, file } = await importSpecifier(specifier, configDir, 'preset', configFile)
        preset = (typeof value === 'function' ? await (value as (o: unknown) => Preset)(presetOptions) : value) as Preset
        if (file) presetDir = dirname(file)
      }
    }
    if (presets.includes(preset)) continue // e.g. 'default', which is always first
    if (!preset || typeof preset !== 'object' || typeof preset.name !== 'string') {
      throw configError('PRESET_INVALID', `A preset listed in ${configFile ?? 'the config'} is not a preset object { name, plugins?, config? }.`, { file: configFile, keyPath: 'presets', hint: 'Export definePreset({ name, plugins, config }).' })
    }
    presets.push(preset)
    if (preset.config) presetLayers.unshift({ source: `preset "${preset.name}"`, config: preset.config as Record<string, unknown>, cwd: presetDir })
  }
  const envResult = envLayer(env, fromFiles)
  const overrides = options.overrides ?? {}
  const layers: Array<ConfigLayer & { cwd?: string }> = [
    { source: '<command line>', config: overrides as Record<string, unknown>, cwd },
    { source: '<environment>', config: envResult.config as Record<string, unknown>, cwd },
    ...fileLayers,
    ...presetLayers,
  ]
  const merged = mergeConfig(overrides, envResult.config, fromFiles, ...presetLayers.map((l) => l.config)) as UserConfig & Record<string, unknown>
  if (!envResult.offlineImport) delete merged.offline

  validateConfig(merged, layers)

  // Relative paths resolve against the directory of the layer that set them.
  const baseOf = (segments: string[]) => {
    const source = layerOf(segments.join('.'), layers)
    const layer = layers.find((l) => l.source === source)
    return layer?.cwd ?? (isAbsolute(source) ? dirname(source) : configDir)
  }
  const abs = (segments: string[], value: string) => (isAbsolute(value) ? value : resolve(baseOf(segments), value))
  for (const segments of PATH_KEYS) {
    const value = getPath(merged, segments)
    if (typeof value === 'string') setPath(merged, segments, abs(segments, value))
    if (Array.isArray(value)) setPath(merged, segments, value.map((v) => abs(segments, String(v))))
  }
  for (const section of ['signer', 'artifactStore'] as const) {
    const value = merged[section]
    const entries = Array.isArray(value) ? value : value ? [value] : []
    entries.forEach((entry, i) => {
      const prefix = Array.isArray(value) ? [section, String(i)] : [section]
      for (const key of SIGNER_PATH_KEYS.concat('dir')) {
        const v = (entry as Record<string, unknown>)[key]
        if (typeof v === 'string' && (section === 'signer' || key === 'dir')) (entry as Record<string, unknown>)[key] = abs([...prefix, key], v)
      }
    })
  }

  const root = (merged.root as string | undefined) ?? configDir
  if (!existsSync(root)) {
    throw configError('ROOT_NOT_FOUND', `The plugin root ${root} does not exist.`, { keyPath: 'root', file: layerOf('root', layers), hint: 'Set `root` to the directory that holds plugin.yaml.' })
  }
  const offline = merged.offline ?? {}
  const targets = offline.targets?.length ? offline.targets : [hostTarget()]
  const sourceDateEpoch = parseSourceDateEpoch(env.SOURCE_DATE_EPOCH)

  const config: ResolvedConfig = {
    root,
    out: (merged.out as string | undefined) ?? resolve(root, 'dist'),
    configFile,
    envName: options.envName ?? env.NODE_ENV ?? 'production',
    command: options.command ?? 'build',
    offline: {
      targets,
      assets: offline.assets ?? [],
      ignore: offline.ignore ?? [],
      dereference: offline.dereference ?? false,
      secretPatterns: offline.secretPatterns ?? [],
      conventions: offline.conventions ?? 'warn',
      certExpiryWarnDays: offline.certExpiryWarnDays ?? 14,
    },
    signer: merged.signer,
    artifactStore: merged.artifactStore,
    sandbox: merged.sandbox,
    telemetry: merged.telemetry,
    alerts: merged.alerts,
    limits: merged.limits ?? {},
    trust: (merged.trust as string[] | undefined) ?? [],
    signing: { enabled: !envResult.signingDisabled, approval: options.approval ?? env.PX_SIGNING_APPROVAL },
    sourceDateEpoch,
    layers: layers.map(({ source, config }) => ({ source, config })),
    raw: merged,
  }
  return { config, presets, pluginOptions: (merged.plugins as unknown[] | undefined) ?? [], configDir }
}

/**
 * `extends` entries that are file paths. c12 resolves a relative file path against its own
 * directory a second time (`./team/base.config.ts` becomes `team/team/...`) and only warns when an
 * entry is missing; pxp resolves such entries itself and refuses a missing one.
 */
async function resolveFileLayer(source: string, fromDir: string, envName: string) {
  // A preset named in `extends` becomes a layer `{ presets: [it] }`, i.e. the same as listing it in
  // `presets` (built-in names, `pxp/presets/<name>`, or a package/file exporting a preset).
  if (builtInPresetName(source)) return presetLayer(source, fromDir)
  if (!/^(\.{1,2}\/|\/)/.test(source)) return npmPresetLayer(source, fromDir)
  if (!extname(source)) return null
  const file = resolve(fromDir, source)
  if (!existsSync(file)) {
    throw configError('CONFIG_EXTENDS_NOT_FOUND', `The config layer ${file} named in \`extends\` does not exist.`, { file, keyPath: 'extends', hint: 'Fix the path; it resolves against the file that extends it.' })
  }
  // Loaded afresh each time, like c12's own layers: `pxp build --watch` reloads the config on change.
  const jiti = createJiti(dirname(file) + '/', { interopDefault: true, moduleCache: false, alias: pxpAlias() })
  let config = (await jiti.import(file, { default: true })) as Record<string, any>
  if (typeof config === 'function') config = await (config as () => Record<string, any>)()
  if (isPresetLike(config)) return presetLayer(file, dirname(file))
  const envConfig = { ...config['$' + envName], ...config.$env?.[envName] }
  if (Object.keys(envConfig).length > 0) config = mergeConfig(envConfig, config)
  return { config, configFile: file, cwd: dirname(file), source: file }
}

function presetLayer(specifier: string, fromDir: string) {
  return { config: { presets: [specifier] }, configFile: undefined, cwd: fromDir, source: `preset ${specifier}` }
}

/** An npm package in `extends` that exports a preset (a config-layer package is left to c12). */
async function npmPresetLayer(source: string, fromDir: string) {
  if (/^[a-z][\w+.-]*:/i.test(source)) return null // gh:, https:, … — c12's remote layers
  let file: string
  try {
    const resolved = createJiti(fromDir + '/', { alias: pxpAlias() }).esmResolve(source)
    file = resolved.startsWith('file:') ? fileURLToPath(resolved) : resolved
  } catch {
    return null
  }
  try {
    const jiti = createJiti(dirname(file) + '/', { interopDefault: true, alias: pxpAlias() })
    let value = (await jiti.import(file, { default: true })) as unknown
    if (typeof value === 'function') value = await (value as () => unknown)()
    return isPresetLike(value) ? presetLayer(file, fromDir) : null
  } catch {
    return null // not a preset module: c12 loads it as a config layer and reports its own errors
  }
}

/** c12 names layers without their extension; find the real file so messages can point at it. */
function layerFile(dir: string, name: string): string {
  if (name.startsWith('preset ')) return name
  const base = resolve(dir, name)
  if (existsSync(base) && !base.endsWith('.config')) return base
  for (const ext of SUPPORTED_EXTENSIONS) if (existsSync(base + ext)) return base + ext
  return base
}

function parseSourceDateEpoch(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_MTIME
  if (!/^\d+$/.test(value)) {
    throw new PxpError('SOURCE_DATE_EPOCH_INVALID', `SOURCE_DATE_EPOCH must be whole seconds since 1970 (got "${value}").`, { exitCode: 2, hint: 'Use e.g. $(git log -1 --format=%ct).' })
  }
  return Number(value)
}

function setPath(target: Record<string, unknown>, segments: string[], value: unknown): void {
  let current = target
  for (const segment of segments.slice(0, -1)) current = current[segment] as Record<string, unknown>
  current[segments[segments.length - 1]!] = value
}
