/**
 * The checks behind the validate, dependencies, quota and configure stages, shared by the install
 * pipeline (which stops at the first failing stage) and `POST /internal/plugins/packages/validate`
 * (which runs them all without side effects and reports each).
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs'
import { join, resolve, sep } from 'node:path'
import semver from 'semver'
import { parseDescriptor, validateDescriptor, type ValidDescriptor } from '../../descriptor/index.js'
import { verifyBundle, type VerifyReport } from '../../verify/index.js'
import type { SandboxSettings, TenantSettings } from '../config.js'
import type { Store } from '../store.js'
import { LOG_LEVELS, missingAnswers, wizardQuestions, type WizardAnswers, type WizardQuestion } from '../wizard.js'

export interface Problem {
  code: string
  reason: string
  status?: number
  details?: Record<string, unknown>
}

export class StageFailure extends Error {
  constructor(readonly problem: Problem) {
    super(problem.reason)
  }
}

const SIGNATURE_CODES = new Set(['SIGNATURE_MISSING', 'SIGNATURE_INVALID', 'CERT_UNTRUSTED', 'CERT_EXPIRED', 'CERT_NOT_YET_VALID', 'ALGORITHM_NOT_ALLOWED'])
export const isSignatureCode = (code: string) => SIGNATURE_CODES.has(code)

export interface Validated {
  report: VerifyReport
  descriptor: ValidDescriptor
  raw: Record<string, unknown>
}

const hostOs = () => (process.platform === 'win32' ? 'windows' : process.platform)
const hostArch = () => (process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch)
const ELF_MACHINE: Record<string, number> = { amd64: 0x3e, arm64: 0xb7, '386': 0x03, arm: 0x28 }

/** The magic of the entry: a script, or a native executable that must match this host. */
function platformProblem(file: string): string | undefined {
  const head = Buffer.alloc(20)
  const fd = openSync(file, 'r')
  try {
    readSync(fd, head, 0, 20, 0)
  } finally {
    closeSync(fd)
  }
  if (head[0] === 0x23 && head[1] === 0x21) return undefined // #! script
  if (head.readUInt32BE(0) === 0x7f454c46) {
    if (hostOs() !== 'linux') return `the entry is a Linux ELF executable; this sandbox runs on ${hostOs()}`
    const machine = head.readUInt16LE(18)
    const want = ELF_MACHINE[hostArch()]
    if (want !== undefined && machine !== want) return `the entry is an ELF executable for machine 0x${machine.toString(16)}; this sandbox is ${hostOs()}-${hostArch()}`
    return undefined
  }
  const magic = head.readUInt32BE(0)
  if ([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(magic) && hostOs() !== 'darwin') return 'the entry is a macOS (Mach-O) executable'
  if (head[0] === 0x4d && head[1] === 0x5a && hostOs() !== 'windows') return 'the entry is a Windows (PE) executable'
  return undefined
}

/** Is `child` inside `parent` (after resolving)? */
export function inside(parent: string, child: string): boolean {
  const p = resolve(parent)
  const c = resolve(child)
  return c === p || c.startsWith(p + sep)
}

/**
 * Stage 2: pxp-format.md verification (extracting into `extractTo` in the same pass when given),
 * plugin.yaml rules, runtime kind and the executable's platform. Throws StageFailure.
 */
export async function validateBundle(pkg: string, tenant: TenantSettings, settings: SandboxSettings, extractTo: string): Promise<Validated> {
  const report = await verifyBundle(pkg, {
    trust: settings.trust,
    allowUnsigned: tenant.allowUnsigned,
    limits: { maxTotalBytes: tenant.limits.max_unpacked_bytes },
    extractTo,
  })
  if (!report.ok) {
    const first = report.errors[0] ?? { code: 'VERIFY_FAILED', message: 'verification failed' }
    const sig = report.errors.some((e) => isSignatureCode(e.code))
    throw new StageFailure({
      code: first.code,
      status: 400,
      reason: report.errors.map((e) => `[${e.code}] ${e.path ? `${e.path}: ` : ''}${e.message}`).join('; '),
      details: { errors: report.errors, signature_failure: sig },
    })
  }
  if (!report.descriptor) throw new StageFailure({ code: 'invalid_manifest', status: 400, reason: 'The bundle has no plugin.yaml at its root.' })
  const raw = report.descriptor
  const hasFile = (p: string) => inside(extractTo, join(extractTo, p)) && existsSync(join(extractTo, p)) && statSync(join(extractTo, p)).isFile()
  const hasDir = (p: string) => inside(extractTo, join(extractTo, p)) && existsSync(join(extractTo, p)) && statSync(join(extractTo, p)).isDirectory()
  const outcome = validateDescriptor(raw, { hasFile, hasDir })
  if (!outcome.descriptor || outcome.errors.length > 0) {
    throw new StageFailure({ code: 'invalid_manifest', status: 400, reason: `plugin.yaml: ${outcome.errors.map((e) => `${e.field} ${e.message}`).join('; ')}`, details: { errors: outcome.errors } })
  }
  const d = outcome.descriptor
  // The id names directories under the tenant: it must not be `.`, `..` or hidden.
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(d.id)) throw new StageFailure({ code: 'invalid_manifest', status: 400, reason: `plugin.yaml: id "${d.id}" must start with a letter or digit.` })
  if (d.runtimeKind !== 'process') throw new StageFailure({ code: 'unsupported_runtime', status: 400, reason: `runtime.kind "${d.runtimeKind}" cannot run in the local sandbox; only process plugins can.` })
  const targets = ((report.manifest?.manifest as Record<string, unknown> | undefined)?.targets ?? []) as Array<{ os?: string; arch?: string }>
  if (targets.length > 0 && !targets.some((t) => t.os === hostOs() && t.arch === hostArch())) {
    throw new StageFailure({ code: 'PLUGIN_PACKAGE_PLATFORM_INCOMPATIBLE', status: 400, reason: `The bundle targets ${targets.map((t) => `${t.os}-${t.arch}`).join(', ')}; this sandbox runs on ${hostOs()}-${hostArch()}.` })
  }
  if (d.entry) {
    const entry = join(extractTo, d.entry)
    const problem = platformProblem(entry)
    if (problem) throw new StageFailure({ code: 'PLUGIN_PACKAGE_PLATFORM_INCOMPATIBLE', status: 400, reason: `${d.entry}: ${problem}.` })
  }
  return { report, descriptor: d, raw }
}

