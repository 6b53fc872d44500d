/**
 * `watch()`, behind `pxp build --watch`: one build, then a rebuild whenever the plugin tree or its
 * config changes, until `close()`. Every rebuild is a whole `build()` — config loaded again, every
 * stage run, the bytes a one-shot build would write — in a process whose modules, caches and page
 * cache are already warm, so a small change costs a fraction of starting pxp again.
 *
 * Like Rollup's watch mode, a failed build is reported and watching goes on (the next save may
 * fix it), changes that arrive during a build start one more build when it ends, and the output
 * directory is never watched (a build writing its own outputs must not trigger the next one).
 */
import { existsSync, statSync, type Stats } from 'node:fs'
import { relative, resolve, sep } from 'node:path'
import type { FSWatcher } from 'chokidar'
import { loadConfig } from '../config/load.js'
import { PxpError, toPxpError } from '../errors.js'
import { build, runPaths, type BuildOptions, type BuildResult } from './run.js'

export interface WatchOptions extends Omit<BuildOptions, 'resume' | 'signal'> {
  /** Quiet time after the last change before a rebuild starts, so one save is one build (ms). */
  delay?: number
  /** Called when a build starts; `changed` is empty for the first one. */
  onStart?: (event: { changed: string[] }) => void
  /** Called after every build: its result, or the error that stopped it before it had one. */
  onBuild?: (event: WatchEvent) => void
}

export interface WatchEvent {
  /** Paths (relative to the watched directory) whose change started this build; empty for the first. */
  changed: string[]
  result?: BuildResult
  /** A failure before the build had a result (an unreadable config, a missing --cwd…). */
  error?: PxpError
  durationMs: number
}

/** What a build reports about the paths to watch (BuildResult has them). */
type WatchedPaths = Pick<BuildResult, 'out' | 'root' | 'configFiles'>

export interface Watcher {
  /** Resolves once the first build is done and the tree is being watched. */
  ready: Promise<void>
  /** The last finished build, if any. */
  readonly last: WatchEvent | undefined
  /** Stops watching; a build in progress is interrupted (its outputs stay untouched). */
  close(): Promise<void>
}

const DEFAULT_DELAY = 20
/** Longer than chokidar's 50 ms window in which it drops repeated change events of one file. */
const RECHECK_AFTER = 80

