import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { screenshotPath } from '../helpers/screenshots.js'
import { repoRoot, runCli } from '../helpers/cli.js'
import { BUNDLE_DIR, copyPlayground, write } from '../helpers/fixtures.js'
import { devKeys } from '../alerts/dev-keys.js'
import { buildTree, layoutTree, squarify } from '../../plugins/report-html/treemap.js'
import { renderHtml } from '../../plugins/report-html/render.js'

/** Debian's chromium package; CI installs it (see .ci/run). */
const CHROMIUM = process.env.PXP_CHROMIUM ?? '/usr/bin/chromium'

let browser: Browser
let root: string
let out: string
let build: Awaited<ReturnType<typeof runCli>>

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).toBe(true)
  root = copyPlayground()
  out = join(root, 'out')
  const [launched, keys] = await Promise.all([
    chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
    }),
    devKeys(30),
  ])
  browser = launched
  // A local fs store so the page has upload receipts to show.
  write(root, 'px-plugin.config.json', JSON.stringify({ artifactStore: { type: 'fs', dir: './nas' } }))
  build = await runCli(['build', '--out', out, '--os', 'linux', '--arch', 'amd64', '--no-install', '--json', '--sign', keys.cert, '--key', keys.key], { cwd: root })
  expect(build.code, build.stderr).toBe(0)
})

afterAll(async () => {
  await browser?.close()
})

describe('report.html', () => {
  it('sits next to report.json and needs nothing from the network', () => {
    const html = readFileSync(join(BUNDLE_DIR(out), 'report.html'), 'utf8')
    expect(html.startsWith('<!doctype html>')).toBe(true)
    expect(html).toContain(`default-src 'none'`)
    // No URL the browser could fetch: no src/href attributes, no url() in CSS, no script, no @import.
    expect(html).not.toMatch(/\s(src|href)=/i)
    expect(html).not.toMatch(/url\(/i)
    expect(html).not.toMatch(/<script|@import|<link|<iframe|<img/i)
  })

  it('renders in headless Chromium without network: treemap, signing summary, integrity counts, receipts, durations', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1, offline: true })
    const page = await context.newPage()
    const requests: string[] = []
    const failures: string[] = []
    page.on('request', (r) => requests.push(r.url()))
    page.on('requestfailed', (r) => failures.push(r.url()))
    page.on('console', (m) => {
      if (m.type() === 'error') failures.push(m.text())
    })
    const url = pathToFileURL(join(BUNDLE_DIR(out), 'report.html')).href
    await page.goto(url, { waitUntil: 'load' })

    const report = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8'))
    // The treemap: one box per payload file (the playground is small enough for none to merge).
    const treemap = page.locator('svg#treemap')
    await expect(treemap.isVisible()).resolves.toBe(true)
    const box = await treemap.boundingBox()
    expect(box!.width).toBeGreaterThan(800)
    expect(box!.height).toBeGreaterThan(300)
    const files = await page.locator('svg#treemap g.file').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-path')))
    const integrity = readFileSync(join(BUNDLE_DIR(out), 'integrity.txt'), 'utf8').trim().split('\n').map((l) => l.slice(l.indexOf(' ') + 1).trim())
    expect(files.length).toBeGreaterThan(5)
    for (const path of files) expect(integrity).toContain(path)
    expect(await page.locator('svg#treemap g.dir').count()).toBeGreaterThan(2)
    expect(await page.locator('svg#treemap g.dir[data-path="backend"] title').textContent()).toMatch(/^backend\/ — /)

    // Signing summary, integrity, receipts and stage durations, with the values of report.json.
    const text = await page.locator('body').innerText()
    expect(text).toContain(report.signing.certificate.fingerprint)
    expect(text).toContain(report.signing.certificate.not_after)
    expect(text).toMatch(/Policy\s+signed/)
    expect(text).toContain(report.bundle.sha256)
    expect(await page.locator('#integrity .card').first().innerText()).toContain(String(report.integrity.entries))
    expect(report.uploads.length).toBeGreaterThan(0)
    for (const receipt of report.uploads) expect(text).toContain(receipt.sha256)
    const stages = await page.locator('#durations .bar .label').allInnerTexts()
    expect(stages).toEqual(Object.keys(report.durations_ms))
    expect(stages).toEqual(expect.arrayContaining(['collect', 'hash', 'sign', 'emit', 'upload']))

    // Only the page itself was requested; nothing failed.
    expect(requests).toEqual([url])
    expect(failures).toEqual([])

    const screenshot = screenshotPath('report-html.png')
    await page.screenshot({ path: screenshot, fullPage: true })
    expect(readFileSync(screenshot).subarray(1, 4).toString()).toBe('PNG')
    await context.close()
  })

  it('the copy written in emit travels with the bundle to the store; the final one adds the receipts', () => {
    const stored = readFileSync(join(root, 'nas', 'com.powerx.plugins.hello', '1.2.0', 'linux-amd64', 'report.html'), 'utf8')
    expect(stored).toContain('built (before upload)')
    expect(stored).toMatch(/Written before the upload stage/)
    const final = readFileSync(join(BUNDLE_DIR(out), 'report.html'), 'utf8')
    expect(final).not.toContain('built (before upload)')
    expect(final).toMatch(/<td>fs-nas<\/td>/)
  })
})