/** Stage 3. */
export function dependencyProblem(v: Validated, tenant: string, settings: SandboxSettings, store: Store, installId?: string): Problem | undefined {
  const d = v.descriptor
  if (d.corexVersion && !semver.satisfies(settings.coreVersion, d.corexVersion, { includePrerelease: true })) {
    return { code: 'incompatible_corex_version', status: 400, reason: `The plugin needs core ${d.corexVersion}; this sandbox is core ${settings.coreVersion}.`, details: { corex_version: d.corexVersion, core_version: settings.coreVersion } }
  }
  const missing: string[] = []
  for (const req of d.requires) {
    const dep = store.plugin(tenant, req.id)
    if (!dep || dep.status !== 'running' || !semver.satisfies(dep.current_version, req.range || '*', { includePrerelease: true })) {
      missing.push(`${req.id} ${req.range || '*'}${dep ? ` (installed: ${dep.current_version}, ${dep.status})` : ''}`)
    }
  }
  if (missing.length > 0) return { code: 'missing_dependency', status: 400, reason: `Required plugins are not running in tenant ${tenant}: ${missing.join(', ')}.`, details: { missing } }
  const conflicts = d.conflicts.filter((id) => store.plugin(tenant, id.split(/\s+/)[0]!))
  if (conflicts.length > 0) return { code: 'conflict', status: 409, reason: `The plugin conflicts with installed plugins: ${conflicts.join(', ')}.`, details: { conflicts } }
  const existing = store.plugin(tenant, d.id)
  if (existing?.versions[d.version] && existing.current_version === d.version && existing.status === 'running') {
    return { code: 'already_exists', status: 409, reason: `${d.id} ${d.version} is already installed and running in tenant ${tenant}.`, details: { hint: 'Bump the version, or DELETE the plugin first.' } }
  }
  const busy = store.installs().find((r) => r.id !== installId && r.tenant === tenant && r.plugin_id === d.id && !['running', 'failed'].includes(r.status))
  if (busy) return { code: 'version_conflict', status: 409, reason: `Another install of ${d.id} (${busy.id}) is in progress in tenant ${tenant}.` }
  return undefined
}

/** Memory a plugin reserves: `runtime.resources.memory_mb` (pxp extension), default 64. */
export function requestedMemory(raw: Record<string, unknown>): { reserve: number; declared?: number } {
  const res = ((raw.runtime as Record<string, unknown> | undefined)?.resources ?? {}) as Record<string, unknown>
  const declared = typeof res.memory_mb === 'number' && res.memory_mb > 0 ? res.memory_mb : undefined
  return { reserve: declared ?? 64, declared }
}