export function watch(options: WatchOptions): Watcher {
  const cwd = resolve(options.cwd ?? process.cwd())
  const delay = options.delay ?? DEFAULT_DELAY
  const controller = new AbortController()
  const changed = new Set<string>()
  let files: FSWatcher | undefined
  let watchedRoots: string[] = []
  let out = resolve(cwd, 'dist')
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let last: WatchEvent | undefined
  let closed = false
  /** Files to look at again (see `recheck`), with the newest state of each known to be built. */
  const rechecks = new Map<string, { seen: Stats | undefined; timer: NodeJS.Timeout }>()

  const runOnce = async (): Promise<void> => {
    const paths = [...changed].sort()
    changed.clear()
    // This build reads every file as it is from now on: a look-again compares against now.
    for (const [path, pending] of rechecks) pending.seen = statSync(path, { throwIfNoEntry: false })
    options.onStart?.({ changed: paths })
    const started = performance.now()
    let event: WatchEvent
    try {
      const result = await build({ ...options, cwd, signal: controller.signal })
      event = { changed: paths, result, durationMs: Math.round(performance.now() - started) }
    } catch (thrown) {
      event = { changed: paths, error: toPxpError(thrown), durationMs: Math.round(performance.now() - started) }
    }
    if (closed) return
    last = event
    // A build that got as far as its config says what to watch now; a broken config changes nothing.
    // Reported once the watcher is set, so "watching" is true when the caller hears of the build.
    await (event.result ? follow(event.result) : following)
    options.onBuild?.(event)
  }

  // Runs a build now, or once the current one ends; never two at once.
  const schedule = () => {
    if (closed || running) return
    running = runOnce().finally(() => {
      running = undefined
      if (changed.size > 0) arm()
    })
  }
  const arm = () => {
    clearTimeout(timer)
    timer = setTimeout(schedule, delay)
  }

  const noticed = (path: string) => {
    if (within(path, out)) return // a build's own writes, seen before the watcher learnt of a new `out`
    changed.add(relative(cwd, path) || '.')
    if (!running) arm()
  }
  // chokidar drops a file's further change events for 50 ms after reporting one, so a second save
  // right after the first (or a tool writing a file twice) could go unnoticed while a build reads
  // the first version. One look after that window catches it. The look compares against the newest
  // state known to be built: chokidar's stat, or the file as it was when a build started since
  // (chokidar may have stat'ed a file between its truncation and its write, and the build that
  // started later read the whole file: another build would be the same one again).
  const recheck = (path: string, seen: Stats) => {
    clearTimeout(rechecks.get(path)?.timer)
    const timer = setTimeout(() => {
      const before = rechecks.get(path)?.seen
      rechecks.delete(path)
      if (!closed && !sameFile(before, statSync(path, { throwIfNoEntry: false }))) noticed(path)
    }, RECHECK_AFTER).unref()
    rechecks.set(path, { seen, timer })
  }

  // What to watch follows the config: its root, its files and its output directory may change.
  // One update at a time: the first (at start) may still be scanning when the first build ends.
  let following = Promise.resolve()
  const follow = (paths: WatchedPaths | undefined | Promise<WatchedPaths | undefined>) => (following = following.then(async () => updateWatched(await paths)))
  const updateWatched = async (paths: WatchedPaths | undefined) => {
    const previousOut = out
    out = paths?.out ?? resolve(cwd, 'dist')
    // A build that moved the output directory wrote the new one before the watcher knew to ignore
    // it: those writes are no change, and the watcher stops following it. The old one, if inside
    // the tree, is now an ordinary folder.
    for (const path of changed) if (within(resolve(cwd, path), out)) changed.delete(path)
    if (files && out !== previousOut) {
      files.unwatch(out)
      if (existsSync(previousOut) && watchedRoots.some((root) => within(previousOut, root))) files.add(previousOut)
    }
    const roots = [cwd, ...(paths ? [paths.root, ...paths.configFiles] : [])].filter((p) => existsSync(p) && !within(p, out))
    const wanted = roots.filter((p, i) => roots.indexOf(p) === i && !roots.some((q, j) => j !== i && q !== p && within(p, q)))
    if (!files) {
      // Loaded here: the programmatic API re-exports watch(), and one-shot builds need no watcher.
      const { watch: watchFiles } = await import('chokidar')
      files = watchFiles(wanted, { ignoreInitial: true, ignored: (path) => within(path, out) || /(^|[\\/])(\.git|node_modules)([\\/]|$)/.test(path) })
      files.on('all', (event, path, stats) => {
        noticed(path)
        if (event === 'change' && stats) recheck(path, stats)
      })
      files.on('error', (error) => options.logger?.warn(`Watching files failed: ${error instanceof Error ? error.message : String(error)}`))
      await new Promise<void>((resolveReady) => files!.once('ready', () => resolveReady()))
    } else {
      files.unwatch(watchedRoots.filter((p) => !wanted.includes(p)))
      files.add(wanted.filter((p) => !watchedRoots.includes(p)))
    }
    watchedRoots = wanted
  }

  // The tree is watched from the start (a save during the first build starts a second one), so
  // the config is read here once to learn the output directory the first build will write.
  const first = follow(loadConfig({ ...options, cwd, command: 'build' }).then(({ config }) => runPaths(config), () => undefined))
  schedule()
  const ready = Promise.all([first, running]).then(() => {})
  return {
    ready,
    get last() {
      return last
    },
    async close() {
      if (closed) return
      closed = true
      clearTimeout(timer)
      controller.abort(new PxpError('INTERRUPTED', 'Watch mode stopped.', { hint: 'Outputs from earlier builds are untouched.' }))
      await running
      await files?.close()
    },
  }
}

function sameFile(a: Stats | undefined, b: Stats | undefined): boolean {
  if (!a || !b) return a === b
  return a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.size === b.size
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep)
}
