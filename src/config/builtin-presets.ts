/**
 * The presets that ship with pxp, by name. Precedence of a preset specifier (in `presets` and in
 * `extends`):
 *   1. `./x`, `../x`, `/x`        a local file (resolved against the config file's directory)
 *   2. `pxp/presets/<name>`       the built-in preset <name>
 *   3. a bare built-in name       (`default`, `powerx-intranet`, `aws`, `aliyun`) the built-in preset;
 *                                 built-in names are reserved, so an npm package with such a name
 *                                 must be referenced by path
 *   4. anything else              an npm package, resolved from the project
 */
import type { Preset } from './types.js'

type PresetModule = { default: Preset | ((options?: any) => Preset | Promise<Preset>) }

// Static imports, so bundlers, vitest and tsc all see them; each loads only when named.
const BUILT_IN_PRESETS: Record<string, () => Promise<PresetModule>> = {
  default: () => import('../../presets/default/index.js'),
  'powerx-intranet': () => import('../../presets/powerx-intranet/index.js'),
  aws: () => import('../../presets/aws/index.js'),
  aliyun: () => import('../../presets/aliyun/index.js'),
}

export const BUILT_IN_PRESET_NAMES = Object.keys(BUILT_IN_PRESETS)

/** The built-in preset name a specifier means, or undefined for files and npm packages. */
export function builtInPresetName(specifier: string): string | undefined {
  const name = specifier.startsWith('pxp/presets/') ? specifier.slice('pxp/presets/'.length).replace(/\/(index(\.[cm]?[jt]s)?)?$/, '') : specifier
  return Object.hasOwn(BUILT_IN_PRESETS, name) ? name : undefined
}

/** Loads a built-in preset, calling its factory with `options`. */
export async function loadBuiltInPreset(name: string, options?: unknown): Promise<Preset> {
  const load = BUILT_IN_PRESETS[name]
  if (!load) throw new Error(`No built-in preset "${name}"`)
  const value = (await load()).default
  return typeof value === 'function' ? await value(options) : value
}

/** A module's default export looks like a preset (`{ name, plugins?, config? }`), not a config. */
export function isPresetLike(value: unknown): value is Preset {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false
  const v = value as Record<string, unknown>
  if (typeof v.name !== 'string') return false
  if (!('config' in v) && !('plugins' in v)) return false
  return Object.keys(v).every((k) => k === 'name' || k === 'config' || k === 'plugins' || k === 'description')
}
