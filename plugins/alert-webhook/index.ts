/**
 * alert-webhook: tells a Slack channel (incoming webhook) or any JSON endpoint when a build needs a
 * human. Config:
 *
 *   alerts: { webhook, kind?: 'slack' | 'json', timeoutMs?: 3000, consecutiveFailures?: 3 }
 *
 * Alert kinds (one POST each):
 * - `signature_failure`   a signing error (codes SIGNATURE_*, CERT_*, KEY_*, KMS_*, SIGNER_*, or any
 *                          error raised in resolveSigner/sign or by a signer-* plugin), also when a
 *                          fallback signer saved the build;
 * - `signing_timeout`     the KMS/signing service timed out, throttled or was unreachable
 *                          (SIGNER_TIMEOUT, SIGNER_THROTTLED, SIGNER_UNREACHABLE, SIGNER_UNAVAILABLE,
 *                          any *TIMEOUT* code from a signer), fatal or fallen back from;
 * - `oversize`            SIZE_BUDGET_EXCEEDED, as a warning (limits.onExceed: warn) or an error;
 * - `cert_expiring`       the signing certificate is inside its expiry warning window (CERT_EXPIRING;
 *                          once per run, not once per target);
 * - `consecutive_failures` the third consecutive failed build of the same plugin. Sent exactly when
 *                          the count reaches 3 (not again at 4, 5…: one page per incident); a
 *                          successful build resets it. The count lives in `<out>/.alerts/state.json`.
 *
 * The webhook URL is a credential (a Slack URL's path is its secret): it is registered with
 * `this.redact` and logs only ever show its origin. Sending never fails or noticeably slows a build:
 * one attempt with a short timeout, failures are logged and audited, nothing is thrown.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { configError, definePlugin, failureReason, postJson, redactText, type BuildEndInfo, type PluginContext, type ResolvedConfig, type TargetResult } from '../../src/plugin-api.js'

export type AlertKind = 'signature_failure' | 'signing_timeout' | 'oversize' | 'cert_expiring' | 'consecutive_failures'

export interface Alert {
  kind: AlertKind
  pluginId: string
  version: string
  target: string
  code: string
  message: string
  runId: string
  timestamp: string
  /** consecutive_failures only. */
  count?: number
  /** A signing failure a fallback signer recovered from. */
  recovered?: boolean
}

interface AlertOptions {
  webhook: string
  kind: 'slack' | 'json'
  timeoutMs: number
  threshold: number
}

export interface FailureState {
  /** Consecutive failed builds up to and including the last recorded run. */
  failures: number
  /** The run being recorded, and the count before it started (a run has several targets). */
  runId?: string
  before?: number
  runFailed?: boolean
  lastFailure?: { runId: string; code: string; at: string }
}

export interface StateFile { version: 1; plugins: Record<string, FailureState> }

export const STATE_DIR = '.alerts'
export const STATE_FILE = 'state.json'
const DEFAULT_TIMEOUT_MS = 3_000
const DEFAULT_THRESHOLD = 3

const TIMEOUT_CODES = new Set(['SIGNER_TIMEOUT', 'SIGNER_THROTTLED', 'SIGNER_UNREACHABLE', 'SIGNER_UNAVAILABLE'])
const SIGNING_PREFIXES = ['SIGNATURE_', 'CERT_', 'KEY_', 'KMS_', 'SIGNER_']

function resolveOptions(config: ResolvedConfig): AlertOptions {
  const section = (config.alerts ?? {}) as Record<string, unknown>
  const file = config.configFile
  let url: URL
  try {
    url = new URL(String(section.webhook))
  } catch {
    // The value may be a real webhook with a typo: never echo it.
    throw configError('ALERTS_CONFIG', 'alerts.webhook is not a URL.', { keyPath: 'alerts.webhook', file, hint: 'Set it to the Slack incoming-webhook URL (from an env var: it is a credential) or a JSON endpoint.' })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw configError('ALERTS_CONFIG', `alerts.webhook must be http(s), got ${url.protocol}`, { keyPath: 'alerts.webhook', file })
  const kind = section.kind ?? (/(^|\.)slack\.com$/.test(url.hostname) ? 'slack' : 'json')
  if (kind !== 'slack' && kind !== 'json') throw configError('ALERTS_CONFIG', `alerts.kind must be "slack" or "json" (got ${JSON.stringify(kind)}).`, { keyPath: 'alerts.kind', file })
  const positive = (key: string, fallback: number, integer = false) => {
    const value = section[key]
    if (value === undefined) return fallback
    if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
      throw configError('ALERTS_CONFIG', `alerts.${key} must be a positive ${integer ? 'integer' : 'number'} (got ${JSON.stringify(value)}).`, { keyPath: `alerts.${key}`, file })
    }
    return value
  }
  return { webhook: url.href, kind, timeoutMs: positive('timeoutMs', DEFAULT_TIMEOUT_MS), threshold: positive('consecutiveFailures', DEFAULT_THRESHOLD, true) }
}

