/**
 * report-html: `report.html` next to each bundle's `report.json` — one self-contained page (no
 * script, no network) with a treemap of the bundle by folder and file, the signing summary,
 * integrity counts, upload receipts and stage durations. Like `report`, it is written in `emit` (a
 * sidecar in staging, so it lands with the bundle) and rewritten in `buildEnd` once uploads,
 * install and durations are known. A failed target's page goes to `<out>/.tmp/<runId>/` instead.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { definePlugin, redactText, toolName, toolVersion, type PluginContext, type TargetResult, type BuildEndInfo } from '../../src/plugin-api.js'
import { renderHtml } from './render.js'

export const HTML_REPORT_FILE = 'report.html'

function render(ctx: PluginContext, result: Readonly<TargetResult>, ok: boolean, phase: 'emit' | 'final', error?: BuildEndInfo['error']): string {
  const html = renderHtml({
    result,
    ok,
    error,
    phase,
    generatedAt: new Date(),
    sourceDateEpoch: ctx.config.sourceDateEpoch,
    tool: { name: toolName, version: toolVersion, node: process.versions.node, zlib: process.versions.zlib },
    certExpiryWarnDays: ctx.config.offline.certExpiryWarnDays,
  })
  // Same rule as every other output: registered secrets and signed query strings never land in it.
  return redactText(html)
}

export default definePlugin(() => ({
  name: 'report-html',
  enforce: 'post',
  apply: 'build',
  async emit() {
    await this.emitFile({ fileName: HTML_REPORT_FILE, kind: 'other', content: render(this, this.snapshot(), true, 'emit') })
  },
  buildEnd({ ok, error, result, target }) {
    if (!result) return
    // A failed target never touches the last good page: its own page goes next to the failed run's
    // summary in staging (`<out>/.tmp/<runId>/`), kept for forensics until `pxp clean`.
    const file = ok && result.bundle
      ? join(result.bundle.path, '..', HTML_REPORT_FILE)
      : join(this.config.out, '.tmp', result.runId, `report-${target.os}-${target.arch}.html`)
    mkdirSync(dirname(file), { recursive: true })
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, render(this, result, ok, 'final', error))
    renameSync(tmp, file)
    if (!ok) this.logger.info(`failure report: ${file}`)
  },
}))
