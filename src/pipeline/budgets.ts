/**
 * Size budgets (published PowerX limits: backend 200 MiB, frontend 100 MiB, whole package 300 MiB).
 * Backend and frontend are checked on uncompressed sizes right after hashing, so an oversize build
 * stops before compressing anything; the bundle budget is checked on the `.pxp` before it is
 * committed, so a refused bundle never replaces the last good one.
 */
import { PxpError } from '../errors.js'
import type { IntegrityEntry, ResolvedConfig } from '../plugin-api.js'

const MiB = 1024 * 1024
export const DEFAULT_LIMITS = { maxBundleBytes: 300 * MiB, maxBackendBytes: 200 * MiB, maxFrontendBytes: 100 * MiB }

export type Budget = 'bundle' | 'backend' | 'frontend'

export interface SizeSummary {
  uncompressed_bytes: number
  by_folder: Record<string, number>
  largest_files: Array<{ path: string; size: number }>
}

export function summariseSizes(entries: readonly IntegrityEntry[]): SizeSummary {
  const byFolder: Record<string, number> = {}
  let total = 0
  for (const e of entries) {
    const folder = e.path.includes('/') ? e.path.slice(0, e.path.indexOf('/')) : '.'
    byFolder[folder] = (byFolder[folder] ?? 0) + e.size
    total += e.size
  }
  const largest = [...entries].sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1)).slice(0, 10).map(({ path, size }) => ({ path, size }))
  return { uncompressed_bytes: total, by_folder: Object.fromEntries(Object.entries(byFolder).sort()), largest_files: largest }
}

export interface BudgetBreach { budget: Budget; size: number; limit: number; mode: 'warn' | 'fail'; message: string }

export function checkBudget(config: ResolvedConfig, budget: Budget, size: number): BudgetBreach | undefined {
  const key = budget === 'bundle' ? 'maxBundleBytes' : budget === 'backend' ? 'maxBackendBytes' : 'maxFrontendBytes'
  const limit = config.limits[key] ?? DEFAULT_LIMITS[key]
  if (size <= limit) return undefined
  const onExceed = config.limits.onExceed
  const mode = typeof onExceed === 'object' ? onExceed[budget] ?? 'fail' : onExceed ?? 'fail'
  const what = budget === 'bundle' ? 'The bundle' : budget === 'backend' ? 'backend/' : 'web-admin/'
  return { budget, size, limit, mode, message: `${what} is ${mb(size)}, over the ${budget} budget of ${mb(limit)} (limits.${key}).` }
}

export function budgetError(breach: BudgetBreach): PxpError {
  return new PxpError('SIZE_BUDGET_EXCEEDED', breach.message, {
    hint: `Shrink it (see largest_files in report.json), or raise limits.${breach.budget === 'bundle' ? 'maxBundleBytes' : breach.budget === 'backend' ? 'maxBackendBytes' : 'maxFrontendBytes'} / set limits.onExceed to "warn" if PowerX Core accepts it.`,
    details: { budget: breach.budget, size: breach.size, limit: breach.limit },
  })
}

const mb = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`