/** Scheme and host only: a webhook's path and query are its secret. */
export function webhookOrigin(href: string): string {
  try {
    return new URL(href).origin
  } catch {
    return '<invalid url>'
  }
}

const isTimeout = (code: string) => TIMEOUT_CODES.has(code) || /TIMEOUT|TIMED_OUT|THROTTL/.test(code)
const isSigning = (code: string, plugin?: string, hook?: string) =>
  (SIGNING_PREFIXES.some((p) => code.startsWith(p)) && code !== 'CERT_EXPIRING') || hook === 'sign' || hook === 'resolveSigner' || Boolean(plugin?.startsWith('signer-'))

/** The alerts one target's outcome calls for (consecutive failures aside: those are per plugin, across runs). */
export function classify(info: BuildEndInfo, runId: string): Alert[] {
  const r = info.result
  const base = {
    pluginId: r?.pluginId || 'unknown',
    version: r?.version || 'unknown',
    target: `${info.target.os}-${info.target.arch}`,
    runId,
  }
  const alerts: Alert[] = []
  const add = (kind: AlertKind, code: string, message: string, extra: Partial<Alert> = {}) =>
    alerts.push({ kind, ...base, code, message: redactText(message), timestamp: new Date().toISOString(), ...extra })

  const error = info.error
  if (error) {
    if (error.code.startsWith('SIZE_BUDGET')) add('oversize', error.code, error.message)
    else if (isSigning(error.code, error.plugin, error.hook)) add(isTimeout(error.code) ? 'signing_timeout' : 'signature_failure', error.code, error.message)
  }
  for (const fallback of r?.signingFallbacks ?? []) {
    const kind = isTimeout(fallback.code) ? 'signing_timeout' : 'signature_failure'
    add(kind, fallback.code, `Signer "${fallback.signer}" failed (${fallback.message}); a fallback signer took over.`, { recovered: true })
  }
  for (const warning of dedupe(r?.warnings ?? [])) {
    if (warning.code.startsWith('SIZE_BUDGET')) add('oversize', warning.code, warning.message)
    else if (warning.code === 'CERT_EXPIRING') add('cert_expiring', warning.code, warning.message)
  }
  return alerts
}

function dedupe(warnings: TargetResult['warnings']): TargetResult['warnings'] {
  const seen = new Set<string>()
  return warnings.filter((w) => {
    const key = `${w.code}\n${w.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

const TITLES: Record<AlertKind, string> = {
  signature_failure: 'Signing failed',
  signing_timeout: 'Signing service timed out',
  oversize: 'Bundle over its size budget',
  cert_expiring: 'Signing certificate expires soon',
  consecutive_failures: 'Build failed three times in a row',
}

/** Slack's incoming-webhook format: `text` (notifications, fallbacks) plus Block Kit blocks. */
export function slackMessage(alert: Alert): Record<string, unknown> {
  const title = alert.kind === 'consecutive_failures' ? `Build failed ${alert.count} times in a row` : TITLES[alert.kind]
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  const text = `:rotating_light: pxp: ${title} — ${alert.pluginId}@${alert.version} (${alert.target}) [${alert.code}]`
  return {
    text: esc(text),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `pxp: ${title}`.slice(0, 150) } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Plugin*\n\`${esc(alert.pluginId)}\`` },
          { type: 'mrkdwn', text: `*Version*\n${esc(alert.version)}` },
          { type: 'mrkdwn', text: `*Target*\n${esc(alert.target)}` },
          { type: 'mrkdwn', text: `*Code*\n\`${esc(alert.code)}\`` },
        ],
      },
      { type: 'section', text: { type: 'mrkdwn', text: esc(alert.message).slice(0, 2900) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `run ${esc(alert.runId)} · ${alert.timestamp}${alert.recovered ? ' · recovered by a fallback signer' : ''}` }] },
    ],
  }
}

export function jsonMessage(alert: Alert): Record<string, unknown> {
  return { ...alert, source: 'pxp' }
}

function readState(file: string): StateFile {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as StateFile
    if (parsed && parsed.version === 1 && typeof parsed.plugins === 'object') return parsed
  } catch {
    // Missing or corrupt: start counting again (an alert may come late, never wrongly early).
  }
  return { version: 1, plugins: {} }
}

