/**
 * Runs hooks over the ordered plugin list. Order follows Vite: `enforce: 'pre'` plugins, normal,
 * `'post'`; inside one hook, an object hook's `order: 'pre' | 'post'` moves just that hook.
 */
import { fileSystemHint, PxpError } from '../errors.js'
import type { HookFilter, HookName, PluginContext, PluginHooks, PxpPlugin } from '../plugin-api.js'
import { HOOK_KINDS } from './hooks.js'
import { createFilter } from './filter.js'

type Handler<H extends HookName> = PluginHooks[H]
export interface BoundHook<H extends HookName> {
  plugin: PxpPlugin
  handler: Handler<H>
  matches: (path: string) => boolean
}

export type ContextFactory = (plugin: PxpPlugin, hook: HookName) => PluginContext

const RANK = { pre: 0, normal: 1, post: 2 } as const

/** Hooks running now, across drivers: named when the process ends with one still waiting. */
const inFlight = new Map<string, number>()
export function hooksInFlight(): string[] {
  return [...inFlight.keys()]
}

export class PluginDriver {
  readonly plugins: readonly PxpPlugin[]
  private readonly cache = new Map<HookName, BoundHook<any>[]>()

  constructor(plugins: PxpPlugin[], private readonly context: ContextFactory) {
    this.plugins = [...plugins].sort((a, b) => RANK[a.enforce ?? 'normal'] - RANK[b.enforce ?? 'normal'])
  }

  hooks<H extends HookName>(hook: H): BoundHook<H>[] {
    let bound = this.cache.get(hook)
    if (!bound) {
      const entries = this.plugins.flatMap((plugin) => {
        const value = plugin[hook] as unknown
        if (!value) return []
        const isObject = typeof value === 'object'
        const handler = (isObject ? (value as { handler: Handler<H> }).handler : value) as Handler<H>
        const order = (isObject ? (value as { order?: 'pre' | 'post' | null }).order : null) ?? 'normal'
        const filter = isObject ? (value as { filter?: HookFilter }).filter : undefined
        return [{ plugin, handler, matches: createFilter(filter), rank: RANK[order] }]
      })
      // Array.prototype.sort is stable, so plugins keep their order within a rank.
      bound = entries.sort((a, b) => a.rank - b.rank)
      this.cache.set(hook, bound)
    }
    return bound as BoundHook<H>[]
  }

  has(hook: HookName): boolean {
    return this.hooks(hook).length > 0
  }

  /** Calls one plugin's hook with its context, turning anything thrown into a PxpError that names the plugin and hook. */
  async call<H extends HookName>(bound: BoundHook<H>, hook: H, args: Parameters<Handler<H>>): Promise<Awaited<ReturnType<Handler<H>>>> {
    const ctx = this.context(bound.plugin, hook)
    const running = `plugin "${bound.plugin.name}" (${hook} hook)`
    inFlight.set(running, (inFlight.get(running) ?? 0) + 1)
    try {
      return await (bound.handler as (...a: unknown[]) => unknown).apply(ctx, args) as Awaited<ReturnType<Handler<H>>>
    } catch (error) {
      throw attribute(error, bound.plugin.name, hook)
    } finally {
      const left = inFlight.get(running)! - 1
      if (left > 0) inFlight.set(running, left)
      else inFlight.delete(running)
    }
  }

  /** Runs a hook according to its kind; `first` returns the first non-null result and the plugin that gave it. */
  async run<H extends HookName>(hook: H, ...args: Parameters<Handler<H>>): Promise<HookOutcome<H>> {
    const kind = HOOK_KINDS[hook]
    const hooks = this.hooks(hook)
    if (kind === 'first') {
      for (const bound of hooks) {
        const value = await this.call(bound, hook, args)
        if (value !== null && value !== undefined) return { value, plugin: bound.plugin, values: [value] }
      }
      return { values: [] }
    }
    if (kind === 'sequential') {
      const values = []
      for (const bound of hooks) values.push(await this.call(bound, hook, args))
      return { values }
    }
    const settled = await Promise.allSettled(hooks.map((bound) => this.call(bound, hook, args)))
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed) throw failed.reason
    return { values: settled.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<Handler<H>>>>).value) }
  }
}

export interface HookOutcome<H extends HookName> {
  value?: NonNullable<Awaited<ReturnType<Handler<H>>>>
  plugin?: PxpPlugin
  values: Array<Awaited<ReturnType<Handler<H>>>>
}

export function attribute(error: unknown, plugin: string, hook: string): PxpError {
  if (error instanceof PxpError) {
    error.plugin ??= plugin
    error.hook ??= hook
    return error
  }
  const message = error instanceof Error ? error.message : String(error)
  return new PxpError('PLUGIN_FAILED', `Plugin "${plugin}" failed in its ${hook} hook: ${message}`, {
    plugin,
    hook,
    cause: error,
    hint: fileSystemHint((error as NodeJS.ErrnoException | undefined)?.code) ?? `This is a bug or a misconfiguration in "${plugin}"; rerun with PXP_DEBUG=1 for the stack.`,
  })
}
