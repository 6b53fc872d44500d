/**
 * The sandbox client shared by `pxp install` and the `installer-sandbox` plugin: local
 * pre-validation with the same verifier, remote validation, the wizard, upload with progress,
 * following the install's events, and the outcome. `powerx-core` mode speaks PowerX Core's admin API.
 */
import { readFileSync, statSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { PxpError } from '../../errors.js'
import { registerSecret } from '../../redact.js'
import { createProgress, resolveProgressMode } from '../../transfer/progress.js'
import { verifyBundle } from '../../verify/index.js'
import { missingAnswers, wizardQuestions, LOG_LEVELS, type WizardAnswers, type WizardQuestion } from '../wizard.js'
import { ApiCallError, callJson, followSse, postMultipart, type Envelope } from './http.js'

export { ApiCallError, callJson, followSse, postMultipart, type Envelope } from './http.js'
export type { WizardAnswers, WizardQuestion } from '../wizard.js'

export type InstallMode = 'pxp' | 'powerx-core'

export interface InstallOutcome {
  ok: boolean
  status: string
  installId: string | null
  entryUrl: string | null
  testUrl?: string | null
  logsUrl: string | null
  pluginId?: string
  version?: string
  stage?: string
  reason?: string
  errorCode?: string
  rolledBack?: boolean
  durationMs?: number
  checks?: unknown[]
}

export interface InstallLogger {
  info(message: string): void
  warn(message: string): void
  success?(message: string): void
}

export interface InstallBundleOptions {
  file: string
  url: string
  tenant: string
  token: string
  mode?: InstallMode
  answers?: Partial<WizardAnswers>
  /** Ask unanswered questions on the terminal. */
  prompt?: (question: WizardQuestion) => Promise<string | undefined>
  /** Local pre-validation: trust roots for a signed bundle (unsigned bundles pass locally; the sandbox decides). */
  trust?: string[]
  /** Upload even when remote validation reports blocking problems (the server still refuses and rolls back). */
  skipValidation?: boolean
  force?: boolean
  progress?: boolean
  logger?: InstallLogger
  onEvent?: (event: { event: string; data: any }) => void
  timeoutMs?: number
}

const quiet: InstallLogger = { info() {}, warn() {} }

/** `KEY=VALUE` pairs from repeated flags. */
export function parsePairs(values: string | string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const item of [values ?? []].flat()) {
    const text = String(item)
    const eq = text.indexOf('=')
    if (eq <= 0) throw new PxpError('USAGE', `${flag} expects KEY=VALUE (got "${text.length > 40 ? text.slice(0, 40) + '…' : text}").`, { exitCode: 2, hint: `Example: ${flag} HELLO_BOARD_NAME=Demo` })
    const key = text.slice(0, eq)
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new PxpError('USAGE', `${flag}: "${key}" is not a valid variable name.`, { exitCode: 2 })
    out[key] = text.slice(eq + 1)
  }
  return out
}

/** A `--values` YAML file: `{ env: {...}, secrets: {...}, log_level }` or a flat map of env values. */
export function readValuesFile(file: string): Partial<WizardAnswers> {
  let raw: unknown
  try {
    raw = parseYaml(readFileSync(file, 'utf8'))
  } catch (cause) {
    throw new PxpError('VALUES_INVALID', `Cannot read the values file ${file}: ${(cause as Error).message.split('\n')[0]}`, { exitCode: 2, file, cause })
  }
  if (raw === null || raw === undefined) return {}
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new PxpError('VALUES_INVALID', `${file} must be a YAML mapping.`, { exitCode: 2, file })
  const obj = raw as Record<string, unknown>
  const structured = 'env' in obj || 'secrets' in obj || 'log_level' in obj
  const map = (v: unknown, key: string): Record<string, string> => {
    if (v === undefined || v === null) return {}
    if (typeof v !== 'object' || Array.isArray(v)) throw new PxpError('VALUES_INVALID', `${file}: ${key} must be a mapping.`, { exitCode: 2, file, keyPath: key })
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, val]) => [k, String(val)]))
  }
  if (!structured) return { env: map(obj, '(root)') }
  return { env: map(obj.env, 'env'), secrets: map(obj.secrets, 'secrets'), ...(typeof obj.log_level === 'string' && { log_level: obj.log_level }) }
}

/** Later sources win. */
export function mergeAnswers(...sources: Array<Partial<WizardAnswers> | undefined>): WizardAnswers {
  const out: WizardAnswers = { env: {}, secrets: {} }
  for (const s of sources) {
    if (!s) continue
    Object.assign(out.env, s.env ?? {})
    Object.assign(out.secrets, s.secrets ?? {})
    if (s.log_level) out.log_level = s.log_level
  }
  return out
}

