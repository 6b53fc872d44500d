/**
 * telemetry-http: after each target of a run, POSTs the offline.dist.* metrics to
 * `<telemetry.url>/telemetry/offline-dist`. Config:
 *
 *   telemetry: { url, timeoutMs?: 1500, tokenEnv?, flushBudgetMs?: 3000, maxSpooled?: 500 }
 *
 * Sending never slows or fails a build: one attempt with a short timeout, no in-band retries; a
 * payload that could not be delivered is spooled as a JSON file under `<out>/.telemetry/` and the
 * next run flushes the spool in the background (bounded by `flushBudgetMs`, awaited before the
 * run's first buildEnd returns). Every failure is logged and swallowed.
 *
 * The run's telemetry id is reported early (`plugins.telemetry-http.telemetryId` in report.json) and
 * travels in every payload, so a dashboard row and a bundle's report can be matched.
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { configError, definePlugin, failureReason, postJson, redactValue, toolName, toolVersion, type BuildEndInfo, type PluginContext, type ResolvedConfig } from '../../src/plugin-api.js'

export const TELEMETRY_PATH = '/telemetry/offline-dist'
export const SPOOL_DIR = '.telemetry'
export const METRICS = {
  duration: 'offline.dist.duration_ms',
  size: 'offline.dist.size_bytes',
  failures: 'offline.dist.failures_total',
  retries: 'offline.dist.upload.retry_count',
} as const

interface TelemetryOptions {
  url: string
  timeoutMs: number
  flushBudgetMs: number
  maxSpooled: number
  /** The `Authorization` header value (from tokenEnv, or user info in the URL), never logged. */
  authorization?: string
}

export interface TelemetryPayload {
  schema: 'pxp.telemetry.offline-dist/v1'
  telemetryId: string
  runId: string
  timestamp: string
  ok: boolean
  tags: { pluginId: string; version: string; target: string; signer: string; store: string; telemetry_id: string }
  metrics: Array<{ name: string; value: number; type: 'gauge' | 'counter' }>
  error?: { code: string; plugin?: string; hook?: string }
  tool: { name: string; version: string }
}

interface Spooled { spooledAt: string; attempts: number; payload: TelemetryPayload }

const DEFAULT_TIMEOUT_MS = 1_500
const DEFAULT_FLUSH_BUDGET_MS = 3_000
const DEFAULT_MAX_SPOOLED = 500
/** A claim (file being sent by another run) older than this is considered abandoned. */
const STALE_CLAIM_MS = 10 * 60_000

function resolveOptions(config: ResolvedConfig): TelemetryOptions {
  const section = (config.telemetry ?? {}) as Record<string, unknown>
  const raw = section.url
  const file = config.configFile
  let url: URL
  try {
    url = new URL(String(raw))
  } catch {
    throw configError('TELEMETRY_CONFIG', `telemetry.url is not a URL (got ${JSON.stringify(raw)}).`, { keyPath: 'telemetry.url', file, hint: 'Use the base URL of the telemetry service, e.g. https://metrics.example.com; pxp posts to /telemetry/offline-dist under it.' })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw configError('TELEMETRY_CONFIG', `telemetry.url must be http(s), got ${url.protocol}`, { keyPath: 'telemetry.url', file })
  }
  const positive = (key: string, fallback: number) => {
    const value = section[key]
    if (value === undefined) return fallback
    if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
      throw configError('TELEMETRY_CONFIG', `telemetry.${key} must be a positive number (got ${JSON.stringify(value)}).`, { keyPath: `telemetry.${key}`, file })
    }
    return value
  }
  const tokenEnv = typeof section.tokenEnv === 'string' ? section.tokenEnv : undefined
  const token = tokenEnv ? process.env[tokenEnv] || undefined : undefined
  // fetch refuses URLs with user info: it becomes a Basic header (and is redacted like a token).
  const basic = url.username || url.password ? Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64') : undefined
  url.username = ''
  url.password = ''
  return {
    url: endpointOf(url),
    timeoutMs: positive('timeoutMs', DEFAULT_TIMEOUT_MS),
    flushBudgetMs: positive('flushBudgetMs', DEFAULT_FLUSH_BUDGET_MS),
    maxSpooled: positive('maxSpooled', DEFAULT_MAX_SPOOLED),
    authorization: token ? `Bearer ${token}` : basic ? `Basic ${basic}` : undefined,
  }
}

/** `<base>/telemetry/offline-dist`, keeping a base path (`https://host/ingest` → `/ingest/telemetry/offline-dist`). */
export function endpointOf(base: URL): string {
  const url = new URL(base.href)
  url.pathname = url.pathname.replace(/\/+$/, '') + TELEMETRY_PATH
  return url.href
}

