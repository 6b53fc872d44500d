/**
 * Upload progress on stderr (cli.md): a redrawn bar with bytes, rate and ETA when stderr is a TTY,
 * one plain line every few seconds otherwise (CI logs stay readable), nothing at all with `--json`
 * or when switched off. Bytes that were already in the store (a resumed upload, an object that
 * exists) count towards the total but not towards the rate, so the ETA stays honest.
 */

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'off'

export interface ProgressOptions {
  label: string
  /** Total bytes expected, including bytes that will be skipped. */
  total: number
  mode?: ProgressMode
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  /** Plain-line interval (ms), default 5000. */
  intervalMs?: number
  now?: () => number
}

export interface ProgressReporter {
  /** Bytes sent now. */
  advance(bytes: number): void
  /** Bytes that did not need sending (already in the store). */
  skip(bytes: number): void
  /** Final line; stops the timer. */
  finish(outcome?: 'done' | 'failed'): void
  readonly transferred: number
}

/** Environment override: PXP_PROGRESS=off|lines|bar. */
export function resolveProgressMode(requested: ProgressMode | boolean | undefined, env: NodeJS.ProcessEnv = process.env): ProgressMode {
  if (requested === false) return 'off'
  const fromEnv = env.PXP_PROGRESS
  if (fromEnv === 'off' || fromEnv === 'lines' || fromEnv === 'bar') return fromEnv
  if (requested === undefined || requested === true) return 'auto'
  return requested
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--'
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

const silent: ProgressReporter = { advance() {}, skip() {}, finish() {}, transferred: 0 }

export function createProgress(options: ProgressOptions): ProgressReporter {
  const stream = options.stream ?? process.stderr
  let mode = options.mode ?? 'auto'
  if (mode === 'auto') mode = stream.isTTY ? 'bar' : 'lines'
  if (mode === 'off') return { ...silent }

  const now = options.now ?? Date.now
  const started = now()
  const total = Math.max(0, options.total)
  let sent = 0
  let skipped = 0
  let lastDraw = 0
  let finished = false

  const summary = () => {
    const done = Math.min(total, sent + skipped)
    const elapsed = Math.max(0.001, (now() - started) / 1000)
    const rate = sent / elapsed
    const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY
    const percent = total > 0 ? Math.floor((done / total) * 100) : 100
    return { done, rate, eta, percent }
  }

  const line = () => {
    const { done, rate, eta, percent } = summary()
    return `${options.label}: ${percent}% ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s ETA ${formatDuration(eta)}`
  }

  const drawBar = () => {
    const { percent } = summary()
    const width = 24
    const filled = Math.round((percent / 100) * width)
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`
    const text = `${bar} ${line()}`
    const columns = stream.columns || 100
    stream.write(`\r\x1b[K${text.slice(0, Math.max(20, columns - 1))}`)
  }

  const intervalMs = options.intervalMs ?? 5_000
  // The timer keeps a stalled upload visible (the rate drops, the ETA grows) without holding the process open.
  const timer = setInterval(() => (mode === 'bar' ? drawBar() : stream.write(line() + '\n')), mode === 'bar' ? 500 : intervalMs)
  timer.unref()

  const onChange = () => {
    if (mode !== 'bar') return
    const t = now()
    if (t - lastDraw >= 100) {
      lastDraw = t
      drawBar()
    }
  }

  return {
    advance(bytes) {
      sent += bytes
      onChange()
    },
    skip(bytes) {
      skipped += bytes
      onChange()
    },
    finish(outcome = 'done') {
      if (finished) return
      finished = true
      clearInterval(timer)
      if (mode === 'bar') {
        drawBar()
        stream.write('\n')
      }
      // The last line is a summary: what was sent, what was already there, how fast.
      const elapsed = Math.max(0.001, (now() - started) / 1000)
      const parts = [`${formatBytes(sent)} sent in ${formatDuration(elapsed)}`]
      if (sent > 0) parts.push(`${formatBytes(sent / elapsed)}/s`)
      if (skipped > 0) parts.push(`${formatBytes(skipped)} already stored`)
      stream.write(`${options.label}: ${outcome === 'failed' ? 'failed' : 'done'}, ${parts.join(', ')}\n`)
    },
    get transferred() {
      return sent
    },
  }
}
