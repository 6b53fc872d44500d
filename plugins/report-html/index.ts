/**
 * report-html: `report.html` next to each bundle's `report.json` — one self-contained page (no
 * script, no network) with a treemap of the bundle by folder and file, the signing summary,
 * integrity counts, upload receipts and stage durations. Like `report`, it is written in `emit` (a
 * sidecar in staging, so it lands with the bundle) and rewritten in `buildEnd` once uploads,
 * install and durations are known.
 */
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
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
  buildEnd({ ok, error, result }) {
    // Only a committed bundle has a final directory; a failed run leaves the last good page alone.
    if (!result || !ok || !result.bundle) return
    const file = join(result.bundle.path, '..', HTML_REPORT_FILE)
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, render(this, result, ok, 'final', error))
    renameSync(tmp, file)
  },
}))
