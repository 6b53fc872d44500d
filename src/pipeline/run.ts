/**
 * `build()`: the programmatic API behind `pxp build`. One run loads the config and plugins once,
 * then runs the lifecycle per target; `buildEnd` is called for every target whatever happened.
 */
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { createConsola, type ConsolaInstance } from 'consola'
import { loadConfig, type LoadConfigOptions } from '../config/load.js'
import { PxpError, toPxpError } from '../errors.js'
import { resolvePlugins } from '../host/resolve-plugins.js'
import { PluginDriver } from '../host/driver.js'
import { AuditLog } from '../report/audit-log.js'
import { DistLog } from '../report/dist-log.js'
import { redactText } from '../redact.js'
import type { TargetConfig, TargetResult } from '../plugin-api.js'
import type { ResolvedConfig } from '../config/types.js'
import { createContextFactory, type RunState, type TargetState } from './context.js'
import { emptyTrash, ensureWritableDir } from './output-dir.js'
import { pruneStaging } from './staging.js'
import { buildTarget } from './target.js'

export interface BuildOptions extends Omit<LoadConfigOptions, 'command'> {
  /** Restrict to these targets (`--os`/`--arch`); default: the config's targets. */
  os?: string
  arch?: string
  upload?: boolean
  install?: boolean
  /** Continue an interrupted or failed run from its last completed stage. */
  resume?: boolean
  logger?: ConsolaInstance
  signal?: AbortSignal
}

export interface BuildResult {
  ok: boolean
  runId: string
  out: string
  /** The plugin root and the config files this run read (what a watcher must watch). */
  root: string
  configFiles: string[]
  targets: TargetResult[]
  errors: Array<{ target: string; error: PxpError }>
}

export async function build(options: BuildOptions = {}): Promise<BuildResult> {
  const console = options.logger ?? createConsola({ stdout: process.stderr, stderr: process.stderr })
  const loaded = await loadConfig({ ...options, command: 'build' })
  const { config } = loaded
  const targets = selectTargets(config.offline.targets, options.os, options.arch)

  ensureWritableDir(config.out, 'output directory')
  const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`
  const tmpRoot = join(config.out, '.tmp', runId)
  ensureWritableDir(tmpRoot, 'staging directory')
  pruneStaging(config.out, runId)
  // Old bundles earlier runs replaced: deleted on the thread pool while this run loads and collects.
  const trashEmptied = emptyTrash(config.out)

  const distLog = new DistLog(join(config.out, 'dist.log'), runId)
  // dist.log keeps every line down to debug; the console shows what its own level allows.
  const logger = createConsola({
    level: 4,
    reporters: [
      { log: (entry) => distLog.write({ level: entry.type, tag: entry.tag || undefined, message: redactText(entry.args.map(String).join(' ')) }) },
      {
        log: (entry) => {
          if (entry.level > console.level) return
          const target = entry.tag ? console.withTag(entry.tag) : console
          ;(target[entry.type as 'info'] ?? target.log)(...(entry.args.map((a) => (typeof a === 'string' ? redactText(a) : a)) as [unknown]))
        },
      },
    ],
  })
  const run: RunState = {
    runId,
    config,
    logger,
    audit: AuditLog.open(join(config.out, 'audit.log')),
    distLog,
    signal: options.signal ?? new AbortController().signal,
    tmpRoot,
    cacheDir: join(config.out, '.cache'),
  }
  let current: TargetState | undefined
  const plugins = await resolvePlugins({ config, presets: loaded.presets, pluginOptions: loaded.pluginOptions, configDir: loaded.configDir })
  const driver = new PluginDriver(plugins, createContextFactory(run, () => current))
  run.audit.append('build.started', { runId, root: config.root, targets: targets.map((t) => `${t.os}-${t.arch}`), plugins: plugins.map((p) => p.name) })

  const result: BuildResult = { ok: true, runId, ...runPaths(config), targets: [], errors: [] }
  await driver.run('configResolved', config)
  for (const target of targets) {
    const name = `${target.os}-${target.arch}`
    current = {
      target,
      stagingDir: join(tmpRoot, name),
      tmpDir: join(tmpRoot, 'work', name),
      result: { runId, target, pluginId: '', version: '', artifacts: [], integrity: [], uploads: [], durations: {}, warnings: [], metrics: [], plugins: {} },
    }
    const state = current
    let error: PxpError | undefined
    logger.start(`Building ${name}`)
    try {
      await buildTarget(run, state, driver, { upload: options.upload ?? true, install: options.install ?? true, resume: options.resume ?? false })
    } catch (thrown) {
      error = toPxpError(thrown)
    }
    try {
      await driver.run('buildEnd', { ok: !error, error, result: state.result, target })
    } catch (thrown) {
      error ??= toPxpError(thrown)
    }
    const bundle = state.result.bundle
    distLog.write({
      event: 'dist.target',
      ok: !error,
      pluginId: state.result.pluginId || undefined,
      version: state.result.version || undefined,
      target: name,
      hash: bundle?.sha256,
      signer: state.result.signer?.signer ?? null,
      artifactStore: state.result.uploads.map((u) => u.store),
      // details carry upstream request ids (KMS, signing service, stores) for whoever debugs the failure.
      ...(error && { error: { code: error.code, message: error.message, plugin: error.plugin, hook: error.hook, details: error.details, stack: error.stack } }),
    })
    if (error) {
      result.ok = false
      result.errors.push({ target: name, error })
      run.audit.append('build.failed', { target: name, code: error.code, message: error.message, plugin: error.plugin, hook: error.hook })
      // A config error is the same for every target: stop instead of repeating it.
      if (error.exitCode === 2) break
    } else {
      logger.success(`${name}: ${bundle?.path} (${bundle?.sha256})`)
    }
    result.targets.push(state.result)
  }
  run.audit.append(result.ok ? 'build.completed' : 'build.finished_with_errors', { runId, ok: result.ok })
  // Successful runs clean their staging; failed ones keep it for forensics until `pxp clean`.
  if (result.ok) rmSync(tmpRoot, { recursive: true, force: true })
  await trashEmptied
  return result
}

/** Where a run writes and what it reads its config from (layer sources that are files). */
export function runPaths(config: ResolvedConfig): Pick<BuildResult, 'out' | 'root' | 'configFiles'> {
  return { out: config.out, root: config.root, configFiles: config.layers.map((l) => l.source).filter((source) => isAbsolute(source)) }
}

function selectTargets(targets: TargetConfig[], os?: string, arch?: string): TargetConfig[] {
  if (!os && !arch) return targets
  const matching = targets.filter((t) => (!os || t.os === os) && (!arch || t.arch === arch))
  if (matching.length > 0) return matching
  // An explicit --os/--arch outside the configured list builds that one target with the defaults.
  const base = targets[0]!
  return [{ ...base, os: os ?? base.os, arch: arch ?? base.arch }]
}