/** Fills unanswered questions by prompting, or fails listing every missing required key. */
export async function completeAnswers(questions: WizardQuestion[], answers: WizardAnswers, prompt?: InstallBundleOptions['prompt']): Promise<WizardAnswers> {
  const out = mergeAnswers(answers)
  for (const q of questions) {
    if (q.kind === 'secret' && out.env[q.key] !== undefined) {
      throw new PxpError('SECRET_AS_VALUE', `${q.key} is declared as a secret: it cannot be passed as a plain value.`, { exitCode: 2, hint: `Use --secret ${q.key}=env:NAME (or file:PATH) instead of --set/values env.` })
    }
  }
  for (const [key, ref] of Object.entries(out.secrets)) {
    if (!/^(env|file):.+$/.test(ref)) throw new PxpError('SECRET_NOT_A_REFERENCE', `--secret ${key} must be a reference (env:NAME or file:/path), never the value itself.`, { exitCode: 2, hint: `Example: --secret ${key}=env:${key} with ${key} exported where the sandbox runs.` })
  }
  if (prompt) {
    for (const q of questions) {
      const answered = q.kind === 'secret' ? out.secrets[q.key] !== undefined : q.kind === 'log_level' ? out.log_level !== undefined || out.env.LOG_LEVEL !== undefined : out.env[q.key] !== undefined
      if (answered) continue
      const value = await prompt(q)
      if (value === undefined || value === '') continue
      if (q.kind === 'secret') {
        if (!/^(env|file):.+$/.test(value)) throw new PxpError('SECRET_NOT_A_REFERENCE', `The answer for secret ${q.key} must be a reference (env:NAME or file:/path).`, { exitCode: 2 })
        out.secrets[q.key] = value
      } else if (q.kind === 'log_level') out.log_level = value
      else out.env[q.key] = value
    }
  }
  const missing = missingAnswers(questions, out)
  if (missing.length > 0) {
    throw new PxpError('MISSING_ANSWERS', `The install wizard needs answers for: ${missing.join(', ')}.`, {
      exitCode: 2,
      details: { missing },
      hint: `Pass ${missing.map((k) => {
        const kind = questions.find((q) => q.key === k)?.kind
        return kind === 'secret' ? `--secret ${k}=env:NAME` : kind === 'log_level' ? '--log-level LEVEL' : `--set ${k}=VALUE`
      }).join(' ')}, a --values file, or run on a terminal without --yes to be asked.`,
    })
  }
  if (out.log_level && !(LOG_LEVELS as readonly string[]).includes(out.log_level)) throw new PxpError('USAGE', `--log-level must be one of ${LOG_LEVELS.join(', ')}.`, { exitCode: 2 })
  return out
}

interface LocalCheck {
  descriptor: Record<string, unknown>
  id: string
  version: string
}

/** The same verifier the sandbox runs; a bundle that fails here is never uploaded. */
async function prevalidate(file: string, trust: string[] | undefined): Promise<LocalCheck> {
  try {
    statSync(file)
  } catch {
    throw new PxpError('USAGE', `Cannot read ${file}.`, { exitCode: 2, file, hint: 'Pass the path of a .pxp bundle (pxp build prints it).' })
  }
  {
    // Streams the bundle once; nothing is extracted on the client.
    const report = await verifyBundle(file, { trust: trust ?? [], allowUnsigned: true })
    // Without local trust roots a signed bundle's chain is the sandbox's call, not ours.
    const blocking = report.errors.filter((e) => !((trust ?? []).length === 0 && e.code === 'CERT_UNTRUSTED'))
    if (blocking.length > 0 || !report.descriptor) {
      throw new PxpError('PREVALIDATION_FAILED', `${file} failed local verification: ${blocking.map((e) => `[${e.code}] ${e.path ? `${e.path}: ` : ''}${e.message}`).join('; ') || 'no plugin.yaml'}`, {
        file,
        details: { errors: blocking },
        hint: 'Rebuild the bundle with pxp build; nothing was uploaded.',
      })
    }
    const d = report.descriptor
    return { descriptor: d, id: String(d.id), version: String(d.version) }
  }
}

