/**
 * report: `report.json` next to each bundle (written during emit so it travels with the bundle as
 * a sidecar, then completed after upload and install) and `<out>/report.json` summarising the run.
 * The audit log and dist.log are core services (every plugin writes to them through its context).
 */
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { definePlugin, redactValue, REPORT_FILE, toolName, toolVersion, type PluginContext, type TargetResult } from '../../src/plugin-api.js'

export default definePlugin(() => {
  const summaries: Array<Record<string, unknown>> = []
  return {
    name: 'report',
    enforce: 'post',
    async emit() {
      await this.emitFile({ fileName: REPORT_FILE, kind: 'report', content: serialize(targetReport(this, this.snapshot())) })
    },
    async buildEnd({ ok, error, result }) {
      if (!result) return
      const report = targetReport(this, result)
      if (ok && result.bundle) {
        // The final directory exists now: complete its report with uploads, install and durations.
        writeAtomic(join(result.bundle.path, '..', REPORT_FILE), serialize(report))
      }
      summaries.push({
        target: `${result.target.os}-${result.target.arch}`,
        ok,
        bundle: result.bundle ? { path: result.bundle.path, sha256: result.bundle.sha256, size: result.bundle.size } : null,
        report: ok && result.bundle ? join(result.bundle.path, '..', REPORT_FILE) : null,
        ...(error && { error: { code: error.code, message: error.message, plugin: error.plugin, hook: error.hook } }),
      })
      const run = {
        format_version: 1,
        runId: result.runId,
        ok: summaries.every((s) => s.ok),
        pluginId: result.pluginId || null,
        version: result.version || null,
        tool: toolInfo(),
        targets: summaries,
      }
      // A failed run leaves the last good run summary alone and records itself in staging instead.
      const file = run.ok ? join(this.config.out, REPORT_FILE) : join(this.config.out, '.tmp', result.runId, REPORT_FILE)
      writeAtomic(file, serialize(run))
    },
  }
})

function targetReport(ctx: PluginContext, r: Readonly<TargetResult>): Record<string, unknown> {
  const bundle = r.bundle
  return {
    format_version: 1,
    runId: r.runId,
    pluginId: r.pluginId,
    version: r.version,
    target: { os: r.target.os, arch: r.target.arch },
    bundle: bundle ? { file: bundle.fileName, sha256: bundle.sha256, size: bundle.size } : null,
    files: r.fileCount ?? null,
    sizes: r.sizes ? { bundle_bytes: bundle?.size ?? null, ...r.sizes } : null,
    integrity: { file: 'integrity.txt', entries: r.integrity.length },
    artefacts: (r.manifest as { artefacts?: unknown } | undefined)?.artefacts ?? null,
    signing: {
      policy: r.signingPolicy ?? null,
      signer: r.signer?.signer ?? null,
      algorithm: r.signer?.algorithm ?? null,
      certificate: r.signer?.chain[0] ? { ...r.signer.chain[0] } : null,
      chain: r.signer?.chain ?? [],
      details: r.signer?.details ?? null,
      approval: r.approval ?? null,
      fallbacks: r.signingFallbacks ?? [],
    },
    uploads: r.uploads,
    install: r.install ?? null,
    durations_ms: r.durations,
    warnings: r.warnings,
    metrics: r.metrics,
    plugins: r.plugins,
    telemetry_id: (r.plugins['telemetry-http']?.telemetryId as string | undefined) ?? null,
    source_date_epoch: ctx.config.sourceDateEpoch,
    tool: toolInfo(),
  }
}

function toolInfo() {
  return { name: toolName, version: toolVersion, node: process.versions.node, zlib: process.versions.zlib }
}

function serialize(value: unknown): string {
  return JSON.stringify(redactValue(value), null, 2) + '\n'
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, file)
}
