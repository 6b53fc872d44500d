/**
 * The sandbox's engine, independent of HTTP: the eight install stages, rollback with its own time
 * budget, plugin processes, uninstall and manual rollback, crash recovery. Every step is audited in
 * the tenant's hash-chained audit log and emitted as an event.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { AuditLog } from '../report/audit-log.js'
import { registerSecret } from '../redact.js'
import { parseDescriptor } from '../descriptor/index.js'
import type { SandboxSettings, TenantSettings } from './config.js'
import { parseGoDuration } from './durations.js'
import { EventHub } from './events.js'
import {
  StageFailure,
  configureProblem,
  dependencyProblem,
  inside,
  isSignatureCode,
  quotaProblem,
  requestedMemory,
  resolveSecretRef,
  validateBundle,
  type Problem,
  type Validated,
} from './install/checks.js'
import { baseEnv, freePort, killGroup, PluginLog, processAlive, Runner, RunnerFault, runMigration } from './runner.js'
import { Store } from './store.js'
import { STAGES, type InstallConfig, type InstallRecord, type PluginRecord, type StageName } from './types.js'
import { resolveEnv } from './wizard.js'

const now = () => new Date().toISOString()
// Unref'd: a pending budget timer must never keep the process alive after a graceful stop.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref())

export class Sandbox {
  readonly store: Store
  readonly events: EventHub
  readonly runner = new Runner()
  private readonly audits = new Map<string, AuditLog>()
  private readonly inflight = new Map<string, Promise<void>>()
  baseUrl = ''
  private closing = false

  constructor(readonly settings: SandboxSettings) {
    mkdirSync(settings.dataDir, { recursive: true })
    this.store = new Store(settings.dataDir)
    this.events = new EventHub(settings.dataDir, (t) => [...settings.webhooks, ...(settings.tenants.get(t)?.webhooks ?? [])], (url, event, reason) => {
      this.audit(event.tenant_id, 'webhook.failed', 'sandbox', { url, event: event.type, seq: event.seq, reason })
    })
  }

  tenant(id: string): TenantSettings | undefined {
    return this.settings.tenants.get(id)
  }

  tenantDir(tenant: string): string {
    return join(this.settings.dataDir, 'tenants', tenant)
  }

  abs(rel: string): string {
    return join(this.settings.dataDir, rel)
  }

  rel(abs: string): string {
    return relative(this.settings.dataDir, abs)
  }

  auditFile(tenant: string): string {
    return join(this.tenantDir(tenant), 'audit.log')
  }

  audit(tenant: string, action: string, actor: string, metadata: Record<string, unknown> = {}): void {
    let log = this.audits.get(tenant)
    if (!log) {
      log = AuditLog.open(this.auditFile(tenant), 'pxp-sandbox')
      this.audits.set(tenant, log)
    }
    log.append(action, { by: actor, ...metadata })
  }

  logFile(tenant: string, pluginId: string, version: string): string {
    return join(this.tenantDir(tenant), 'logs', pluginId, `${version}.log`)
  }

  urls(tenant: string, pluginId: string, basePath?: string): { entry_url: string; test_url: string; logs_url: string } {
    const entry = `${this.baseUrl}/_p/${encodeURIComponent(tenant)}/${encodeURIComponent(pluginId)}/`
    return {
      entry_url: entry,
      test_url: basePath ? entry + basePath.replace(/^\/+/, '') : entry,
      logs_url: `${this.baseUrl}/api/tenants/${encodeURIComponent(tenant)}/plugins/${encodeURIComponent(pluginId)}/logs`,
    }
  }

  // ---------------------------------------------------------------- install

  /** Creates the record of an install whose package is being received. */
  beginInstall(tenant: string, actor: string): InstallRecord {
    const rec: InstallRecord = {
      id: `inst_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`,
      tenant,
      actor,
      trace_id: randomUUID(),
      status: 'receiving',
      stage: 'receive',
      stages: [{ name: 'receive', status: 'running', started_at: now() }],
      created_at: now(),
      config: { env: {}, secrets: {} },
      effects: [],
    }
    rec.staging = this.rel(join(this.tenantDir(tenant), 'staging', `${rec.id}.pxp`))
    rec.effects.push('staged')
    this.store.putInstall(rec)
    this.audit(tenant, 'install.requested', actor, { install_id: rec.id, trace_id: rec.trace_id })
    this.events.emit(tenant, 'plugin.install.stage_started', { install_id: rec.id, data: { stage: 'receive', trace_id: rec.trace_id } })
    return rec
  }

  inflightCount(tenant: string): number {
    return this.store.installs().filter((r) => r.tenant === tenant && !['running', 'failed'].includes(r.status)).length
  }

  /** The receive stage finished: record it and run the other seven in the background. */
  received(id: string, info: { bytes: number; config: InstallConfig; force: boolean }): void {
    const rec = this.store.install(id)!
    const stage = rec.stages.at(-1)!
    stage.status = 'ok'
    stage.duration_ms = Date.now() - Date.parse(stage.started_at)
    rec.package_bytes = info.bytes
    rec.config = info.config
    rec.force = info.force
    rec.status = 'pending'
    this.store.putInstall(rec)
    this.audit(rec.tenant, 'install.stage', rec.actor, { install_id: id, stage: 'receive', status: 'ok', duration_ms: stage.duration_ms, bytes: info.bytes })
    this.events.emit(rec.tenant, 'plugin.install.stage_completed', { install_id: id, data: { stage: 'receive', duration_ms: stage.duration_ms, trace_id: rec.trace_id } })
    const run = this.runStages(id)
      .catch((error: Error) => {
        // Only a broken data directory gets here (the stages catch everything else).
        process.stderr.write(`pxp sandbox: install ${id} could not record its outcome: ${error.message}\n`)
      })
      .finally(() => this.inflight.delete(id))
    this.inflight.set(id, run)
  }

  /** The receive stage failed (size limit, bad form): nothing but the staging file to undo. */
  async receiveFailed(id: string, problem: Problem): Promise<InstallRecord> {
    const rec = this.store.install(id)!
    return this.fail(rec, 'receive', problem, Date.now() + this.tenant(rec.tenant)!.limits.rollback_timeout)
  }

  private async runStages(id: string): Promise<void> {
    let rec = this.store.install(id)!
    const tenant = this.tenant(rec.tenant)!
    const started = Date.parse(rec.created_at)
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(), Math.max(0, tenant.limits.install_timeout - (Date.now() - started)))
    let validated: Validated | undefined
    const save = () => this.store.putInstall(rec)
    const stage = async (name: StageName, fn: () => Promise<void> | void) => {
      if (abort.signal.aborted) throw new StageFailure({ code: 'timeout', status: 504, reason: `The install exceeded install_timeout (${tenant.limits.install_timeout} ms) before stage ${name}.` })
      rec.stage = name
      rec.status = 'installing'
      const record = { name, status: 'running' as const, started_at: now() }
      rec.stages.push(record)
      save()
      this.events.emit(rec.tenant, 'plugin.install.stage_started', { install_id: id, plugin_id: rec.plugin_id, version: rec.version, data: { stage: name, trace_id: rec.trace_id } })
      const t0 = Date.now()
      try {
        await fn()
        if (abort.signal.aborted) throw new StageFailure({ code: 'timeout', status: 504, reason: `The install exceeded install_timeout (${tenant.limits.install_timeout} ms) during stage ${name}.` })
      } catch (error) {
        const last = rec.stages.at(-1)!
        last.duration_ms = Date.now() - t0
        throw error
      }
      const last = rec.stages.at(-1)!
      Object.assign(last, { status: 'ok', duration_ms: Date.now() - t0 })
      save()
      this.audit(rec.tenant, 'install.stage', rec.actor, { install_id: id, plugin_id: rec.plugin_id, version: rec.version, stage: name, status: 'ok', duration_ms: last.duration_ms })
      this.events.emit(rec.tenant, 'plugin.install.stage_completed', { install_id: id, plugin_id: rec.plugin_id, version: rec.version, data: { stage: name, duration_ms: last.duration_ms, trace_id: rec.trace_id } })
    }

    try {
      const extractDir = join(this.tenantDir(rec.tenant), 'staging', `${id}.d`)
      await stage('validate', async () => {
        rec.effects.push('extracted')
        rec.version_dir = this.rel(extractDir)
        save()
        try {
          validated = await validateBundle(this.abs(rec.staging!), tenant, this.settings, extractDir)
        } catch (error) {
          if (error instanceof StageFailure && isSignatureCode(error.problem.code)) rec.signature_failure = true
          throw error
        }
        rec.plugin_id = validated.descriptor.id
        rec.version = validated.descriptor.version
        rec.package_sha256 = validated.report.bundleSha256
      })
      const v = validated!
      await stage('dependencies', () => {
        const p = dependencyProblem(v, rec.tenant, this.settings, this.store, id)
        if (p) throw new StageFailure(p)
        const existing = this.store.plugin(rec.tenant, v.descriptor.id)
        if (existing) {
          rec.previous_version = existing.current_version
          rec.previous_was_running = existing.status === 'running'
        }
      })
      await stage('quota', () => {
        const p = quotaProblem(v, tenant, this.store, id)
        if (p) throw new StageFailure(p)
        this.store.reserve(id, { tenant: rec.tenant, plugin_id: v.descriptor.id, new_slot: !this.store.plugin(rec.tenant, v.descriptor.id), memory_mb: requestedMemory(v.raw).reserve })
        rec.effects.push('reserved')
      })
      await stage('configure', () => {
        const p = configureProblem(v, rec.config, tenant, this.settings)
        if (p) throw new StageFailure(p)
      })
      await stage('provision', async () => {
        const target = join(this.tenantDir(rec.tenant), 'plugins', v.descriptor.id, v.descriptor.version)
        if (existsSync(target)) rmSync(target, { recursive: true, force: true }) // a stopped leftover of the same version
        mkdirSync(join(target, '..'), { recursive: true })
        renameSync(extractDir, target)
        rec.version_dir = this.rel(target)
        save()
        mkdirSync(join(target, '.pxp-data'), { recursive: true })
        const mig = (v.raw.migrations ?? undefined) as Record<string, unknown> | undefined
        if (mig && typeof mig.entry === 'string') {
          const entry = join(target, mig.entry)
          const workdir = join(target, typeof mig.workdir === 'string' ? mig.workdir : '.')
          if (!inside(target, entry) || !inside(target, workdir)) throw new StageFailure({ code: 'invalid_manifest', reason: 'migrations.entry and migrations.workdir must stay inside the bundle.' })
          const { env, secrets } = this.processEnv(rec.tenant, v.descriptor.id, rec.version!, v.raw, rec.config, target)
          const log = new PluginLog(this.logFile(rec.tenant, v.descriptor.id, rec.version!), secrets)
          try {
            // Paths in migrations.args are relative to the bundle root (the playground passes
            // `--dir migrations`); `workdir` is announced as POWERX_MIGRATIONS_DIR.
            await runMigration({
              cwd: target,
              entry,
              args: Array.isArray(mig.args) ? mig.args.map(String) : [],
              env: { ...env, POWERX_MIGRATIONS_DIR: workdir },
              timeoutMs: Math.min(parseGoDuration(mig.timeout) ?? 300_000, Math.max(1, tenant.limits.install_timeout - (Date.now() - started))),
              openFiles: tenant.limits.max_open_files,
              log,
              signal: abort.signal,
              onSpawn: (pid) => {
                rec.pid = pid
                save()
              },
            })
            delete rec.pid
          } catch (error) {
            if (error instanceof RunnerFault) throw new StageFailure({ code: error.code, status: error.code === 'timeout' ? 504 : 500, reason: error.message })
            throw error
          } finally {
            await log.close()
          }
        }
      })
      await stage('start', async () => {
        if (rec.previous_version && rec.previous_was_running && this.runner.has(this.key(rec.tenant, v.descriptor.id))) {
          rec.effects.push('stopped_previous')
          save()
          await this.runner.stop(this.key(rec.tenant, v.descriptor.id))
        }
        rec.effects.push('started')
        save()
        const { pid, port } = await this.startProcess(rec.tenant, v.descriptor.id, rec.version!, rec.config, requestedMemory(v.raw).declared, abort.signal, (p) => {
          rec.pid = p
          save()
        })
        rec.pid = pid
        rec.port = port
      })
      await stage('expose', async () => {
        // pxp extension: `seed: { entry, args, timeout }` loads test data once the plugin answers.
        const seed = (v.raw.seed ?? undefined) as Record<string, unknown> | undefined
        if (seed && typeof seed.entry === 'string') {
          const dir = this.abs(rec.version_dir!)
          const entry = join(dir, seed.entry)
          if (!inside(dir, entry)) throw new StageFailure({ code: 'invalid_manifest', reason: 'seed.entry must stay inside the bundle.' })
          const { env, secrets } = this.processEnv(rec.tenant, v.descriptor.id, rec.version!, v.raw, rec.config, dir, rec.port)
          const log = new PluginLog(this.logFile(rec.tenant, v.descriptor.id, rec.version!), secrets)
          try {
            await runMigration({
              cwd: dir,
              entry,
              args: Array.isArray(seed.args) ? seed.args.map(String) : [],
              env: { ...env, POWERX_PLUGIN_URL: `http://127.0.0.1:${rec.port}` },
              timeoutMs: Math.min(parseGoDuration(seed.timeout) ?? 60_000, Math.max(1, tenant.limits.install_timeout - (Date.now() - started))),
              openFiles: tenant.limits.max_open_files,
              log,
              signal: abort.signal,
            })
          } catch (error) {
            if (error instanceof RunnerFault) throw new StageFailure({ code: error.code === 'migration_failed' ? 'seed_failed' : error.code, status: 500, reason: error.message.replace('migration', 'seed step') })
            throw error
          } finally {
            await log.close()
          }
        }
        const basePath = (v.raw.endpoints as Record<string, unknown> | undefined)?.http_base_path as string | undefined
        const urls = this.urls(rec.tenant, v.descriptor.id, basePath)
        const existing = this.store.plugin(rec.tenant, v.descriptor.id)
        const record: PluginRecord = existing ?? { tenant: rec.tenant, id: v.descriptor.id, current_version: rec.version!, status: 'running', versions: {}, updated_at: now() }
        if (existing && existing.current_version !== rec.version) record.previous_version = existing.current_version
        record.versions[rec.version!] = { version: rec.version!, dir: rec.version_dir!, installed_at: now(), install_id: id, config: rec.config, memory_mb: requestedMemory(v.raw).reserve }
        // Keep the running version and the one before it; older versions' files go.
        for (const old of Object.keys(record.versions)) {
          if (old !== rec.version && old !== record.previous_version) {
            rmSync(this.abs(record.versions[old]!.dir), { recursive: true, force: true })
            delete record.versions[old]
          }
        }
        Object.assign(record, { current_version: rec.version!, status: 'running', port: rec.port, pid: rec.pid, entry_url: urls.entry_url, test_url: urls.test_url, updated_at: now() })
        delete record.last_exit
        this.store.putPlugin(record)
        this.store.release(id)
        Object.assign(rec, urls)
      })
      rmSync(this.abs(rec.staging!), { force: true })
      rec.status = 'running'
      rec.finished_at = now()
      rec.duration_ms = Date.now() - started
      rec.effects = []
      save()
      this.audit(rec.tenant, 'install.completed', rec.actor, { install_id: id, plugin_id: rec.plugin_id, version: rec.version, duration_ms: rec.duration_ms, package_sha256: rec.package_sha256, entry_url: rec.entry_url })
      this.events.emit(rec.tenant, 'plugin.install.sandbox_completed', {
        install_id: id,
        plugin_id: rec.plugin_id,
        version: rec.version,
        data: { tenant_id: rec.tenant, plugin_id: rec.plugin_id, version: rec.version, trace_id: rec.trace_id, install_duration_ms: rec.duration_ms, entry_url: rec.entry_url, test_url: rec.test_url, logs_url: rec.logs_url },
      })
    } catch (error) {
      clearTimeout(timer)
      const problem: Problem = error instanceof StageFailure ? error.problem : error instanceof RunnerFault ? { code: error.code, reason: error.message } : { code: 'internal', status: 500, reason: (error as Error).message }
      await this.fail(rec, rec.stage ?? 'receive', problem, Date.now() + tenant.limits.rollback_timeout)
    } finally {
      clearTimeout(timer)
    }
  }

  private key(tenant: string, id: string): string {
    return `${tenant}/${id}`
  }

  /** Env and secret values for a plugin version (secrets resolved from their references now). */
  private processEnv(tenant: string, pluginId: string, version: string, raw: Record<string, unknown>, config: InstallConfig, dir: string, port?: number): { env: Record<string, string>; secrets: string[] } {
    const secretValues: Record<string, string> = {}
    for (const [key, ref] of Object.entries(config.secrets)) {
      secretValues[key] = resolveSecretRef(ref, this.tenant(tenant)!, this.settings)
      registerSecret(secretValues[key])
    }
    const { env } = resolveEnv(raw, config, secretValues, port)
    return {
      env: {
        ...baseEnv(join(dir, '.pxp-data')),
        ...env,
        PLUGIN_DATA_DIR: join(dir, '.pxp-data'),
        POWERX_PLUGIN_ID: pluginId,
        POWERX_PLUGIN_VERSION: version,
        POWERX_TENANT_ID: tenant,
        ...(port !== undefined && { PORT: String(port) }),
      },
      secrets: Object.values(secretValues),
    }
  }

  /** Starts a version of a plugin (install, rollback of an upgrade, manual rollback, recovery). */
  private async startProcess(tenant: string, pluginId: string, version: string, config: InstallConfig, declaredMemory: number | undefined, signal: AbortSignal | undefined, onPid?: (pid: number) => void): Promise<{ pid: number; port: number }> {
    const t = this.tenant(tenant)!
    const dir = join(this.tenantDir(tenant), 'plugins', pluginId, version)
    const raw = parseDescriptor(readFileSync(join(dir, 'plugin.yaml'), 'utf8'), 'plugin.yaml') as Record<string, unknown>
    const runtime = (raw.runtime ?? {}) as Record<string, unknown>
    const health = (runtime.health ?? (raw.backend as Record<string, unknown> | undefined)?.health ?? {}) as Record<string, unknown>
    const entryRel = String(runtime.entry ?? (raw.backend as Record<string, unknown> | undefined)?.entry ?? '')
    const entry = join(dir, entryRel)
    if (!entryRel || !inside(dir, entry)) throw new RunnerFault('invalid_manifest', 'runtime.entry must name a file inside the bundle.')
    const port = await freePort()
    const { env, secrets } = this.processEnv(tenant, pluginId, version, raw, config, dir, port)
    const log = new PluginLog(this.logFile(tenant, pluginId, version), secrets)
    const key = this.key(tenant, pluginId)
    try {
      const started = this.runner.start({
        key,
        cwd: dir,
        entry,
        args: Array.isArray(runtime.args) ? runtime.args.map(String) : [],
        env,
        port,
        healthPath: typeof health.http === 'string' ? health.http : undefined,
        healthTimeoutMs: t.limits.health_timeout,
        healthRequestTimeoutMs: parseGoDuration(health.timeout) ?? 2000,
        memoryMb: declaredMemory ?? t.limits.max_memory_mb,
        openFiles: t.limits.max_open_files,
        log,
        signal,
        onExit: (info) => this.processExited(tenant, pluginId, version, info),
      })
      // The pid is recorded as soon as it exists so a crash recovery can find the process.
      const poll = setInterval(() => {
        const pid = this.runner.pid(key)
        if (pid) {
          onPid?.(pid)
          clearInterval(poll)
        }
      }, 20)
      try {
        const { pid } = await started
        return { pid, port }
      } finally {
        clearInterval(poll)
      }
    } catch (error) {
      await log.close()
      throw error
    }
  }

  private processExited(tenant: string, pluginId: string, version: string, info: { code: number | null; signal: string | null; reason?: string }): void {
    if (this.closing) return
    const record = this.store.plugin(tenant, pluginId)
    if (!record || record.current_version !== version || record.status !== 'running') return
    record.status = info.reason ? 'killed' : 'crashed'
    record.last_exit = { ...info, at: now() }
    delete record.pid
    record.updated_at = now()
    this.store.putPlugin(record)
    this.audit(tenant, 'plugin.exited', 'sandbox', { plugin_id: pluginId, version, ...info })
    this.events.emit(tenant, 'plugin.process.exited', { plugin_id: pluginId, version, data: { ...info, status: record.status } })
  }

  // ---------------------------------------------------------------- rollback

  /** Marks the install failed after undoing its effects within the rollback budget. */
  private async fail(rec: InstallRecord, stage: StageName, problem: Problem, deadline: number): Promise<InstallRecord> {
    const last = rec.stages.at(-1)
    if (last && last.status === 'running') Object.assign(last, { status: 'failed', reason: problem.reason, error_code: problem.code, duration_ms: last.duration_ms ?? Date.now() - Date.parse(last.started_at) })
    rec.stage = stage
    rec.error_code = problem.code
    rec.failure_reason = problem.reason
    rec.status = 'rolling_back'
    this.store.putInstall(rec)
    this.audit(rec.tenant, 'install.stage', rec.actor, { install_id: rec.id, plugin_id: rec.plugin_id, version: rec.version, stage, status: 'failed', error_code: problem.code, reason: problem.reason })
    this.events.emit(rec.tenant, 'plugin.install.stage_failed', { install_id: rec.id, plugin_id: rec.plugin_id, version: rec.version, data: { stage, error_code: problem.code, reason: problem.reason, trace_id: rec.trace_id } })
    this.events.emit(rec.tenant, 'plugin.install.rollback_started', { install_id: rec.id, plugin_id: rec.plugin_id, version: rec.version, data: { stage, trace_id: rec.trace_id, effects: rec.effects } })
    const t0 = Date.now()
    const budget = Math.max(0, deadline - Date.now())
    let rolledBack = false
    let rollbackError: string | undefined
    const undo = this.undo(rec).then(
      (problems) => {
        rolledBack = problems.length === 0
        if (problems.length) rollbackError = problems.join('; ')
      },
      (error: Error) => {
        rollbackError = error.message
      },
    )
    let timedOut = false
    await Promise.race([undo, sleep(budget).then(() => (timedOut = true))])
    if (timedOut) {
      rolledBack = false
      rollbackError = `the rollback exceeded its budget of ${budget} ms`
      this.forceCleanup(rec)
    }
    rec.rollback_duration_ms = Date.now() - t0
    rec.stages.push({ name: 'rollback', status: rolledBack ? 'ok' : 'failed', started_at: new Date(t0).toISOString(), duration_ms: rec.rollback_duration_ms, ...(rollbackError && { reason: rollbackError }) })
    rec.rolled_back = rolledBack
    rec.status = 'failed'
    rec.finished_at = now()
    rec.duration_ms = Date.now() - Date.parse(rec.created_at)
    rec.effects = []
    this.store.putInstall(rec)
    this.audit(rec.tenant, 'install.failed', rec.actor, { install_id: rec.id, plugin_id: rec.plugin_id, version: rec.version, stage, error_code: problem.code, failure_reason: problem.reason, rolled_back: rolledBack, ...(rollbackError && { rollback_error: rollbackError }), rollback_duration_ms: rec.rollback_duration_ms })
    this.events.emit(rec.tenant, 'plugin.install.failed', {
      install_id: rec.id,
      plugin_id: rec.plugin_id,
      version: rec.version,
      data: { tenant_id: rec.tenant, plugin_id: rec.plugin_id ?? null, version: rec.version ?? null, trace_id: rec.trace_id, stage, error_code: problem.code, failure_reason: problem.reason, rolled_back: rolledBack, ...(rollbackError && { rollback_error: rollbackError }), ...(problem.details && { details: problem.details }) },
    })
    return rec
  }

  /** Undoes effects in reverse order; returns what could not be undone. */
  private async undo(rec: InstallRecord): Promise<string[]> {
    const problems: string[] = []
    const key = rec.plugin_id ? this.key(rec.tenant, rec.plugin_id) : undefined
    for (const effect of [...rec.effects].reverse()) {
      try {
        if (effect === 'started' && key) {
          await this.runner.stop(key, 3000)
          if (rec.pid) killGroup(rec.pid)
        } else if (effect === 'stopped_previous' && rec.plugin_id && rec.previous_version) {
          await this.restartCurrent(rec.tenant, rec.plugin_id)
        } else if (effect === 'reserved') {
          this.store.release(rec.id)
        } else if (effect === 'extracted' && rec.version_dir) {
          rmSync(this.abs(rec.version_dir), { recursive: true, force: true })
          const pluginDir = join(this.abs(rec.version_dir), '..')
          if (rec.plugin_id && !this.store.plugin(rec.tenant, rec.plugin_id) && existsSync(pluginDir) && inside(join(this.tenantDir(rec.tenant), 'plugins'), pluginDir) && readdirSync(pluginDir).length === 0) rmSync(pluginDir, { recursive: true, force: true })
        } else if (effect === 'staged' && rec.staging) {
          rmSync(this.abs(rec.staging), { force: true })
        }
      } catch (error) {
        problems.push(`${effect}: ${(error as Error).message}`)
      }
    }
    return problems
  }

  private forceCleanup(rec: InstallRecord): void {
    if (rec.pid) killGroup(rec.pid)
    if (rec.version_dir) rmSync(this.abs(rec.version_dir), { recursive: true, force: true })
    if (rec.staging) rmSync(this.abs(rec.staging), { force: true })
    this.store.release(rec.id)
  }

  /** Starts the plugin's recorded current version again (after a failed upgrade, at recovery). */
  async restartCurrent(tenant: string, pluginId: string): Promise<void> {
    const record = this.store.plugin(tenant, pluginId)
    if (!record) return
    const version = record.versions[record.current_version]
    if (!version) return
    try {
      const { pid, port } = await this.startProcess(tenant, pluginId, record.current_version, version.config, undefined, undefined)
      Object.assign(record, { status: 'running', pid, port, updated_at: now() })
      delete record.last_exit
      this.store.putPlugin(record)
      this.events.emit(tenant, 'plugin.process.started', { plugin_id: pluginId, version: record.current_version, data: { port } })
    } catch (error) {
      Object.assign(record, { status: 'crashed', updated_at: now(), last_exit: { code: null, signal: null, reason: (error as Error).message, at: now() } })
      delete record.pid
      this.store.putPlugin(record)
      this.events.emit(tenant, 'plugin.process.start_failed', { plugin_id: pluginId, version: record.current_version, data: { reason: (error as Error).message } })
      throw error
    }
  }

  // ---------------------------------------------------------------- operations

  async uninstall(tenant: string, pluginId: string, actor: string): Promise<boolean> {
    const record = this.store.plugin(tenant, pluginId)
    if (!record) return false
    await this.runner.stop(this.key(tenant, pluginId))
    if (record.pid) killGroup(record.pid)
    rmSync(join(this.tenantDir(tenant), 'plugins', pluginId), { recursive: true, force: true })
    this.store.deletePlugin(tenant, pluginId)
    this.audit(tenant, 'plugin.uninstalled', actor, { plugin_id: pluginId, version: record.current_version })
    this.events.emit(tenant, 'plugin.uninstalled', { plugin_id: pluginId, version: record.current_version, data: {} })
    return true
  }

  /** Switches back to the previous version; on failure the current one is started again. */
  async rollbackPlugin(tenant: string, pluginId: string, actor: string): Promise<PluginRecord> {
    const record = this.store.plugin(tenant, pluginId)!
    const target = record.previous_version
    if (!target || !record.versions[target]) throw new StageFailure({ code: 'not_installed', status: 404, reason: `${pluginId} has no previous version to roll back to.` })
    const from = record.current_version
    await this.runner.stop(this.key(tenant, pluginId))
    try {
      const { pid, port } = await this.startProcess(tenant, pluginId, target, record.versions[target]!.config, undefined, undefined)
      Object.assign(record, { current_version: target, previous_version: from, status: 'running', pid, port, updated_at: now() })
      this.store.putPlugin(record)
      this.audit(tenant, 'plugin.rolled_back', actor, { plugin_id: pluginId, from, to: target })
      this.events.emit(tenant, 'plugin.rolled_back', { plugin_id: pluginId, version: target, data: { from, to: target } })
      return record
    } catch (error) {
      await this.restartCurrent(tenant, pluginId).catch(() => {})
      this.audit(tenant, 'plugin.rollback_failed', actor, { plugin_id: pluginId, from, to: target, reason: (error as Error).message })
      throw new StageFailure({ code: error instanceof RunnerFault ? error.code : 'internal', status: 500, reason: `Rolling back to ${target} failed: ${(error as Error).message}; ${from} was started again.` })
    }
  }

  // ---------------------------------------------------------------- recovery

  /**
   * After a restart (a crash included): roll back installs that were in flight, kill processes the
   * previous run left behind, remove unreferenced files, and start plugins that were running.
   */
  async recover(): Promise<{ rolledBack: string[]; restarted: string[] }> {
    const rolledBack: string[] = []
    const restarted: string[] = []
    for (const rec of this.store.installs()) {
      if (rec.status === 'running' || rec.status === 'failed') continue
      if (!this.tenant(rec.tenant)) continue
      if (rec.pid && processAlive(rec.pid) && this.ownsProcess(rec.pid)) killGroup(rec.pid)
      // The previous version is restarted below with every other running plugin.
      rec.effects = rec.effects.filter((e) => e !== 'stopped_previous' && e !== 'started')
      await this.fail(rec, rec.stage ?? 'receive', { code: 'interrupted', reason: `The sandbox stopped during stage ${rec.stage ?? 'receive'}; the install was rolled back on restart.` }, Date.now() + this.tenant(rec.tenant)!.limits.rollback_timeout)
      rolledBack.push(rec.id)
    }
    for (const record of this.store.plugins()) {
      if (!this.tenant(record.tenant)) continue
      if (record.pid && processAlive(record.pid) && this.ownsProcess(record.pid)) killGroup(record.pid)
      if (record.status !== 'running') continue
      try {
        await this.restartCurrent(record.tenant, record.id)
        restarted.push(`${record.tenant}/${record.id}`)
      } catch {
        // Recorded as crashed with an event by restartCurrent.
      }
    }
    // Nothing half-installed remains: staging leftovers and version directories no record names.
    for (const tenant of this.settings.tenants.keys()) {
      rmSync(join(this.tenantDir(tenant), 'staging'), { recursive: true, force: true })
      const pluginsDir = join(this.tenantDir(tenant), 'plugins')
      if (!existsSync(pluginsDir)) continue
      for (const id of readdirSync(pluginsDir)) {
        const record = this.store.plugin(tenant, id)
        for (const version of readdirSync(join(pluginsDir, id))) if (!record?.versions[version]) rmSync(join(pluginsDir, id, version), { recursive: true, force: true })
        if (readdirSync(join(pluginsDir, id)).length === 0) rmSync(join(pluginsDir, id), { recursive: true, force: true })
      }
    }
    return { rolledBack, restarted }
  }

  private ownsProcess(pid: number): boolean {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(this.settings.dataDir)
    } catch {
      return false
    }
  }

  async waitIdle(timeoutMs: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.inflight.values()]), sleep(timeoutMs)])
  }

  async close(): Promise<void> {
    this.closing = true
    await this.runner.stopAll(5000)
    await this.events.drain()
  }

  stageNames(): readonly string[] {
    return STAGES
  }
}