describe('report.html of a failed build', () => {
  it('goes next to the failed run summary in staging, shows the error, and leaves the last good page alone', async () => {
    const good = readFileSync(join(BUNDLE_DIR(out), 'report.html'), 'utf8')
    const secret = write(root, 'config/.env', 'API_KEY=do-not-ship\n')
    try {
      const run = await runCli(['build', '--out', out, '--os', 'linux', '--arch', 'amd64', '--no-upload', '--no-install', '--json'], { cwd: root })
      expect(run.code).toBe(1)
      const runId = run.stderr.match(/failure report: .*\.tmp\/([^/]+)\/report-linux-amd64\.html/)?.[1]
      expect(runId, run.stderr).toBeTruthy()
      const failed = readFileSync(join(out, '.tmp', runId!, 'report-linux-amd64.html'), 'utf8')
      expect(failed).toMatch(/<h2>Build failed<\/h2>/)
      expect(failed).toContain('SECRET_IN_TREE')
      expect(failed).toContain('collect-fs')
      expect(readFileSync(join(BUNDLE_DIR(out), 'report.html'), 'utf8')).toBe(good)
    } finally {
      rmSync(secret)
    }
  })
})

describe('treemap layout', () => {
  it('squarify fills the rectangle exactly, without overlaps', () => {
    const areas = [6, 6, 4, 3, 2, 2, 1].map((a) => a * (600 * 400) / 24)
    const rects = squarify(areas, { x: 0, y: 0, w: 600, h: 400 })
    expect(rects).toHaveLength(areas.length)
    rects.forEach((r, i) => expect(r.w * r.h).toBeCloseTo(areas[i]!, 3))
    expect(rects.reduce((n, r) => n + r.w * r.h, 0)).toBeCloseTo(600 * 400, 3)
    for (const [i, a] of rects.entries()) {
      expect(a.x).toBeGreaterThanOrEqual(-1e-9)
      expect(a.y).toBeGreaterThanOrEqual(-1e-9)
      expect(a.x + a.w).toBeLessThanOrEqual(600 + 1e-6)
      expect(a.y + a.h).toBeLessThanOrEqual(400 + 1e-6)
      for (const b of rects.slice(i + 1)) {
        const overlap = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x)) * Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y))
        expect(overlap).toBeLessThan(1e-6)
      }
    }
  })

  it('rolls sizes up by folder and merges thousands of tiny files into one box', () => {
    const entries = [{ path: 'backend/bin/plugin', size: 5_000_000 }, ...Array.from({ length: 5000 }, (_, i) => ({ path: `web-admin/icons/i${i}.svg`, size: 10 }))]
    const tree = buildTree(entries)
    expect(tree.size).toBe(5_050_000)
    expect(tree.children!.map((c) => [c.name, c.size, c.files])).toEqual([['backend', 5_000_000, 1], ['web-admin', 50_000, 5000]])
    const placed = layoutTree(tree, { x: 0, y: 0, w: 1200, h: 560 })
    expect(placed.length).toBeLessThan(20)
    expect(placed.some((p) => /5000 smaller entries/.test(p.label))).toBe(true)
  })

  it('escapes every file name and message', () => {
    const html = renderHtml({
      result: {
        runId: 'r', target: { os: 'linux', arch: 'amd64' }, pluginId: 'x', version: '1', artifacts: [], uploads: [], durations: {}, metrics: [], plugins: {},
        integrity: [{ path: 'docs/<img src=x onerror=alert(1)>.md', sha256: 'a'.repeat(64), size: 10 }],
        warnings: [{ code: 'W', message: '<script>alert(1)</script>' }],
      },
      ok: true, phase: 'final', generatedAt: new Date(), sourceDateEpoch: 0, tool: { name: 'pxp', version: '0', node: '20' }, certExpiryWarnDays: 14,
    })
    expect(html).not.toMatch(/<img|<script/)
    expect(html).toContain('&lt;script&gt;')
  })
})
