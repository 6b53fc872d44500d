/**
 * Hook kinds as data (Rollup's PluginDriver idea): the driver needs no per-hook code, and the
 * lifecycle table of plugin-host.md is this object.
 */
import type { HookName } from '../plugin-api.js'

export type HookKind = 'first' | 'sequential' | 'parallel'

export const HOOK_KINDS = {
  configResolved: 'sequential',
  collect: 'parallel',
  transform: 'sequential',
  hash: 'first',
  resolveSigner: 'first',
  sign: 'first',
  emit: 'sequential',
  upload: 'parallel',
  install: 'first',
  buildEnd: 'parallel',
} as const satisfies Record<HookName, HookKind>
