/**
 * report.html: one self-contained page (inline CSS and SVG, no script, no URL that the browser
 * would fetch — a Content-Security-Policy of `default-src 'none'` enforces it) that a reviewer opens
 * instead of reading report.json. Everything interpolated is HTML-escaped.
 */
import type { BuildEndInfo, CertificateInfo, TargetResult } from '../../src/plugin-api.js'
import { buildTree, layoutTree, type PlacedNode } from './treemap.js'

export interface HtmlReportInput {
  result: Readonly<TargetResult>
  ok: boolean
  error?: BuildEndInfo['error']
  /** `emit` (the sidecar that travels with the bundle) or `final` (after upload and install). */
  phase: 'emit' | 'final'
  generatedAt: Date
  sourceDateEpoch: number
  tool: { name: string; version: string; node: string; zlib?: string }
  /** Days before not_after that count as "expiring" (offline.certExpiryWarnDays). */
  certExpiryWarnDays: number
}

const esc = (value: unknown): string =>
  String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

const DAY_MS = 86_400_000

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—'
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
}

/** Stable, readable colours per top-level folder (golden-angle hues). */
function hueOf(topLevel: string, order: readonly string[]): number {
  const i = order.indexOf(topLevel)
  return Math.round(((i < 0 ? order.length : i) * 137.508 + 200) % 360)
}

const W = 1200
const H = 560

export function renderTreemap(entries: ReadonlyArray<{ path: string; size: number }>): { svg: string; legend: Array<{ name: string; size: number; files: number; hue: number }> } {
  const tree = buildTree(entries)
  const top = (tree.children ?? []).map((c) => c.name)
  const placed = layoutTree(tree, { x: 0, y: 0, w: W, h: H })
  const legend = (tree.children ?? []).map((c) => ({ name: c.children ? `${c.name}/` : c.name, size: c.size, files: c.files, hue: hueOf(c.name, top) }))
  const shapes = placed.map((p) => shape(p, top, tree.size)).join('\n')
  const svg = `<svg id="treemap" class="treemap" viewBox="0 0 ${W} ${H}" role="img" aria-label="Treemap of the bundle by folder and file" xmlns="http://www.w3.org/2000/svg">
<rect x="0" y="0" width="${W}" height="${H}" fill="#f4f5f7"/>
${shapes}
</svg>`
  return { svg, legend }
}

function shape(p: PlacedNode, top: readonly string[], total: number): string {
  const { x, y, w, h } = p.rect
  if (w < 0.5 || h < 0.5) return ''
  const hue = hueOf(p.node.path.split('/')[0]!, top)
  const pct = total > 0 ? ((p.node.size / total) * 100).toFixed(1) : '0'
  const title = `${p.node.path}${p.isDir ? '/' : ''} — ${formatBytes(p.node.size)} (${pct}%)${p.isDir || p.node.files > 1 ? `, ${p.node.files} files` : ''}`
  const n = (v: number) => v.toFixed(1)
  if (p.isDir) {
    const light = Math.min(92, 80 + p.depth * 4)
    const label = h > 30 && w > 40 ? `<text class="dir" x="${n(x + 4)}" y="${n(y + 12)}">${esc(fit(`${p.label}/ ${formatBytes(p.node.size)}`, w - 8, 6.2))}</text>` : ''
    return `<g class="dir" data-path="${esc(p.node.path)}"><title>${esc(title)}</title><rect x="${n(x)}" y="${n(y)}" width="${n(w)}" height="${n(h)}" fill="hsl(${hue} 45% ${light}%)" stroke="hsl(${hue} 30% 55%)" stroke-width="1"/>${label}</g>`
  }
  const light = Math.min(72, 52 + p.depth * 5)
  const label = w > 36 && h > 14 ? `<text x="${n(x + 3)}" y="${n(y + 12)}">${esc(fit(p.label, w - 6, 6))}</text>` + (h > 28 && w > 50 ? `<text class="size" x="${n(x + 3)}" y="${n(y + 24)}">${esc(formatBytes(p.node.size))}</text>` : '') : ''
  return `<g class="file" data-path="${esc(p.node.path)}"><title>${esc(title)}</title><rect x="${n(x)}" y="${n(y)}" width="${n(w)}" height="${n(h)}" fill="hsl(${hue} 55% ${light}%)" stroke="#fff" stroke-width="0.75"/>${label}</g>`
}

/** Truncates a label to roughly fit `width` px at `charWidth` px per character. */
function fit(text: string, width: number, charWidth: number): string {
  const max = Math.floor(width / charWidth)
  if (max <= 1) return ''
  return text.length <= max ? text : text.slice(0, Math.max(1, max - 1)) + '…'
}