export class SandboxClient {
  readonly base: string
  constructor(url: string, readonly tenant: string, private readonly token: string) {
    this.base = url.replace(/\/+$/, '')
    registerSecret(token)
  }
  get headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` }
  }
  validate(file: string, answers?: WizardAnswers): Promise<Envelope> {
    return postMultipart(`${this.base}/internal/plugins/packages/validate`, this.headers, { fields: { tenant_id: this.tenant, ...(answers && { config: JSON.stringify(answers) }) }, file: { field: 'package', path: file, filename: 'package.pxp' } }, 'Remote validation')
  }
  upload(file: string, answers: WizardAnswers, options: { force?: boolean; onProgress?: (n: number) => void } = {}): Promise<Envelope> {
    return postMultipart(`${this.base}/api/plugins/install/local`, this.headers, { fields: { tenant_id: this.tenant, config: JSON.stringify(answers), force: String(options.force === true) }, file: { field: 'package', path: file, filename: 'package.pxp' }, onProgress: options.onProgress }, 'Upload')
  }
  install(id: string): Promise<Envelope> {
    return callJson('GET', `${this.base}/api/plugins/installs/${encodeURIComponent(id)}`, this.headers)
  }
  /** Follows the install's SSE stream to its final event (polling if the stream drops); returns the install. */
  async follow(id: string, timeoutMs: number, onEvent?: (e: { event: string; data: any }) => void): Promise<any> {
    const deadline = Date.now() + timeoutMs
    let last = 0
    while (Date.now() < deadline) {
      try {
        await followSse(`${this.base}/api/plugins/installs/${encodeURIComponent(id)}/events?since=${last}`, this.headers, (e) => {
          last = Number(e.id ?? last)
          onEvent?.(e)
          return e.event === 'plugin.install.sandbox_completed' || e.event === 'plugin.install.failed'
        }, Math.max(1, deadline - Date.now()))
      } catch (error) {
        if (error instanceof ApiCallError) throw error
      }
      const rec = (await this.install(id)).data
      if (rec.status === 'running' || rec.status === 'failed') return rec
      await new Promise((r) => setTimeout(r, 300))
    }
    throw new PxpError('INSTALL_TIMEOUT', `Install ${id} did not finish within ${Math.round(timeoutMs / 1000)} s.`, { hint: 'Check the sandbox logs; the install may still finish.' })
  }
  get(path: string): Promise<Envelope> {
    return callJson('GET', `${this.base}${path}`, this.headers)
  }
  request(method: string, path: string, body?: unknown): Promise<Envelope> {
    return callJson(method, `${this.base}${path}`, this.headers, body)
  }
}

/** The whole client flow (pxp mode) or the PowerX Core flow. Never throws for an install that failed and was rolled back: it returns `ok: false`. */
export async function installBundle(options: InstallBundleOptions): Promise<InstallOutcome> {
  if (!options.token) throw new PxpError('SANDBOX_TOKEN_MISSING', 'No sandbox token.', { exitCode: 2, hint: 'Pass --token, export PXP_SANDBOX_TOKEN, or set sandbox.tokenEnv in the config.' })
  registerSecret(options.token)
  const log = options.logger ?? quiet
  const local = await prevalidate(options.file, options.trust)
  log.info(`Local verification passed: ${local.id} ${local.version}`)
  if ((options.mode ?? 'pxp') === 'powerx-core') return installOnCore(options, local)

  const client = new SandboxClient(options.url, options.tenant, options.token)
  let answers = mergeAnswers(options.answers)
  const remote = (await client.validate(options.file)).data
  const questions: WizardQuestion[] = remote?.wizard?.questions ?? wizardQuestions(local.descriptor)
  const blocking = ((remote?.blocking ?? []) as Array<{ name: string; reason: string; error_code?: string }>).filter((c) => c.name !== 'configure')
  if (blocking.length > 0 && !options.skipValidation) {
    const first = blocking[0]!
    return { ok: false, status: 'rejected', installId: null, entryUrl: null, logsUrl: null, pluginId: local.id, version: local.version, stage: first.name, reason: blocking.map((c) => `${c.name}: ${c.reason}`).join('; '), errorCode: first.error_code, rolledBack: false, checks: remote?.checks }
  }
  answers = await completeAnswers(questions, answers, options.prompt)

  const size = statSync(options.file).size
  const progress = createProgress({ label: `Uploading ${local.id}-${local.version}`, total: size, mode: options.progress === false ? 'off' : resolveProgressMode(undefined), stream: process.stderr })
  let accepted: Envelope
  try {
    accepted = await client.upload(options.file, answers, { force: options.force, onProgress: (n) => progress.advance(n) })
    progress.finish('done')
  } catch (error) {
    progress.finish('failed')
    const details = error instanceof ApiCallError ? (error.envelope?.details as Record<string, unknown> | undefined) : undefined
    if (error instanceof ApiCallError && details?.install_id) {
      return { ok: false, status: 'failed', installId: String(details.install_id), entryUrl: null, logsUrl: null, pluginId: local.id, version: local.version, stage: String(details.stage ?? 'receive'), reason: error.envelope?.message, errorCode: error.errorCode, rolledBack: details.rolled_back === true }
    }
    throw error
  }
  const installId = String(accepted.data.install_id)
  log.info(`Install ${installId} accepted; following its events`)
  const rec = await client.follow(installId, options.timeoutMs ?? 300_000, (e) => {
    options.onEvent?.(e)
    const d = e.data?.data ?? {}
    if (e.event === 'plugin.install.stage_completed') log.info(`  ✓ ${d.stage} (${d.duration_ms} ms)`)
    else if (e.event === 'plugin.install.stage_failed') log.warn(`  ✗ ${d.stage}: ${d.reason}`)
    else if (e.event === 'plugin.install.rollback_started') log.warn('  ↺ rolling back')
  })
  return outcomeOf(rec)
}

export function outcomeOf(rec: any): InstallOutcome {
  const ok = rec.status === 'running'
  return {
    ok,
    status: rec.status,
    installId: rec.install_id,
    entryUrl: rec.entry_url ?? null,
    testUrl: rec.test_url ?? null,
    logsUrl: rec.logs_url ?? null,
    pluginId: rec.plugin_id ?? undefined,
    version: rec.version ?? undefined,
    durationMs: rec.duration_ms ?? undefined,
    ...(!ok && { stage: rec.stage, reason: rec.failure_reason ?? undefined, errorCode: rec.error_code ?? undefined, rolledBack: rec.rolled_back === true }),
  }
}

// ------------------------------------------------------------------ PowerX Core mode

async function installOnCore(options: InstallBundleOptions, local: LocalCheck): Promise<InstallOutcome> {
  const base = `${options.url.replace(/\/+$/, '')}/admin/plugins`
  const headers = { authorization: `Bearer ${options.token}`, 'x-tenant-id': options.tenant }
  const log = options.logger ?? quiet
  const questions = wizardQuestions(local.descriptor)
  const answers = await completeAnswers(questions, mergeAnswers(options.answers), options.prompt)
  const id = encodeURIComponent(local.id)
  let previous: string | undefined
  try {
    const status = await callJson('GET', `${base}/${id}/status`, headers)
    const v = status.data?.version ?? status.data?.current_version
    if (typeof v === 'string' && v !== local.version) previous = v
  } catch (error) {
    if (!(error instanceof ApiCallError) || error.errorCode !== 'not_installed') throw error
  }
  const started = Date.now()
  const outcome = (fields: Partial<InstallOutcome>): InstallOutcome => ({ ok: false, status: 'failed', installId: null, entryUrl: null, logsUrl: `${base}/${id}/logs?tail=200`, pluginId: local.id, version: local.version, durationMs: Date.now() - started, ...fields })
  try {
    await postMultipart(`${base}/install/local`, headers, {
      fields: { enable: 'false', force: String(options.force === true), metadata: JSON.stringify({ scope: 'tenant', release_channel: 'sandbox', notes: 'pxp install', config: answers }) },
      file: { field: 'file', path: options.file, filename: `${local.id}-${local.version}.tar.gz` },
    }, 'install/local')
  } catch (error) {
    if (error instanceof ApiCallError && error.status < 500) return outcome({ stage: 'install', reason: error.envelope?.message, errorCode: error.errorCode, rolledBack: false, status: 'rejected' })
    throw error
  }
  log.info(`Installed ${local.id} ${local.version} (disabled); switching to it`)
  let failure: { stage: string; code?: string; reason?: string } | undefined
  try {
    await callJson('POST', `${base}/${id}/switch_version`, headers, { version: local.version, enable: true })
    const deadline = Date.now() + (options.timeoutMs ?? 120_000)
    while (true) {
      const s = (await callJson('GET', `${base}/${id}/status`, headers)).data ?? {}
      const state = String(s.state ?? s.status ?? '')
      if (['running', 'enabled', 'healthy'].includes(state) && (s.version ?? local.version) === local.version) {
        return { ok: true, status: 'running', installId: s.install_id ?? null, entryUrl: s.entry_url ?? null, logsUrl: `${base}/${id}/logs?tail=200`, pluginId: local.id, version: local.version, durationMs: Date.now() - started }
      }
      if (['failed', 'error', 'crashed', 'unhealthy'].includes(state)) {
        failure = { stage: 'start', code: s.error_code ?? 'healthcheck_failed', reason: s.error ?? s.message ?? `state ${state}` }
        break
      }
      if (Date.now() > deadline) {
        failure = { stage: 'start', code: 'timeout', reason: 'the plugin did not become running in time' }
        break
      }
      await new Promise((r) => setTimeout(r, 250))
    }
  } catch (error) {
    failure = { stage: 'switch_version', code: error instanceof ApiCallError ? error.errorCode : 'unreachable', reason: (error as Error).message }
  }
  // Roll back: switch to the previous version, or uninstall the new one.
  let rolledBack = false
  try {
    if (previous) await callJson('POST', `${base}/${id}/switch_version`, headers, { version: previous, enable: true })
    else await callJson('POST', `${base}/${id}/uninstall`, headers, { version: local.version, purge: false })
    rolledBack = true
  } catch (error) {
    log.warn(`Rollback failed: ${(error as Error).message}`)
  }
  return outcome({ stage: failure!.stage, errorCode: failure!.code, reason: failure!.reason, rolledBack })
}