function writeState(file: string, state: StateFile): void {
  mkdirSync(join(file, '..'), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n')
  renameSync(tmp, file)
}

/** Records one target's outcome; returns the new count when this call made it reach the threshold. */
export function recordOutcome(state: StateFile, key: string, runId: string, failed: boolean, code: string | undefined): number | undefined {
  const entry = (state.plugins[key] ??= { failures: 0 })
  if (entry.runId !== runId) {
    entry.runId = runId
    entry.before = entry.failures
    entry.runFailed = false
  }
  if (failed) {
    if (entry.runFailed) return undefined
    entry.runFailed = true
    entry.failures = (entry.before ?? 0) + 1
    entry.lastFailure = { runId, code: code ?? 'UNKNOWN', at: new Date().toISOString() }
    return entry.failures
  }
  // A run fails if any of its targets failed: only an all-green run so far resets the count.
  if (!entry.runFailed) entry.failures = 0
  return undefined
}

/**
 * A plugin is known by its plugin.yaml id. A build that failed before the core read plugin.yaml
 * (a secret in the tree, say) still counts: its id and version are read directly, else its root names it.
 */
function pluginIdentity(ctx: PluginContext, result: TargetResult | undefined): { key: string; version: string } {
  if (result?.pluginId) return { key: result.pluginId, version: result.version || 'unknown' }
  try {
    const text = readFileSync(join(ctx.config.root, 'plugin.yaml'), 'utf8')
    const field = (name: string) => new RegExp(`^${name}:[ \\t]*["']?([A-Za-z0-9._+-]+)["']?[ \\t]*(?:#.*)?$`, 'm').exec(text)?.[1]
    const id = field('id')
    if (id) return { key: id, version: field('version') ?? 'unknown' }
  } catch {
    // no readable plugin.yaml
  }
  return { key: `root:${ctx.config.root}`, version: 'unknown' }
}

function send(options: AlertOptions, alert: Alert): Promise<void> {
  return postJson(options.webhook, options.kind === 'slack' ? slackMessage(alert) : jsonMessage(alert), { timeoutMs: options.timeoutMs })
}

const reason = failureReason

export default definePlugin(() => {
  let options: AlertOptions
  let stateFile = ''
  /** cert_expiring is about the certificate, not the target: once per run. */
  const sentOnce = new Set<string>()
  return {
    name: 'alert-webhook',
    apply: 'build',
    configResolved(config) {
      options = resolveOptions(config)
      // The whole URL (as written and normalised) and, separately, the parts that carry the secret:
      // a Slack webhook's path, a token-like path segment of any other webhook, any query string.
      this.redact(String((config.alerts as { webhook?: unknown }).webhook))
      this.redact(options.webhook)
      const url = new URL(options.webhook)
      if (options.kind === 'slack' || url.pathname.split('/').some((segment) => segment.length >= 16)) this.redact(url.pathname)
      if (url.search.length > 1) this.redact(url.search.slice(1))
      if (url.password) this.redact(decodeURIComponent(url.password))
      stateFile = join(config.out, STATE_DIR, STATE_FILE)
    },
    async buildEnd(info) {
      const alerts = classify(info, this.runId).filter((a) => {
        if (a.kind !== 'cert_expiring') return true
        const key = `${a.kind}\n${a.message}`
        if (sentOnce.has(key)) return false
        sentOnce.add(key)
        return true
      })
      try {
        const state = readState(stateFile)
        const identity = pluginIdentity(this, info.result)
        const count = recordOutcome(state, identity.key, this.runId, !info.ok, info.error?.code)
        writeState(stateFile, state)
        if (count === options.threshold) {
          alerts.push({
            kind: 'consecutive_failures',
            pluginId: identity.key,
            version: identity.version,
            target: `${info.target.os}-${info.target.arch}`,
            code: info.error?.code ?? 'UNKNOWN',
            message: redactText(`The last ${count} builds of this plugin failed; the latest with ${info.error?.code ?? 'an error'}: ${info.error?.message ?? ''}`.trim()),
            runId: this.runId,
            timestamp: new Date().toISOString(),
            count,
          })
        }
      } catch (error) {
        this.logger.warn(`alerts: could not update ${join(STATE_DIR, STATE_FILE)} (${reason(error)}); the consecutive-failure count is not recorded this time.`)
      }
      await Promise.all(alerts.map(async (alert) => {
        try {
          await send(options, alert)
          this.audit('alert.sent', { kind: alert.kind, code: alert.code, to: webhookOrigin(options.webhook) })
          this.logger.info(`alert ${alert.kind} (${alert.code}) sent to ${webhookOrigin(options.webhook)}`)
        } catch (error) {
          this.audit('alert.failed', { kind: alert.kind, code: alert.code, to: webhookOrigin(options.webhook), reason: reason(error) })
          this.logger.warn(`alerts: could not deliver ${alert.kind} to ${webhookOrigin(options.webhook)} (${reason(error)}).`)
        }
      }))
    },
  }
})
