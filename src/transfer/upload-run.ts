/**
 * `upload()`: the programmatic API behind `pxp upload FILE.pxp`. It loads the config like a build
 * (command `upload`), resolves the same plugins, and runs only the `upload` hook over the bundle
 * and the sidecars found next to it — so a team's own uploader works here exactly as in a build.
 * State shared with builds (resume state in `<out>/.cache`, `<out>/audit.log`) lives in the same
 * places, which is what lets `pxp upload --resume` finish an upload an interrupted build started.
 */
import { randomBytes } from 'node:crypto'
import { join, resolve } from 'node:path'
import { createConsola, type ConsolaInstance } from 'consola'
import { loadConfig, type LoadConfigOptions } from '../config/load.js'
import { PxpError } from '../errors.js'
import { PluginDriver } from '../host/driver.js'
import { resolvePlugins } from '../host/resolve-plugins.js'
import { createContextFactory, type RunState, type TargetState } from '../pipeline/context.js'
import type { EmittedArtifact, UploadReceipt } from '../plugin-api.js'
import { redactText } from '../redact.js'
import { AuditLog } from '../report/audit-log.js'
import { DistLog } from '../report/dist-log.js'
import { artifactsNextTo } from './artifacts.js'
import { bundleCoordinates } from './key-template.js'
import type { ProgressMode } from './progress.js'

export interface UploadOptions extends Omit<LoadConfigOptions, 'command'> {
  /** The `.pxp` to upload; its sidecars are picked up from the same directory. */
  bundle: string
  resume?: boolean
  /** `false` with --json: stdout carries one JSON document and stderr stays quiet. */
  progress?: ProgressMode | false
  logger?: ConsolaInstance
  signal?: AbortSignal
}

export interface UploadResult {
  ok: true
  bundle: EmittedArtifact
  artifacts: EmittedArtifact[]
  uploads: UploadReceipt[]
  metrics: Array<{ name: string; value: number; tags?: Record<string, string> }>
}

export async function upload(options: UploadOptions): Promise<UploadResult> {
  const logger = options.logger ?? createConsola({ stdout: process.stderr, stderr: process.stderr })
  const signal = options.signal ?? new AbortController().signal
  const bundlePath = resolve(options.cwd ?? process.cwd(), options.bundle)
  const overrides = { ...options.overrides, upload: { ...(options.overrides?.upload as object | undefined), ...(options.resume ? { resume: true } : {}), ...(options.progress !== undefined ? { progress: options.progress } : {}) } }
  const loaded = await loadConfig({ ...options, overrides, command: 'upload' })
  const { config } = loaded
  const artifacts = await artifactsNextTo(bundlePath, signal)
  const bundle = artifacts.find((a) => a.kind === 'bundle')!
  const coordinates = bundleCoordinates(bundle.path)

  const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`
  const distLog = new DistLog(join(config.out, 'dist.log'), runId)
  logger.addReporter({ log: (entry) => distLog.write({ level: entry.type, tag: entry.tag || undefined, message: redactText(entry.args.map(String).join(' ')) }) })
  const run: RunState = {
    runId, config, logger, distLog, signal,
    audit: AuditLog.open(join(config.out, 'audit.log')),
    tmpRoot: join(config.out, '.tmp', runId),
    cacheDir: join(config.out, '.cache'),
  }
  const target = { ...(config.offline.targets.find((t) => t.os === coordinates.os && t.arch === coordinates.arch) ?? {}), os: coordinates.os, arch: coordinates.arch }
  const state: TargetState = {
    target,
    stagingDir: run.tmpRoot,
    tmpDir: run.tmpRoot,
    result: { runId, target, pluginId: coordinates.id, version: coordinates.version, bundle, artifacts, integrity: [], uploads: [], durations: {}, warnings: [], metrics: [], plugins: {} } as TargetState['result'],
  }
  const plugins = await resolvePlugins({ config, presets: loaded.presets, pluginOptions: loaded.pluginOptions, configDir: loaded.configDir })
  const driver = new PluginDriver(plugins, createContextFactory(run, () => state))
  if (!driver.has('upload')) {
    throw new PxpError('UPLOAD_NO_STORE', 'No artifact store is configured, so there is nowhere to upload to.', {
      exitCode: 2, keyPath: 'artifactStore', file: config.configFile,
      hint: 'Set artifactStore in px-plugin.config.ts (type s3, oss, fs or signed-url), or add an uploader plugin.',
    })
  }
  run.audit.append('upload.started', { runId, bundle: bundle.path, sha256: bundle.sha256, files: artifacts.map((a) => a.fileName), resume: options.resume === true })
  const started = Date.now()
  try {
    const outcome = await driver.run('upload', artifacts)
    const uploads = outcome.values.flatMap((r) => (r ? (Array.isArray(r) ? r : [r]) : [])) as UploadReceipt[]
    state.result.uploads = uploads
    state.result.durations.upload = Date.now() - started
    run.audit.append('upload.completed', { runId, receipts: uploads.length, stores: [...new Set(uploads.map((u) => u.store))] })
    distLog.write({ event: 'upload', ok: true, pluginId: coordinates.id, version: coordinates.version, target: `${coordinates.os}-${coordinates.arch}`, hash: bundle.sha256, artifactStore: uploads.map((u) => u.store) })
    return { ok: true, bundle, artifacts, uploads, metrics: state.result.metrics }
  } catch (error) {
    const e = error as PxpError
    run.audit.append('upload.failed', { runId, code: e.code, message: e.message, plugin: e.plugin })
    distLog.write({ event: 'upload', ok: false, hash: bundle.sha256, error: { code: e.code, message: e.message, plugin: e.plugin, hook: e.hook } })
    throw error
  }
}
