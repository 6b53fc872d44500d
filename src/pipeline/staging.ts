/**
 * Housekeeping of `<out>/.tmp` (staging of runs), `<out>/.cache` and `<out>/.trash` (bundles
 * replaced by a newer build, deleted by the next run). Successful runs remove their
 * staging; failed runs keep theirs, with the failure report, for forensics and `--resume` — the
 * newest few are kept automatically and `pxp clean` removes the rest.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'

export const KEEP_FAILED_RUNS = 3

/** Staging directories of earlier runs, oldest first (run ids start with an ISO timestamp). */
export function stagedRuns(out: string): string[] {
  const dir = join(out, '.tmp')
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(dir, d.name)).sort()
}

const DAY_MS = 86_400_000

/**
 * Removes all but the newest `keep` failed-run staging directories. Only finished runs count (they
 * leave report.json behind) or runs a day old: another build may be writing into the same output
 * directory right now, and its staging is not ours to delete.
 */
export function pruneStaging(out: string, currentRun: string, keep = KEEP_FAILED_RUNS): void {
  const finished = stagedRuns(out).filter((d) => !d.endsWith(currentRun) && (existsSync(join(d, 'report.json')) || ageMs(d) > DAY_MS))
  for (const dir of finished.slice(0, Math.max(0, finished.length - keep))) rmSync(dir, { recursive: true, force: true })
}

/** A concurrent run that succeeded removes its staging between our listing and our look. */
function ageMs(dir: string): number {
  const info = statSync(dir, { throwIfNoEntry: false })
  return info ? Date.now() - info.mtimeMs : 0
}

export interface CleanItem { path: string; bytes: number }

export function cleanTargets(out: string): CleanItem[] {
  return [join(out, '.tmp'), join(out, '.cache'), join(out, '.trash')].filter(existsSync).map((path) => ({ path, bytes: du(path) }))
}

function du(path: string): number {
  const info = statSync(path)
  if (!info.isDirectory()) return info.size
  return readdirSync(path).reduce((n, name) => n + du(join(path, name)), 0)
}