/** Stage 4 (check only; the pipeline reserves right after). */
export function quotaProblem(v: Validated, tenant: TenantSettings, store: Store, installId?: string): Problem | undefined {
  const limits = tenant.limits
  const id = v.descriptor.id
  const plugins = store.plugins(tenant.id)
  const others = store.reservations(tenant.id).filter(([key]) => key !== installId)
  const newSlot = !plugins.some((p) => p.id === id)
  const slots = plugins.length + others.filter(([, r]) => r.new_slot && r.plugin_id !== id).length
  if (newSlot && slots + 1 > limits.max_plugins) {
    return { code: 'quota_exceeded', status: 409, reason: `Tenant ${tenant.id} already has ${slots} plugin(s); max_plugins is ${limits.max_plugins}.`, details: { limit: 'max_plugins', value: limits.max_plugins, used: slots } }
  }
  const { reserve } = requestedMemory(v.raw)
  const used =
    plugins.filter((p) => p.id !== id && p.status === 'running').reduce((sum, p) => sum + (p.versions[p.current_version]?.memory_mb ?? 0), 0) +
    others.filter(([, r]) => r.plugin_id !== id).reduce((sum, [, r]) => sum + r.memory_mb, 0)
  if (used + reserve > limits.max_memory_mb) {
    return { code: 'quota_exceeded', status: 409, reason: `The plugin reserves ${reserve} MB; tenant ${tenant.id} has ${limits.max_memory_mb - used} of max_memory_mb ${limits.max_memory_mb} left.`, details: { limit: 'max_memory_mb', value: limits.max_memory_mb, used, requested: reserve } }
  }
  return undefined
}

/** Stage 5: required answers, log level, secret references this tenant may use and the server can resolve. */
export function configureProblem(v: Validated, answers: WizardAnswers, tenant: TenantSettings, settings: SandboxSettings): Problem | undefined {
  const questions = wizardQuestions(v.raw)
  const plain = questions.filter((q) => q.kind === 'secret' && answers.env[q.key] !== undefined).map((q) => q.key)
  if (plain.length > 0) return { code: 'secret_as_value', status: 400, reason: `Declared secrets must be sent as references, not values: ${plain.join(', ')}.`, details: { keys: plain } }
  const missing = missingAnswers(questions, answers)
  if (missing.length > 0) return { code: 'missing_configuration', status: 400, reason: `Missing required wizard answers: ${missing.join(', ')}.`, details: { missing } }
  if (answers.log_level && !(LOG_LEVELS as readonly string[]).includes(answers.log_level)) {
    return { code: 'invalid_arg', status: 400, reason: `log_level "${answers.log_level}" is not one of ${LOG_LEVELS.join(', ')}.` }
  }
  for (const [key, ref] of Object.entries(answers.secrets)) {
    const problem = secretRefProblem(ref, tenant, settings)
    if (problem) return { ...problem, reason: `Secret ${key}: ${problem.reason}`, details: { key } }
  }
  return undefined
}

export function questionsFor(v: Validated): WizardQuestion[] {
  return wizardQuestions(v.raw)
}

const envAllowed = (name: string, patterns: string[]) => patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p))

/**
 * Secret references the sandbox resolves itself: `env:NAME` (its environment, only names the
 * tenant's `secret_env` allows and never a token's variable) or `file:/path` (only inside the
 * tenant's `secret_dir`). A tenant can therefore never pull another tenant's token or files into
 * its plugin.
 */
export function secretRefProblem(ref: string, tenant: TenantSettings, settings: SandboxSettings): Problem | undefined {
  const m = /^(env|file):(.+)$/.exec(ref)
  if (!m) return { code: 'secret_unresolved', status: 400, reason: 'a secret must be a reference `env:NAME` or `file:/path` (the value itself is never sent)' }
  if (m[1] === 'env') {
    if (settings.reservedEnv.has(m[2]!) || !envAllowed(m[2]!, tenant.secretEnv)) {
      return { code: 'secret_not_allowed', status: 403, reason: `tenant ${tenant.id} may not read the variable ${m[2]} (allowed: ${tenant.secretEnv.join(', ')}; token variables never)` }
    }
    if (process.env[m[2]!] === undefined) return { code: 'secret_unresolved', status: 400, reason: `the sandbox's environment has no ${m[2]}` }
    return undefined
  }
  const file = resolve(tenant.secretDir, m[2]!)
  let real: string
  try {
    real = realpathSync(file)
  } catch {
    return inside(tenant.secretDir, file) ? { code: 'secret_unresolved', status: 400, reason: `the sandbox cannot read ${m[2]}` } : { code: 'secret_not_allowed', status: 403, reason: `file secrets must be inside ${tenant.secretDir}` }
  }
  let dir = tenant.secretDir
  try {
    dir = realpathSync(tenant.secretDir)
  } catch {
    // No secret directory: nothing is inside it.
  }
  if (!inside(dir, real)) return { code: 'secret_not_allowed', status: 403, reason: `file secrets must be inside ${tenant.secretDir}` }
  return undefined
}

export function resolveSecretRef(ref: string, tenant: TenantSettings, settings: SandboxSettings): string {
  const problem = secretRefProblem(ref, tenant, settings)
  if (problem) throw new StageFailure(problem)
  const m = /^(env|file):(.+)$/.exec(ref)!
  if (m[1] === 'env') return process.env[m[2]!]!
  return readFileSync(realpathSync(resolve(tenant.secretDir, m[2]!)), 'utf8').replace(/\r?\n$/, '')
}

export { parseDescriptor }