function certRows(chain: readonly CertificateInfo[], now: Date, warnDays: number): string {
  if (chain.length === 0) return '<p class="muted">No certificate chain (unsigned bundle).</p>'
  const rows = chain.map((c, i) => {
    const days = Math.floor((Date.parse(c.not_after) - now.getTime()) / DAY_MS)
    const state = days < 0 ? 'bad' : days <= warnDays ? 'warn' : 'good'
    const note = days < 0 ? 'expired' : `${days} days left`
    return `<tr><td>${i === 0 ? 'signer' : `intermediate ${i}`}</td><td>${esc(c.subject)}</td><td>${esc(c.issuer)}</td><td>${esc(c.not_after)} <span class="pill ${state}">${esc(note)}</span></td><td><code class="hash">${esc(c.fingerprint ?? '—')}</code></td></tr>`
  })
  return table(['', 'Subject', 'Issuer', 'Expires', 'SHA-256 fingerprint'], rows)
}

function table(headers: string[], rows: string[]): string {
  return `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`
}

function kv(pairs: Array<[string, string]>): string {
  return `<dl class="kv">${pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`
}

export function renderHtml(input: HtmlReportInput): string {
  const { result: r, ok } = input
  const now = input.generatedAt
  const target = `${r.target.os}-${r.target.arch}`
  const title = `${r.pluginId || 'unknown plugin'}${r.version ? `@${r.version}` : ''} (${target})`
  const integrity = [...r.integrity]
  const payloadBytes = integrity.reduce((n, e) => n + e.size, 0)
  const { svg, legend } = renderTreemap(integrity)
  const largest = [...integrity].sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1)).slice(0, 10)
  const durations = Object.entries(r.durations)
  const totalMs = durations.reduce((n, [, v]) => n + v, 0)
  const maxMs = Math.max(1, ...durations.map(([, v]) => v))
  const artefacts = ((r.manifest as { artefacts?: Record<string, unknown> } | undefined)?.artefacts ?? {}) as Record<string, unknown>
  const telemetryId = (r.plugins['telemetry-http'] as { telemetryId?: unknown } | undefined)?.telemetryId
  const leaf = r.signer?.chain[0]
  const leafDays = leaf ? Math.floor((Date.parse(leaf.not_after) - now.getTime()) / DAY_MS) : undefined
  const status = ok ? (input.phase === 'emit' ? 'built (before upload)' : 'built') : 'failed'

  const cards: Array<[string, string, string?]> = [
    ['Bundle', r.bundle ? formatBytes(r.bundle.size) : '—', r.bundle ? r.bundle.fileName : undefined],
    ['Files', String(r.fileCount ?? integrity.length), `${formatBytes(payloadBytes)} uncompressed`],
    ['Signer', r.signer?.signer ?? r.signingPolicy ?? '—', r.signer?.algorithm],
    ['Certificate', leafDays === undefined ? '—' : leafDays < 0 ? 'expired' : `${leafDays} days left`, leaf?.not_after],
    ['Uploads', String(r.uploads.length), [...new Set(r.uploads.map((u) => u.store))].join(', ') || undefined],
    ['Build time', formatMs(totalMs), `${durations.length} stages`],
  ]

  const sections: string[] = []
  sections.push(`<section id="summary" class="cards">${cards.map(([k, v, sub]) => `<div class="card"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div>${sub ? `<div class="sub">${esc(sub)}</div>` : ''}</div>`).join('')}</section>`)

  if (!ok && input.error) {
    sections.push(`<section id="error" class="error"><h2>Build failed</h2>${kv([
      ['Code', `<code>${esc(input.error.code)}</code>`],
      ['Message', esc(input.error.message)],
      ...(input.error.plugin ? [['Plugin', esc(input.error.plugin)] as [string, string]] : []),
      ...(input.error.hook ? [['Hook', esc(input.error.hook)] as [string, string]] : []),
      ...(input.error.hint ? [['What to do', esc(input.error.hint)] as [string, string]] : []),
    ])}</section>`)
  }

  sections.push(`<section id="contents"><h2>What is in the bundle</h2>
<p class="muted">Area is uncompressed size. Hover a box for its path and size.</p>
<figure>${svg}</figure>
<div class="two">
<div><h3>By top-level folder</h3>${table(['', 'Folder', 'Size', 'Share', 'Files'], legend.map((l) => `<tr><td><span class="swatch" style="background:hsl(${l.hue} 55% 58%)"></span></td><td><code>${esc(l.name)}</code></td><td class="num">${esc(formatBytes(l.size))}</td><td class="num">${payloadBytes ? ((l.size / payloadBytes) * 100).toFixed(1) : '0'}%</td><td class="num">${l.files}</td></tr>`))}</div>
<div><h3>Largest files</h3>${table(['File', 'Size'], largest.map((f) => `<tr><td><code>${esc(f.path)}</code></td><td class="num">${esc(formatBytes(f.size))}</td></tr>`))}</div>
</div></section>`)

  const fallbacks = r.signingFallbacks ?? []
  sections.push(`<section id="signing"><h2>Signing</h2>${kv([
    ['Policy', `<span class="pill ${r.signingPolicy === 'signed' ? 'good' : 'warn'}">${esc(r.signingPolicy ?? 'not reached')}</span>`],
    ['Signer', esc(r.signer?.signer ?? '—')],
    ['Algorithm', esc(r.signer?.algorithm ?? '—')],
    ['Expiry', leaf ? `${esc(leaf.not_after)} <span class="pill ${leafDays! < 0 ? 'bad' : leafDays! <= input.certExpiryWarnDays ? 'warn' : 'good'}">${leafDays! < 0 ? 'expired' : `${leafDays} days left`}</span>` : '—'],
    ...(r.approval ? [['Approval', `${esc(r.approval.reference)} by ${esc(r.approval.actor)}`] as [string, string]] : []),
    ...(fallbacks.length ? [['Fallbacks', fallbacks.map((f) => `${esc(f.signer)}: <code>${esc(f.code)}</code> ${esc(f.message)}`).join('<br>')] as [string, string]] : []),
  ])}
<h3>Certificate chain</h3>${certRows(r.signer?.chain ?? [], now, input.certExpiryWarnDays)}</section>`)

  const artefactRows = Object.entries(artefacts).map(([key, d]) => {
    // manifest.json's shape: { path, hash, size_bytes }; tolerate { sha256, size } from custom hashers.
    const digest = (d ?? {}) as { path?: string; hash?: string; sha256?: string; size_bytes?: number; size?: number }
    return `<tr><td><code>${esc(key)}</code></td><td><code>${esc(digest.path ?? '—')}</code></td><td class="num">${esc(formatBytes(digest.size_bytes ?? digest.size))}</td><td><code class="hash">${esc(digest.hash ?? digest.sha256 ?? (typeof d === 'string' ? d : '—'))}</code></td></tr>`
  })
  sections.push(`<section id="integrity"><h2>Integrity</h2>
<div class="cards small">
<div class="card"><div class="k">integrity.txt entries</div><div class="v">${integrity.length}</div></div>
<div class="card"><div class="k">Payload bytes</div><div class="v">${esc(formatBytes(payloadBytes))}</div></div>
<div class="card"><div class="k">Artefact digests</div><div class="v">${artefactRows.length}</div></div>
<div class="card"><div class="k">Signature</div><div class="v">${r.signature ? 'manifest.signature' : 'none'}</div></div>
</div>
${r.bundle ? `<p>Bundle SHA-256 <code class="hash">${esc(r.bundle.sha256)}</code></p>` : ''}
${artefactRows.length ? table(['Artefact', 'Path', 'Size', 'SHA-256'], artefactRows) : ''}
${r.artifacts.length ? `<h3>Outputs</h3>${table(['File', 'Kind', 'Size', 'SHA-256'], r.artifacts.map((a) => `<tr><td><code>${esc(a.fileName)}</code></td><td>${esc(a.kind)}</td><td class="num">${esc(formatBytes(a.size))}</td><td><code class="hash">${esc(a.sha256)}</code></td></tr>`))}` : ''}
</section>`)

  sections.push(`<section id="uploads"><h2>Upload receipts</h2>${r.uploads.length === 0
    ? `<p class="muted">${input.phase === 'emit' ? 'Written before the upload stage; the final report.html next to the bundle lists the receipts.' : 'Nothing was uploaded (no artifact store, or --no-upload).'}</p>`
    : table(['Store', 'Object', 'SHA-256', 'ETag / version', 'Retries', 'Time'], r.uploads.map((u) => `<tr><td>${esc(u.store)}</td><td><code>${esc(u.url)}</code>${u.skipped ? ' <span class="pill good">already there</span>' : ''}</td><td><code class="hash">${esc(u.sha256)}</code></td><td>${esc(u.etag ?? '—')}${u.versionId ? ` / ${esc(u.versionId)}` : ''}</td><td class="num">${u.retries ?? 0}</td><td class="num">${u.durationMs !== undefined ? esc(formatMs(u.durationMs)) : '—'}</td></tr>`))}
${r.install ? `<h3>Install</h3>${kv(Object.entries(r.install).filter(([, v]) => v !== undefined && typeof v !== 'object').map(([k, v]) => [k, esc(v)] as [string, string]))}` : ''}</section>`)

  sections.push(`<section id="durations"><h2>Stage durations</h2>${durations.length === 0 ? '<p class="muted">No stage ran.</p>' : `<div class="bars">${durations.map(([stage, ms]) => `<div class="bar"><span class="label">${esc(stage)}</span><span class="track"><span class="fill" style="width:${((ms / maxMs) * 100).toFixed(1)}%"></span></span><span class="num">${esc(formatMs(ms))}</span></div>`).join('')}</div>`}</section>`)

  if (r.warnings.length) {
    sections.push(`<section id="warnings"><h2>Warnings</h2>${table(['Code', 'Message', 'Plugin'], r.warnings.map((w) => `<tr><td><code>${esc(w.code)}</code></td><td>${esc(w.message)}</td><td>${esc(w.plugin ?? 'core')}</td></tr>`))}</section>`)
  }
  if (r.metrics.length) {
    sections.push(`<section id="metrics"><h2>Metrics</h2>${table(['Name', 'Value', 'Tags'], r.metrics.map((m) => `<tr><td><code>${esc(m.name)}</code></td><td class="num">${esc(m.value)}</td><td>${esc(Object.entries(m.tags ?? {}).map(([k, v]) => `${k}=${v}`).join(' '))}</td></tr>`))}</section>`)
  }

  const footer = kv([
    ['Run', `<code>${esc(r.runId)}</code>`],
    ...(typeof telemetryId === 'string' ? [['Telemetry id', `<code>${esc(telemetryId)}</code>`] as [string, string]] : []),
    ['Generated', esc(now.toISOString())],
    ['Tool', `${esc(input.tool.name)} ${esc(input.tool.version)} · node ${esc(input.tool.node)} · zlib ${esc(input.tool.zlib ?? '—')}`],
    ['SOURCE_DATE_EPOCH', esc(input.sourceDateEpoch)],
  ])

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${esc(input.tool.name)} ${esc(input.tool.version)}">
<title>${esc(`pxp report — ${title}`)}</title>
<style>${CSS}</style>
</head>
<body>
<header><div><h1>${esc(title)}</h1><p class="muted">pxp bundle report · run ${esc(r.runId)}</p></div><span class="status ${ok ? 'good' : 'bad'}">${esc(status)}</span></header>
<main>
${sections.join('\n')}
</main>
<footer>${footer}</footer>
</body>
</html>
`
}

const CSS = `
:root{--fg:#1d2330;--muted:#5d6778;--line:#dde1e8;--bg:#fff;--panel:#f7f8fa;--good:#1a7f37;--warn:#9a6700;--bad:#cf222e}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;justify-content:space-between;align-items:center;padding:18px 28px;border-bottom:1px solid var(--line);background:var(--panel)}
h1{font-size:20px;margin:0 0 2px}h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}h3{font-size:14px;margin:16px 0 6px}
main{padding:0 28px 24px;max-width:1280px}
footer{padding:12px 28px 28px;color:var(--muted);border-top:1px solid var(--line);font-size:12px}
.muted{color:var(--muted);margin:0}
.status{font-weight:600;padding:4px 12px;border-radius:14px;color:#fff}
.status.good{background:var(--good)}.status.bad{background:var(--bad)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px;margin-top:18px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:var(--bg)}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:600;margin-top:2px;word-break:break-all}
.card .sub{color:var(--muted);font-size:12px;word-break:break-all}
.cards.small .v{font-size:16px}
figure{margin:0}
.treemap{width:100%;height:auto;border:1px solid var(--line);border-radius:6px;display:block}
.treemap text{font:11px system-ui,sans-serif;fill:#111;pointer-events:none}
.treemap text.dir{font-weight:600;fill:#223}
.treemap text.size{fill:#333;font-size:10px}
.treemap g.file:hover rect{stroke:#000;stroke-width:1.5}
.two{display:grid;grid-template-columns:1fr 1fr;gap:24px}
@media (max-width:900px){.two{grid-template-columns:1fr}}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;background:var(--panel)}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
code.hash{font-size:11px;color:#444}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px}
.pill{display:inline-block;font-size:11px;padding:0 7px;border-radius:9px;border:1px solid currentColor}
.pill.good{color:var(--good)}.pill.warn{color:var(--warn)}.pill.bad{color:var(--bad)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-word}
.error{border:1px solid var(--bad);border-radius:8px;padding:4px 16px 10px;margin-top:18px;background:#fff5f5}
.error h2{color:var(--bad);border:0}
.bars{display:grid;gap:6px;max-width:760px}
.bar{display:grid;grid-template-columns:110px 1fr 80px;gap:10px;align-items:center}
.bar .track{background:var(--panel);border:1px solid var(--line);height:14px;border-radius:3px;overflow:hidden}
.bar .fill{display:block;height:100%;background:#4b7bec}
.bar .num{text-align:right;font-variant-numeric:tabular-nums}
`
