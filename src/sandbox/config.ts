/**
 * The sandbox's configuration: `sandbox.yaml` (core version, trust roots, tenants, tokens, webhooks)
 * and `sandbox_limits.yaml` (a `defaults` block merged under each tenant's own limits). Tokens are
 * read once at start: `token_env` names an environment variable, `token` is a literal for local use.
 * Only a SHA-256 of each token is kept in memory; the value is registered for redaction.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import semver from 'semver'
import { parse } from 'yaml'
import { PxpError } from '../errors.js'
import { registerSecret } from '../redact.js'
import { parseGoDuration } from './durations.js'

export const PERMISSIONS = ['plugin:dev', 'tenant:sandbox:read'] as const
export type Permission = (typeof PERMISSIONS)[number]
export const TENANT_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/

export interface TenantLimits {
  max_plugins: number
  max_package_bytes: number
  max_unpacked_bytes: number
  max_memory_mb: number
  max_open_files: number
  /** Milliseconds. */
  install_timeout: number
  health_timeout: number
  /** pxp addition: the rollback's own budget. */
  rollback_timeout: number
  max_concurrent_installs: number
}

export const DEFAULT_LIMITS: Readonly<TenantLimits> = Object.freeze({
  max_plugins: 5,
  max_package_bytes: 314_572_800,
  max_unpacked_bytes: 1_073_741_824,
  max_memory_mb: 512,
  max_open_files: 1024,
  install_timeout: 120_000,
  health_timeout: 30_000,
  rollback_timeout: 30_000,
  max_concurrent_installs: 2,
})

export interface TenantSettings {
  id: string
  allowUnsigned: boolean
  webhooks: string[]
  limits: TenantLimits
  /** Environment variables `env:NAME` secret references may name (`*` suffix = prefix). */
  secretEnv: string[]
  /** The only directory `file:` secret references may point into. */
  secretDir: string
}
export interface TokenEntry { name: string; digest: Buffer; tenant: string; permissions: Set<string> }

export interface SandboxSettings {
  coreVersion: string
  /** Absolute PEM paths. */
  trust: string[]
  tenants: Map<string, TenantSettings>
  tokens: TokenEntry[]
  webhooks: string[]
  dataDir: string
  host: string
  port: number
  /** Variables holding tokens: never readable through a secret reference. */
  reservedEnv: Set<string>
}

export const tokenDigest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest()

const fail = (file: string, keyPath: string, message: string, hint?: string): never => {
  throw new PxpError('SANDBOX_CONFIG', `${file}: ${keyPath}: ${message}`, { exitCode: 2, file, keyPath, hint: hint ?? 'Fix the value; see docs/sandbox.md for both files.' })
}

function readYaml(file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (cause) {
    throw new PxpError('SANDBOX_CONFIG', `Cannot read ${file}.`, { exitCode: 2, file, cause, hint: 'Check the path given to --config or --limits.' })
  }
  let value: unknown
  try {
    value = parse(text)
  } catch (cause) {
    throw new PxpError('SANDBOX_CONFIG', `${file} is not valid YAML: ${(cause as Error).message.split('\n')[0]}`, { exitCode: 2, file, cause })
  }
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value)) fail(file, '(root)', 'must be a mapping')
  return value as Record<string, unknown>
}

const INT_KEYS = ['max_plugins', 'max_package_bytes', 'max_unpacked_bytes', 'max_memory_mb', 'max_open_files', 'max_concurrent_installs'] as const
const DURATION_KEYS = ['install_timeout', 'health_timeout', 'rollback_timeout'] as const

function parseLimits(raw: unknown, base: TenantLimits, file: string, path: string): TenantLimits {
  if (raw === undefined || raw === null) return { ...base }
  if (typeof raw !== 'object' || Array.isArray(raw)) return fail(file, path, 'must be a mapping of limits')
  const out = { ...base }
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if ((INT_KEYS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) fail(file, `${path}.${key}`, `must be a non-negative integer (got ${JSON.stringify(value)})`)
      ;(out as Record<string, number>)[key] = value as number
    } else if ((DURATION_KEYS as readonly string[]).includes(key)) {
      const ms = parseGoDuration(value)
      if (ms === undefined) fail(file, `${path}.${key}`, `"${String(value)}" is not a Go duration (e.g. 30s, 1m30s)`)
      ;(out as Record<string, number>)[key] = ms!
    } else {
      fail(file, `${path}.${key}`, `unknown limit; known: ${[...INT_KEYS, ...DURATION_KEYS].join(', ')}`)
    }
  }
  return out
}