/** What logs may show of an endpoint: scheme, host and path, never user info or a query string. */
export function displayUrl(href: string): string {
  try {
    const url = new URL(href)
    return `${url.protocol}//${url.host}${url.pathname}`
  } catch {
    return '<invalid url>'
  }
}

export function buildPayload(info: BuildEndInfo, telemetryId: string, startedAt: number | undefined, config: ResolvedConfig): TelemetryPayload {
  const r = info.result
  const durations = Object.values(r?.durations ?? {})
  const duration = startedAt !== undefined ? Math.round(performance.now() - startedAt) : durations.reduce((a, b) => a + b, 0)
  const retries = (r?.metrics ?? []).filter((m) => m.name === METRICS.retries).reduce((n, m) => n + m.value, 0)
  const uploadedStores = [...new Set((r?.uploads ?? []).map((u) => u.store))]
  const configuredStores = (Array.isArray(config.artifactStore) ? config.artifactStore : config.artifactStore ? [config.artifactStore] : []).map((s) => String(s.type))
  const store = (uploadedStores.length > 0 ? uploadedStores : configuredStores).join(',') || 'none'
  return {
    schema: 'pxp.telemetry.offline-dist/v1',
    telemetryId,
    runId: r?.runId ?? '',
    timestamp: new Date().toISOString(),
    ok: info.ok,
    tags: {
      pluginId: r?.pluginId || 'unknown',
      version: r?.version || 'unknown',
      target: `${info.target.os}-${info.target.arch}`,
      signer: r?.signer?.signer ?? (r?.signingPolicy && r.signingPolicy !== 'signed' ? r.signingPolicy : 'none'),
      store,
      telemetry_id: telemetryId,
    },
    metrics: [
      { name: METRICS.duration, value: duration, type: 'gauge' },
      { name: METRICS.size, value: r?.bundle?.size ?? 0, type: 'gauge' },
      { name: METRICS.failures, value: info.ok ? 0 : 1, type: 'counter' },
      { name: METRICS.retries, value: retries, type: 'counter' },
    ],
    ...(info.error && { error: { code: info.error.code, ...(info.error.plugin && { plugin: info.error.plugin }), ...(info.error.hook && { hook: info.error.hook }) } }),
    tool: { name: toolName, version: toolVersion },
  }
}

/** One attempt, bounded by `timeoutMs`; throws on a network error, a timeout or a non-2xx answer. */
function post(options: TelemetryOptions, payload: TelemetryPayload, spooled = false): Promise<void> {
  return postJson(options.url, redactValue(payload), {
    timeoutMs: options.timeoutMs,
    headers: { ...(options.authorization && { authorization: options.authorization }), ...(spooled && { 'x-pxp-spooled': '1' }) },
  })
}

const reason = failureReason

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, file)
}

export function spoolDir(config: ResolvedConfig): string {
  return join(config.out, SPOOL_DIR)
}

function spool(ctx: PluginContext, options: TelemetryOptions, payload: TelemetryPayload, attempts: number): void {
  try {
    const dir = spoolDir(ctx.config)
    mkdirSync(dir, { recursive: true })
    const files = pending(dir)
    // Bounded: the oldest payloads go first when the endpoint has been down for a long time.
    for (const old of files.slice(0, Math.max(0, files.length - options.maxSpooled + 1))) rmSync(join(dir, old), { force: true })
    const name = `${payload.timestamp.replace(/[:.]/g, '-')}-${payload.telemetryId.slice(0, 8)}-${payload.tags.target}-${process.pid}.json`
    const record: Spooled = { spooledAt: new Date().toISOString(), attempts, payload }
    writeAtomic(join(dir, name), JSON.stringify(redactValue(record)) + '\n')
    ctx.logger.debug(`telemetry spooled to ${join(SPOOL_DIR, name)}`)
  } catch (error) {
    ctx.logger.warn(`telemetry: could not spool the payload (${reason(error)}); it is dropped.`)
  }
}

/** Spooled payloads in send order (names start with the timestamp). */
function pending(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  } catch {
    return []
  }
}

/**
 * Sends spooled payloads oldest first until the spool is empty, the budget is spent or the endpoint
 * fails (then the rest waits for the next run). Each file is claimed by renaming it, so two runs
 * sharing an output directory never send the same payload twice.
 */
