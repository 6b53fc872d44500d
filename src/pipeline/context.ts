/**
 * Builds the `this` every hook receives. One RunState per `pxp build`, one TargetState per target;
 * the context is a thin view over them, tagged with the calling plugin and hook.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ConsolaInstance } from 'consola'
import { PxpError } from '../errors.js'
import { registerSecret, redactText } from '../redact.js'
import type { AuditLog } from '../report/audit-log.js'
import type { DistLog } from '../report/dist-log.js'
import type { EmittedArtifact, HookName, PluginContext, PxpPlugin, ResolvedConfig, TargetConfig, TargetResult } from '../plugin-api.js'
import type { BundleGraph } from './graph.js'

export interface RunState {
  runId: string
  config: ResolvedConfig
  logger: ConsolaInstance
  audit: AuditLog
  distLog: DistLog
  signal: AbortSignal
  tmpRoot: string
  cacheDir: string
}

export interface TargetState {
  target: TargetConfig
  stagingDir: string
  tmpDir: string
  graph?: BundleGraph
  result: TargetResult
}

export function createContextFactory(run: RunState, getTarget: () => TargetState | undefined) {
  return (plugin: PxpPlugin, hook: HookName): PluginContext => {
    const logger = run.logger.withTag(plugin.name)
    const state = getTarget()
    const target = state?.target ?? run.config.offline.targets[0]!
    const ctx: PluginContext = {
      logger,
      runId: run.runId,
      signal: run.signal,
      target,
      config: run.config,
      cacheDir: run.cacheDir,
      tmpDir: state?.tmpDir ?? run.tmpRoot,
      stagingDir: state?.stagingDir ?? run.tmpRoot,
      warn(warning) {
        const w = typeof warning === 'string' ? { code: 'PLUGIN_WARNING', message: warning } : warning
        const entry = { code: w.code, message: redactText(w.message), plugin: plugin.name }
        state?.result.warnings.push(entry)
        logger.warn(`[${entry.code}] ${entry.message}`)
        run.audit.append('build.warning', { ...entry, target: `${target.os}-${target.arch}` })
      },
      error(error): never {
        const e = typeof error === 'string' ? { code: 'PLUGIN_ERROR', message: error } : error
        throw new PxpError(e.code, e.message, { plugin: plugin.name, hook, hint: 'hint' in e ? e.hint : undefined, cause: 'cause' in e ? e.cause : undefined, exitCode: 'exitCode' in e ? e.exitCode : undefined })
      },
      audit(action, metadata = {}) {
        run.audit.append(action, { plugin: plugin.name, target: `${target.os}-${target.arch}`, ...metadata })
      },
      metric(name, value, tags) {
        state?.result.metrics.push({ name, value, ...(tags && { tags }) })
      },
      addFile(file) {
        if (hook !== 'collect' || !state?.graph) throw new PxpError('PLUGIN_FAILED', 'addFile() is only available in the collect hook.', { plugin: plugin.name, hook })
        state.graph.add(file, plugin.name)
      },
      async emitFile(file) {
        if (hook !== 'emit' || !state) throw new PxpError('PLUGIN_FAILED', 'emitFile() is only available in the emit hook.', { plugin: plugin.name, hook })
        const path = join(state.stagingDir, file.fileName)
        if (file.content !== undefined) {
          await mkdir(state.stagingDir, { recursive: true })
          await writeFile(path, file.content)
        }
        const { sha256, size } = file.content === undefined && file.digest ? file.digest : await digestOf(path)
        const artifact: EmittedArtifact = { kind: file.kind ?? 'other', fileName: file.fileName, path, sha256, size }
        const list = state.result.artifacts
        const i = list.findIndex((a) => a.fileName === file.fileName)
        if (i >= 0) list[i] = artifact
        else list.push(artifact)
        if (artifact.kind === 'bundle') state.result.bundle = artifact
        return artifact
      },
      report(facts) {
        if (!state) return
        state.result.plugins[plugin.name] = { ...state.result.plugins[plugin.name], ...facts }
      },
      redact(secret) {
        registerSecret(secret)
      },
      snapshot() {
        if (!state) throw new PxpError('PLUGIN_FAILED', 'snapshot() is only available while a target builds.', { plugin: plugin.name, hook })
        return state.result
      },
    }
    return ctx
  }
}

async function digestOf(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk)
    size += chunk.length
  }
  return { sha256: hash.digest('hex'), size }
}