export interface LoadSettingsOptions {
  configFile?: string
  limitsFile?: string
  dataDir?: string
  host?: string
  port?: number
  /** Embedded mode (no --config): extra trust roots and unsigned policy for tenant `dev`. */
  trust?: string[]
  allowUnsigned?: boolean
  tenant?: string
  env?: NodeJS.ProcessEnv
}

export interface LoadedSettings {
  settings: SandboxSettings
  /** The token generated for embedded mode, to print once; undefined when it came from the env or a config. */
  generatedToken?: string
  embeddedToken?: string
}

const webhookList = (value: unknown, file: string, path: string): string[] => {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) return fail(file, path, 'must be a list of URLs')
  return value.map((url, i) => {
    try {
      const u = new URL(String(url))
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol')
      return u.toString()
    } catch {
      return fail(file, `${path}[${i}]`, `"${String(url)}" is not an http(s) URL`)
    }
  })
}

export function loadSettings(options: LoadSettingsOptions): LoadedSettings {
  const env = options.env ?? process.env
  const limitsFile = options.limitsFile ? resolve(options.limitsFile) : undefined
  const limitsRaw = limitsFile ? readYaml(limitsFile) : {}
  const lf = limitsFile ?? 'sandbox_limits.yaml'
  for (const key of Object.keys(limitsRaw)) if (key !== 'defaults' && key !== 'tenants') fail(lf, key, 'unknown key; expected defaults and tenants')
  const defaults = parseLimits(limitsRaw.defaults, DEFAULT_LIMITS, lf, 'defaults')
  const limitTenants = (limitsRaw.tenants ?? {}) as Record<string, unknown>
  if (typeof limitTenants !== 'object' || Array.isArray(limitTenants)) fail(lf, 'tenants', 'must be a mapping of tenant id to limits')

  const tenants = new Map<string, TenantSettings>()
  const tokens: TokenEntry[] = []
  let coreVersion = '1.4.0'
  let trust = (options.trust ?? []).map((p) => resolve(p))
  let webhooks: string[] = []
  let generatedToken: string | undefined
  let embeddedToken: string | undefined

  if (options.configFile) {
    const file = resolve(options.configFile)
    const raw = readYaml(file)
    const base = dirname(file)
    if (raw.core_version !== undefined) {
      const v = String(raw.core_version)
      if (!semver.valid(v)) fail(file, 'core_version', `"${v}" is not SemVer`)
      coreVersion = v
    }
    if (raw.trust !== undefined) {
      if (!Array.isArray(raw.trust)) fail(file, 'trust', 'must be a list of PEM files')
      trust = [...trust, ...(raw.trust as unknown[]).map((p) => resolve(base, String(p)))]
    }
    webhooks = webhookList(raw.webhooks, file, 'webhooks')
    const rawTenants = (raw.tenants ?? {}) as Record<string, unknown>
    if (typeof rawTenants !== 'object' || Array.isArray(rawTenants)) fail(file, 'tenants', 'must be a mapping of tenant id to settings')
    for (const [id, value] of Object.entries(rawTenants)) {
      if (!TENANT_ID.test(id)) fail(file, `tenants.${id}`, 'tenant ids are lowercase letters, digits, ".", "_" and "-"')
      const t = (value ?? {}) as Record<string, unknown>
      if (t.secret_env !== undefined && (!Array.isArray(t.secret_env) || t.secret_env.some((p) => typeof p !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*\*?$|^\*$/.test(p)))) {
        fail(file, `tenants.${id}.secret_env`, 'must be a list of variable names, optionally ending in * (a prefix)')
      }
      tenants.set(id, {
        id,
        allowUnsigned: t.allow_unsigned === true,
        webhooks: webhookList(t.webhooks, file, `tenants.${id}.webhooks`),
        limits: parseLimits(limitTenants[id], defaults, lf, `tenants.${id}`),
        // Default: any variable but the tokens'. Tenants sharing a sandbox should each get a list.
        secretEnv: (t.secret_env as string[] | undefined) ?? ['*'],
        secretDir: typeof t.secret_dir === 'string' ? resolve(base, t.secret_dir) : '',
      })
    }
    if (raw.tokens !== undefined && !Array.isArray(raw.tokens)) fail(file, 'tokens', 'must be a list')
    for (const [i, entry] of ((raw.tokens ?? []) as Array<Record<string, unknown>>).entries()) {
      const path = `tokens[${i}]`
      const tenant = String(entry?.tenant ?? '')
      if (!tenants.has(tenant)) fail(file, `${path}.tenant`, `"${tenant}" is not a tenant under tenants:`)
      let value: string | undefined
      if (typeof entry.token_env === 'string') {
        value = env[entry.token_env]
        if (!value) fail(file, `${path}.token_env`, `the environment variable ${entry.token_env} is not set`, `Export ${entry.token_env} before starting the sandbox.`)
      } else if (typeof entry.token === 'string' && entry.token.length > 0) {
        value = entry.token
      } else fail(file, path, 'needs token_env (recommended) or token')
      if (value!.length < 8) fail(file, path, 'tokens must be at least 8 characters long')
      const perms = entry.permissions
      if (!Array.isArray(perms) || perms.length === 0) fail(file, `${path}.permissions`, `must list permissions (${PERMISSIONS.join(', ')})`)
      for (const p of perms as unknown[]) if (!(PERMISSIONS as readonly unknown[]).includes(p)) fail(file, `${path}.permissions`, `unknown permission "${String(p)}"; known: ${PERMISSIONS.join(', ')}`)
      registerSecret(value)
      tokens.push({ name: typeof entry.name === 'string' ? entry.name : `token#${i + 1}`, digest: tokenDigest(value!), tenant, permissions: new Set(perms as string[]) })
    }
  } else {
    // Embedded defaults: one tenant, one token with every permission.
    const id = options.tenant ?? 'dev'
    if (!TENANT_ID.test(id)) fail('--tenant', 'tenant', `"${id}" is not a valid tenant id`)
    // One local developer: any variable of the sandbox's environment but the token's.
    tenants.set(id, { id, allowUnsigned: options.allowUnsigned === true, webhooks: [], limits: parseLimits(limitTenants[id], defaults, lf, `tenants.${id}`), secretEnv: ['*'], secretDir: '' })
    const fromEnv = env.PXP_SANDBOX_TOKEN
    embeddedToken = fromEnv && fromEnv.length >= 8 ? fromEnv : randomBytes(24).toString('base64url')
    if (embeddedToken !== fromEnv) generatedToken = embeddedToken
    registerSecret(embeddedToken)
    tokens.push({ name: 'embedded', digest: tokenDigest(embeddedToken), tenant: id, permissions: new Set(PERMISSIONS) })
  }
  const dataDir = resolve(options.dataDir ?? '.pxp-sandbox')
  for (const t of tenants.values()) if (!t.secretDir) t.secretDir = resolve(dataDir, 'tenants', t.id, 'secrets')
  const reservedEnv = new Set(['PXP_SANDBOX_TOKEN'])
  if (options.configFile) {
    const raw = readYaml(resolve(options.configFile))
    for (const entry of (raw.tokens ?? []) as Array<Record<string, unknown>>) if (typeof entry?.token_env === 'string') reservedEnv.add(entry.token_env)
  }
  for (const id of Object.keys(limitTenants)) if (!tenants.has(id)) fail(lf, `tenants.${id}`, 'is not a tenant of the sandbox config')
  for (const p of trust) if (!existsSync(p)) throw new PxpError('SANDBOX_CONFIG', `Trust root ${p} does not exist.`, { exitCode: 2, file: p, hint: 'Fix sandbox.yaml `trust`, --trust or PX_TRUST_ROOTS.' })

  return {
    settings: {
      coreVersion,
      trust,
      tenants,
      tokens,
      webhooks,
      dataDir,
      reservedEnv,
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
    },
    generatedToken,
    embeddedToken,
  }
}