export async function flushSpool(ctx: PluginContext, options: TelemetryOptions, runId: string): Promise<{ sent: number; left: number; failed: boolean }> {
  const dir = spoolDir(ctx.config)
  reclaimStale(dir)
  const deadline = performance.now() + options.flushBudgetMs
  let sent = 0
  let failed = false
  for (const name of pending(dir)) {
    if (performance.now() >= deadline) break
    const file = join(dir, name)
    const claimed = `${file}.claim-${runId}`
    try {
      renameSync(file, claimed)
    } catch {
      continue // another run took it
    }
    let record: Spooled
    try {
      record = JSON.parse(readFileSync(claimed, 'utf8')) as Spooled
      if (!record?.payload?.telemetryId) throw new Error('not a spooled payload')
    } catch {
      ctx.logger.warn(`telemetry: dropping unreadable spool file ${join(SPOOL_DIR, name)}`)
      rmSync(claimed, { force: true })
      continue
    }
    try {
      const remaining = Math.max(100, Math.min(options.timeoutMs, deadline - performance.now()))
      await post({ ...options, timeoutMs: remaining }, record.payload, true)
      rmSync(claimed, { force: true })
      sent++
    } catch (error) {
      record.attempts = (record.attempts ?? 1) + 1
      try {
        writeAtomic(file, JSON.stringify(record) + '\n')
        rmSync(claimed, { force: true })
      } catch {
        renameSync(claimed, file)
      }
      ctx.logger.info(`telemetry: ${displayUrl(options.url)} still unreachable (${reason(error)}); ${pending(dir).length} payload(s) stay spooled.`)
      failed = true
      break
    }
  }
  return { sent, left: pending(dir).length, failed }
}

function reclaimStale(dir: string): void {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    const match = /^(.*\.json)\.claim-.+$/.exec(name)
    if (!match) continue
    try {
      if (Date.now() - statSync(join(dir, name)).mtimeMs > STALE_CLAIM_MS) renameSync(join(dir, name), join(dir, match[1]!))
    } catch {
      // Raced with its owner finishing: nothing to do.
    }
  }
}

export default definePlugin(() => {
  let options: TelemetryOptions
  let telemetryId = ''
  let flushing: Promise<unknown> | undefined
  /** Set after a failed attempt in this run: later targets spool at once instead of waiting out another timeout. */
  let down: string | undefined
  const startedAt = new Map<string, number>()
  const reportId = (ctx: PluginContext) => ctx.report({ telemetryId, endpoint: displayUrl(options.url) })
  return {
    name: 'telemetry-http',
    apply: 'build',
    configResolved(config) {
      try {
        const raw = new URL(String((config.telemetry as { url?: unknown } | undefined)?.url))
        this.redact(raw.password ? decodeURIComponent(raw.password) : undefined)
      } catch {
        // resolveOptions reports it
      }
      options = resolveOptions(config)
      this.redact(options.authorization?.replace(/^\w+ /, ''))
      // A query string on the telemetry URL is often an API key.
      this.redact(new URL(options.url).search.slice(1) || undefined)
      telemetryId = randomUUID()
      const ctx = this
      // Flush what earlier runs could not send while this run builds; awaited in buildEnd.
      flushing = (async () => {
        try {
          if (pending(spoolDir(config)).length === 0) return
          const { sent, left, failed } = await flushSpool(ctx, options, ctx.runId)
          if (failed) down = 'unreachable while flushing the spool'
          if (sent > 0) ctx.logger.info(`telemetry: flushed ${sent} spooled payload(s)${left ? `, ${left} left` : ''}.`)
          if (sent > 0) ctx.audit('telemetry.flushed', { sent, left })
        } catch (error) {
          ctx.logger.warn(`telemetry: flushing the spool failed (${reason(error)}).`)
        }
      })()
    },
    collect: {
      order: 'pre',
      handler() {
        startedAt.set(`${this.target.os}-${this.target.arch}`, performance.now())
        // Early, so report.json (written in emit) carries the id.
        reportId(this)
      },
    },
    async buildEnd(info) {
      // Synchronously, before the report plugin's buildEnd (which runs in parallel) reads the facts.
      reportId(this)
      if (flushing) {
        await flushing
        flushing = undefined
      }
      const payload = buildPayload(info, telemetryId, startedAt.get(`${info.target.os}-${info.target.arch}`), this.config)
      if (down) {
        this.logger.info(`telemetry: ${displayUrl(options.url)} ${down}; payload spooled under ${SPOOL_DIR}/ without another attempt.`)
        spool(this, options, payload, 0)
        return
      }
      try {
        await post(options, payload)
        this.logger.debug(`telemetry sent to ${displayUrl(options.url)}`)
      } catch (error) {
        down = `unreachable earlier in this run (${reason(error)})`
        this.logger.warn(`telemetry: ${displayUrl(options.url)} unreachable (${reason(error)}); payload spooled under ${SPOOL_DIR}/ for the next run.`)
        spool(this, options, payload, 1)
      }
    },
  }
})
