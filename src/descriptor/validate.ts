/**
 * The checks PowerX Core runs at install time, run before packaging so a bundle that Core would
 * refuse is never built. Each issue names its field; all issues are reported at once.
 */
import semver from 'semver'
import { configError } from '../errors.js'
import type { Descriptor, DescriptorIssue, ValidDescriptor } from './types.js'

const ID = /^[a-z0-9._-]+$/
const GO_DURATION = /^(?:0|(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/
const RUNTIME_KINDS = ['process', 'static', 'remote'] as const
const DEV_PORTS = ['8078', '8086']

export interface BundleView {
  /** True when a regular file with this bundle path will be in the archive. */
  hasFile(path: string): boolean
  /** True when some file lives under this directory path. */
  hasDir(path: string): boolean
}

export interface ValidationOutcome {
  descriptor?: ValidDescriptor
  errors: DescriptorIssue[]
  /** Installed-mode convention breaches: warnings unless the config says `conventions: 'fail'`. */
  conventions: DescriptorIssue[]
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0

/** Normalises `./backend/bin/plugin` to the bundle path `backend/bin/plugin`. */
export function bundlePath(path: string): string {
  return path.replace(/^\.\//, '').replace(/\/+$/, '')
}

export function validateDescriptor(d: Descriptor, bundle: BundleView): ValidationOutcome {
  const errors: DescriptorIssue[] = []
  const conventions: DescriptorIssue[] = []
  const fail = (field: string, message: string) => errors.push({ field, message })

  if (!isString(d.id)) fail('id', 'is required')
  else if (!ID.test(d.id)) fail('id', `"${d.id}" must be a lowercase dotted id matching ^[a-z0-9._-]+$ (e.g. com.powerx.plugins.crm)`)

  const version = typeof d.version === 'number' ? String(d.version) : d.version
  if (!isString(version)) fail('version', 'is required (SemVer, e.g. 1.2.3)')
  else if (!semver.valid(version)) fail('version', `"${version}" is not SemVer (e.g. 1.2.3 or 1.2.3-beta.1)`)

  if (d.corex_version !== undefined && (!isString(d.corex_version) || !semver.validRange(d.corex_version))) {
    fail('corex_version', `"${String(d.corex_version)}" is not a SemVer range (e.g. ">=0.6.0")`)
  }

  // Legacy descriptors only have `backend`; Core treats them as process plugins.
  const kind = d.runtime?.kind ?? (d.backend?.entry !== undefined ? 'process' : undefined)
  const kindField = d.runtime ? 'runtime.kind' : 'runtime'
  if (kind === undefined) fail(kindField, `is required: one of ${RUNTIME_KINDS.join(', ')}`)
  else if (!(RUNTIME_KINDS as readonly unknown[]).includes(kind)) {
    fail('runtime.kind', `must be one of ${RUNTIME_KINDS.join(', ')} (got "${String(kind)}")`)
  }

  let entry: string | undefined
  if (kind === 'process') {
    const rawEntry = d.runtime?.entry ?? d.backend?.entry
    const field = d.runtime?.entry !== undefined ? 'runtime.entry' : 'backend.entry'
    if (!isString(rawEntry)) fail('runtime.entry', 'is required for process plugins (usually backend/bin/plugin)')
    else {
      entry = bundlePath(rawEntry)
      if (!bundle.hasFile(entry)) fail(field, `"${rawEntry}" is not in the bundle: build the backend binary for this target or fix the path`)
    }
    const base = d.endpoints?.http_base_path
    if (!isString(base)) fail('endpoints.http_base_path', 'is required for process plugins (e.g. /api/v1)')
    else if (!base.startsWith('/')) fail('endpoints.http_base_path', `"${base}" must start with /`)
  }

  const durations: Array<[string, unknown]> = [
    ['runtime.health.interval', d.runtime?.health?.interval],
    ['runtime.health.timeout', d.runtime?.health?.timeout],
    ['backend.health.interval', d.backend?.health?.interval],
    ['backend.health.timeout', d.backend?.health?.timeout],
    ['migrations.timeout', d.migrations?.timeout],
  ]
  for (const [field, value] of durations) {
    if (value !== undefined && !(typeof value === 'string' && GO_DURATION.test(value))) {
      fail(field, `"${String(value)}" is not a Go duration (e.g. 300ms, 5s, 1m30s)`)
    }
  }

  if (d.migrations !== undefined) {
    const m = d.migrations
    if (!isString(m.entry)) fail('migrations.entry', 'is required when migrations are declared')
    else if (!bundle.hasFile(bundlePath(m.entry))) fail('migrations.entry', `"${m.entry}" is not in the bundle`)
    if (m.workdir !== undefined && (!isString(m.workdir) || !bundle.hasDir(bundlePath(m.workdir)))) {
      fail('migrations.workdir', `"${String(m.workdir)}" must be a directory in the bundle`)
    }
  }

  if (d.catalogs !== undefined) {
    if (!Array.isArray(d.catalogs)) fail('catalogs', 'must be a list of paths to plugin.d/*.yaml files')
    else d.catalogs.forEach((c, i) => {
      if (!isString(c) || !bundle.hasFile(bundlePath(c))) fail(`catalogs[${i}]`, `"${String(c)}" is not in the bundle`)
    })
  }

  const admin = d.frontend?.admin
  if (admin?.kind === 'static' && admin.static_dir !== undefined) {
    if (!isString(admin.static_dir) || !bundle.hasDir(bundlePath(admin.static_dir))) {
      fail('frontend.admin.static_dir', `"${String(admin.static_dir)}" must be a directory in the bundle`)
    }
  }

  const deps = parseDependencies(d.dependencies, fail)
  const secrets = parseSecrets(d.secrets, fail)
  const permissions = flattenPermissions(d)

  if (kind === 'process') checkInstalledMode(d, conventions)

  if (errors.length > 0) return { errors, conventions }
  return {
    errors,
    conventions,
    descriptor: {
      id: d.id as string,
      name: isString(d.name) ? d.name : (d.id as string),
      version: version as string,
      runtimeKind: kind as ValidDescriptor['runtimeKind'],
      entry,
      corexVersion: d.corex_version as string | undefined,
      permissions,
      requires: deps.requires,
      conflicts: deps.conflicts,
      secrets,
      raw: d,
    },
  }
}

/** Validates and throws one error listing every issue (exit code 2: the descriptor is user input). */
export function assertValidDescriptor(d: Descriptor, bundle: BundleView, file = 'plugin.yaml'): ValidationOutcome & { descriptor: ValidDescriptor } {
  const outcome = validateDescriptor(d, bundle)
  if (!outcome.descriptor) {
    const lines = outcome.errors.map((e) => `  - ${e.field}: ${e.message}`).join('\n')
    throw configError('DESCRIPTOR_INVALID', `${file} has ${outcome.errors.length} problem${outcome.errors.length > 1 ? 's' : ''}:\n${lines}`, {
      file,
      keyPath: outcome.errors[0]!.field,
      hint: 'PowerX Core would refuse this descriptor at install; fix the fields listed above.',
      details: { issues: outcome.errors },
    })
  }
  return outcome as ValidationOutcome & { descriptor: ValidDescriptor }
}

function parseDependencies(raw: unknown, fail: (f: string, m: string) => void) {
  const requires: Array<{ id: string; range: string }> = []
  const conflicts: string[] = []
  if (raw === undefined || raw === null) return { requires, conflicts }
  // Some repos write `dependencies: [{ id, version }]`, others `{ requires: ["<id> <range>"] }`.
  const list = Array.isArray(raw) ? raw : (raw as { requires?: unknown }).requires
  if (list !== undefined && !Array.isArray(list)) fail('dependencies.requires', 'must be a list')
  for (const [i, item] of (Array.isArray(list) ? list : []).entries()) {
    const field = Array.isArray(raw) ? `dependencies[${i}]` : `dependencies.requires[${i}]`
    let id: unknown, range: unknown
    if (typeof item === 'string') [id, range = '*'] = item.trim().split(/\s+/, 2)
    else if (item && typeof item === 'object') ({ id, version: range = '*' } = item as { id?: unknown; version?: unknown })
    if (!isString(id) || !ID.test(id)) fail(field, `"${JSON.stringify(item)}" must name a plugin id ("<id> <range>" or { id, version })`)
    else if (!isString(range) || !semver.validRange(range)) fail(field, `"${String(range)}" is not a SemVer range`)
    else requires.push({ id, range })
  }
  if (!Array.isArray(raw)) {
    const c = (raw as { conflicts?: unknown }).conflicts
    if (Array.isArray(c)) conflicts.push(...c.map((x) => String(x).split(/\s+/)[0]!))
  }
  return { requires, conflicts }
}

function parseSecrets(raw: unknown, fail: (f: string, m: string) => void): string[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) {
    fail('secrets', 'must be a list of names or { name, description }')
    return []
  }
  return raw.flatMap((s, i) => {
    const name = typeof s === 'string' ? s : (s as { name?: unknown })?.name
    if (!isString(name)) {
      fail(`secrets[${i}]`, 'must be a name or { name, description }')
      return []
    }
    return [name]
  })
}

/** `permissions`/`rbac.resources` as `resource:action`, the form manifest.json carries. */
function flattenPermissions(d: Descriptor): string[] {
  const out = new Set<string>()
  for (const source of [d.permissions, d.rbac?.resources]) {
    if (!Array.isArray(source)) continue
    for (const p of source) {
      if (typeof p === 'string') out.add(p)
      else if (p && typeof p === 'object' && isString((p as { resource?: unknown }).resource)) {
        const { resource, actions } = p as { resource: string; actions?: unknown }
        if (Array.isArray(actions)) for (const a of actions) out.add(`${resource}:${String(a)}`)
        else out.add(resource)
      }
    }
  }
  return [...out].sort()
}

function checkInstalledMode(d: Descriptor, out: DescriptorIssue[]): void {
  const env = d.runtime?.env ?? {}
  if (env.POWERX_BIND_ADDR !== ':__POWERX_DYNAMIC_PORT__') {
    out.push({ field: 'runtime.env.POWERX_BIND_ADDR', message: 'should be ":__POWERX_DYNAMIC_PORT__" so the host injects a free port' })
  }
  if (env.POWERX_PLUGIN_REGISTRATION_MODE !== 'installed') {
    out.push({ field: 'runtime.env.POWERX_PLUGIN_REGISTRATION_MODE', message: 'should be "installed"' })
  }
  if (d.backend?.port !== undefined && Number(d.backend.port) !== 0) {
    out.push({ field: 'backend.port', message: `should be 0 in installed mode (got ${String(d.backend.port)})` })
  }
  for (const [key, value] of Object.entries(env)) {
    if (DEV_PORTS.some((port) => String(value).includes(`:${port}`))) {
      out.push({ field: `runtime.env.${key}`, message: `hard-codes a development port (${String(value)})` })
    }
  }
}
