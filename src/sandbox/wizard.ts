/**
 * The install wizard's questions, derived from the bundle's `plugin.yaml`: every `${KEY}` /
 * `${KEY:-default}` placeholder in `runtime.env`, every declared secret, and the log level. Shared
 * by the server (configure stage) and the client (asks what it cannot answer from flags).
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g
export const DYNAMIC_PORT = '__POWERX_DYNAMIC_PORT__'

export interface WizardQuestion {
  key: string
  kind: 'env' | 'secret' | 'log_level'
  required: boolean
  default?: string
  description?: string
  choices?: string[]
}

export interface WizardAnswers {
  env: Record<string, string>
  /** Secret references (`env:NAME`, `file:/path`); never values. */
  secrets: Record<string, string>
  log_level?: string
}

type Raw = Record<string, unknown>

export function declaredSecrets(descriptor: Raw): Array<{ name: string; description?: string }> {
  const list = Array.isArray(descriptor.secrets) ? descriptor.secrets : []
  return list
    .map((s: unknown) => (typeof s === 'string' ? { name: s } : s && typeof s === 'object' ? { name: String((s as Raw).name ?? ''), description: (s as Raw).description as string | undefined } : { name: '' }))
    .filter((s) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s.name))
}

export function runtimeEnv(descriptor: Raw): Record<string, string> {
  const env = ((descriptor.runtime as Raw | undefined)?.env ?? {}) as Raw
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== null && v !== undefined) out[k] = String(v)
  return out
}

export function wizardQuestions(descriptor: Raw): WizardQuestion[] {
  const secrets = new Map(declaredSecrets(descriptor).map((s) => [s.name, s.description]))
  const questions = new Map<string, WizardQuestion>()
  // `${LOG_LEVEL}` is answered by the log-level question, not asked twice.
  let logLevel: { required: boolean; default?: string } = { required: false, default: 'info' }
  for (const value of Object.values(runtimeEnv(descriptor))) {
    for (const m of value.matchAll(PLACEHOLDER)) {
      const key = m[1]!
      if (key === 'LOG_LEVEL') {
        logLevel = m[2] === undefined ? { required: true } : { required: false, default: m[2] }
        continue
      }
      if (questions.has(key)) continue
      const isSecret = secrets.has(key)
      questions.set(key, { key, kind: isSecret ? 'secret' : 'env', required: m[2] === undefined, ...(m[2] !== undefined && { default: m[2] }), ...(isSecret && secrets.get(key) && { description: secrets.get(key) }) })
    }
  }
  // Declared secrets not referenced by a placeholder are injected under their own name when given.
  for (const [name, description] of secrets) if (!questions.has(name)) questions.set(name, { key: name, kind: 'secret', required: false, ...(description && { description }) })
  questions.set('log_level', { key: 'log_level', kind: 'log_level', ...logLevel, choices: [...LOG_LEVELS] })
  return [...questions.values()]
}

/** Required keys the answers leave open. `LOG_LEVEL` is answered by `log_level` too. */
export function missingAnswers(questions: WizardQuestion[], answers: WizardAnswers): string[] {
  return questions
    .filter((q) => q.required)
    .filter((q) => (q.kind === 'secret' ? answers.secrets[q.key] === undefined : q.kind === 'log_level' ? !answers.log_level && answers.env.LOG_LEVEL === undefined : answers.env[q.key] === undefined))
    .map((q) => q.key)
}

/**
 * The plugin's environment: placeholders filled from answers (secret placeholders from the resolved
 * secret values), `__POWERX_DYNAMIC_PORT__` replaced by the port (`:PORT` bound to loopback).
 */
export function resolveEnv(descriptor: Raw, answers: WizardAnswers, secretValues: Record<string, string>, port?: number): { env: Record<string, string>; missing: string[] } {
  const missing = new Set<string>()
  const env: Record<string, string> = {}
  const lookup = (key: string): string | undefined => {
    if (key in secretValues) return secretValues[key]
    if (key in answers.env) return answers.env[key]
    if (key === 'LOG_LEVEL' && answers.log_level) return answers.log_level
    return undefined
  }
  for (const [name, raw] of Object.entries(runtimeEnv(descriptor))) {
    let value = raw.replace(PLACEHOLDER, (_all, key: string, def: string | undefined) => {
      const answer = lookup(key)
      if (answer !== undefined) return answer
      if (def !== undefined) return def
      missing.add(key)
      return ''
    })
    if (port !== undefined && value.includes(DYNAMIC_PORT)) {
      value = value.replace(DYNAMIC_PORT, String(port))
      if (value.startsWith(':')) value = `127.0.0.1${value}`
    }
    env[name] = value
  }
  for (const [name, value] of Object.entries(secretValues)) if (!(name in env)) env[name] = value
  return { env, missing: [...missing] }
}
