/** Go duration strings (`300ms`, `5s`, `1m30s`, `1h`) as used by plugin.yaml and sandbox_limits.yaml. */
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y

/** Milliseconds, or undefined when the text is not a Go duration. Numbers are taken as seconds. */
export function parseGoDuration(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value * 1000
  if (typeof value !== 'string') return undefined
  const text = value.trim()
  if (text === '0') return 0
  if (text === '') return undefined
  let total = 0
  PART.lastIndex = 0
  let pos = 0
  while (pos < text.length) {
    PART.lastIndex = pos
    const m = PART.exec(text)
    if (!m) return undefined
    total += Number(m[1]) * UNIT_MS[m[2]!]!
    pos = PART.lastIndex
  }
  return Math.round(total)
}

export function durationOr(value: unknown, fallbackMs: number): number {
  return parseGoDuration(value) ?? fallbackMs
}
