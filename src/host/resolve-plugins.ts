/**
 * Turns presets and the config's `plugins` into one list of plugin objects: the default preset,
 * then each preset in declaration order, then the project's own plugins. The driver then applies
 * `enforce`; `apply` filters here.
 */
import { configError } from '../errors.js'
import { importSpecifier, splitSpecifier } from '../module-loader.js'
import type { Command, PluginFactory, PxpPlugin, ResolvedConfig } from '../plugin-api.js'
import type { Preset } from '../config/types.js'

export interface ResolvePluginsInput {
  config: ResolvedConfig
  presets: Preset[]
  pluginOptions: unknown[]
  configDir: string
}

export async function resolvePlugins(input: ResolvePluginsInput): Promise<PxpPlugin[]> {
  const plugins: PxpPlugin[] = []
  const add = async (option: unknown, origin: string): Promise<void> => {
    if (!option) return
    if (isSpecifierTuple(option) || typeof option === 'string') {
      const [specifier, options] = splitSpecifier(option as string | [string, unknown])
      const { value } = await importSpecifier(specifier, input.configDir, 'plugin', input.config.configFile)
      return add(typeof value === 'function' ? await (value as PluginFactory)(options) : value, specifier)
    }
    if (Array.isArray(option)) {
      for (const item of option) await add(item, origin)
      return
    }
    if (typeof option === 'function') return add(await (option as PluginFactory)(), origin)
    const plugin = option as PxpPlugin
    if (typeof plugin !== 'object' || typeof plugin.name !== 'string' || plugin.name === '') {
      throw configError('PLUGIN_INVALID', `A plugin from ${origin} is not a plugin object: it needs a string \`name\` and hooks.`, {
        file: input.config.configFile,
        keyPath: 'plugins',
        hint: 'Export a plugin object or a factory returning one (definePlugin from "pxp").',
      })
    }
    plugins.push(plugin)
  }

  for (const preset of input.presets) {
    const list = typeof preset.plugins === 'function' ? await preset.plugins(input.config.raw) : preset.plugins
    await add(list ?? [], `preset "${preset.name}"`)
  }
  await add(input.pluginOptions, input.config.configFile ?? 'the config')
  return plugins.filter((p) => applies(p, input.config))
}

const isSpecifierTuple = (option: unknown): boolean =>
  Array.isArray(option) && option.length === 2 && typeof option[0] === 'string' && typeof option[1] === 'object' && option[1] !== null && !Array.isArray(option[1])

function applies(plugin: PxpPlugin, config: ResolvedConfig): boolean {
  const apply = plugin.apply
  if (apply === undefined) return true
  if (typeof apply === 'function') return apply(config)
  return (Array.isArray(apply) ? apply : [apply]).includes(config.command as Command)
}
