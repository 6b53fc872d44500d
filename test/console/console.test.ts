/**
 * The sandbox's web console end to end: the real server (`pxp sandbox --config`, a child process)
 * and Debian's Chromium driven by playwright-core. Sign in, upload the signed playground (keyboard
 * and file picker), the checklist, the wizard, the live timeline, the entry URL, the live logs, an
 * upgrade rolled back through the confirmation dialog, a tampered bundle dropped on the zone and
 * refused, 360 px layout. Every request the browser makes must stay on loopback.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type FileChooser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { screenshotPath } from '../helpers/screenshots.js'
import { repoRoot, runCli } from '../helpers/cli.js'
import { copyPlayground, tempDir } from '../helpers/fixtures.js'
import { buildBundle, editDescriptor, getJson, startSandboxProc, tamper, variant, type SandboxProc } from '../helpers/sandbox.js'

/** Debian's chromium package; CI installs it (see .ci/run). */
const CHROMIUM = process.env.PXP_CHROMIUM ?? '/usr/bin/chromium'
const ID = 'com.powerx.plugins.hello'
const TOKEN = 'console-token-0123456789abcdef'
const SECRET = 'Console-Secret-Value-Never-Shown-77'
const SECRET_REF = 'env:PXP_SECRET_HELLO_TOKEN'

const work = tempDir('pxp-console-')
let sbx: SandboxProc
let browser: Browser
let context: BrowserContext
let page: Page
let signed: string
let upgrade: string
let tampered: string
const requested: string[] = []
const blocked: string[] = []
const pageErrors: string[] = []
const choosers: FileChooser[] = []

const shot = (name: string, fullPage = true) => page.screenshot({ path: screenshotPath(`console-${name}.png`), fullPage })
const text = (selector: string) => page.locator(selector).innerText()
const api = (path: string) => getJson(`${sbx.url}${path}`, TOKEN)

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).toBe(true)
  const keys = join(work, 'keys')
  const [made, launched] = await Promise.all([
    runCli(['keys', 'dev', '--out', keys]),
    chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
    }),
  ])
  browser = launched
  expect(made.code, made.stderr).toBe(0)
  const sign = ['--sign', join(keys, 'dev-signing.pem'), '--key', join(keys, 'dev-signing.key')]
  const next = variant((dir) => editDescriptor(dir, (t) => t.replace('version: 1.2.0', 'version: 1.3.0')))
  ;[signed, upgrade] = await Promise.all([buildBundle(copyPlayground(), sign), buildBundle(next, sign, ID, '1.3.0')])
  tampered = tamper(signed, 'Hello from PowerX', 'Hallo from PowerX')

  writeFileSync(join(work, 'sandbox.yaml'), `core_version: 1.4.0
trust: [${join(keys, 'dev-root-ca.pem')}]
tenants:
  dev-a: { allow_unsigned: false }
  dev-b: {}
tokens:
  - { token_env: PXP_CONSOLE_TOKEN, tenant: dev-a, permissions: [plugin:dev, tenant:sandbox:read], name: console-e2e }
`)
  writeFileSync(join(work, 'limits.yaml'), 'defaults: { install_timeout: 60s, health_timeout: 10s, rollback_timeout: 20s }\n')
  sbx = await startSandboxProc(['--config', join(work, 'sandbox.yaml'), '--limits', join(work, 'limits.yaml')], { env: { PXP_CONSOLE_TOKEN: TOKEN, PXP_SECRET_HELLO_TOKEN: SECRET } })

  context = await browser.newContext({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1, acceptDownloads: false })
  // Nothing may leave the machine: anything that is not the sandbox on loopback is aborted and recorded.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url())
    if (url.hostname === '127.0.0.1') return route.continue()
    blocked.push(url.href)
    return route.abort('blockedbyclient')
  })
  context.on('request', (r) => requested.push(r.url()))
  page = await context.newPage()
  // Listening from the start turns file-chooser interception on before any test opens a picker.
  page.on('filechooser', (chooser) => choosers.push(chooser))
  page.on('pageerror', (e) => pageErrors.push(e.message))
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) pageErrors.push(m.text())
  })
}, 120_000)

afterAll(async () => {
  await context?.close()
  await browser?.close()
  if (!sbx) return
  // The server must stop cleanly on SIGTERM; if it hangs, kill it and fail with its output.
  const code = await Promise.race([sbx.stop(), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))])
  if (code === 'hung') await sbx.kill9()
  expect(code, sbx.output().slice(-2000)).toBe(0)
}, 40_000)

describe('the sandbox console', () => {
  it('is served from console/ with a strict CSP, no caching and nothing else', async () => {
    const res = await fetch(`${sbx.url}/console`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    const js = await fetch(`${sbx.url}/console/app.js`)
    expect([js.status, js.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8'])
    for (const path of ['/console/..%2Fpackage.json', '/console/..%2f..%2fsandbox.yaml', '/console/nope.js', '/console/.hidden.js', '/console/%2e%2e%5cpackage.json']) {
      expect((await fetch(`${sbx.url}${path}`)).status, path).toBe(404)
    }
    expect((await fetch(`${sbx.url}/console/app.js`, { method: 'POST' })).status).toBe(405)
    // Every asset is in the repository: no URL of another origin in the console's code or markup.
    const dir = join(repoRoot, 'console')
    for (const file of readdirSync(dir).filter((f) => /\.(html|js|css)$/.test(f))) {
      expect(readFileSync(join(dir, file), 'utf8'), file).not.toMatch(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}|@import|@font-face/i)
    }
  })

  it('signs in with a token and chooses a tenant the token may use', async () => {
    await page.goto(`${sbx.url}/console`)
    await expect(page.title()).resolves.toMatch(/Sign in/)
    await page.fill('#token', 'not-a-valid-token-at-all')
    await page.click('#signin-submit')
    await expect.poll(() => text('#signin-message')).toMatch(/not valid for this sandbox/)
    await page.fill('#token', TOKEN)
    await page.click('#signin-submit')
    await page.waitForSelector('#tenant:visible')
    expect(await page.locator('#tenant option').allTextContents()).toEqual(['dev-a'])
    await expect(page.locator('#token').getAttribute('type')).resolves.toBe('password')
    await shot('signin')
    await page.click('#signin-submit')
    await page.waitForSelector('#view-install:visible')
    expect(await text('#who-tenant')).toBe('dev-a')
    // The token lives in this tab's session storage only, and in no cookie.
    const stored = await page.evaluate(() => ({ session: sessionStorage.getItem('pxp.console.session'), local: localStorage.length, cookie: document.cookie }))
    expect(JSON.parse(stored.session!)).toEqual({ token: TOKEN, tenant: 'dev-a' })
    expect([stored.local, stored.cookie]).toEqual([0, ''])
    expect(await page.locator('#token').inputValue()).toBe('')
  })

  it('uploads the playground from the keyboard-opened file picker and shows every check passed', async () => {
    await page.focus('#dropzone')
    await page.keyboard.press('Enter')
    await expect.poll(() => choosers.length).toBe(1)
    await choosers[0]!.setFiles(signed)
    await page.waitForSelector('#validation[data-valid="true"]')
    const checks = await page.locator('#checklist li').evaluateAll((lis) => lis.map((li) => [(li as HTMLElement).dataset.check, (li as HTMLElement).dataset.status]))
    expect(checks).toEqual([['receive', 'pass'], ['validate', 'pass'], ['dependencies', 'pass'], ['quota', 'pass'], ['configure', 'skipped']])
    expect(await text('#checklist [data-check="validate"]')).toMatch(/Signature and hashes — passed\s*signed by/)
    expect(await text('#validation-summary')).toContain(`${ID} 1.2.0 (signed) passed every check`)
    expect(await page.locator('#upload-bar').evaluate((p) => (p as HTMLProgressElement).value)).toBe(100)
    await expect(page.locator('#blocking').isHidden()).resolves.toBe(true)
    await shot('validation')
  })

  it('fills the wizard generated from the bundle: required board name, masked secret, log level', async () => {
    await page.waitForSelector('#wizard:visible')
    const fields = await page.locator('#wizard-fields').locator('input, select').evaluateAll((els) => els.map((e) => [e.id, (e as HTMLInputElement).type, (e as HTMLInputElement).required]))
    expect(fields).toEqual([
      ['w-env-HELLO_GREETING', 'text', false],
      ['w-env-HELLO_BOARD_NAME', 'text', true],
      ['w-secret-HELLO_API_TOKEN', 'password', false],
      ['w-log_level-log_level', 'select-one', false],
    ])
    // Submitting without the required answer names it and installs nothing.
    await page.click('#install-submit')
    await expect.poll(() => text('#wizard-message')).toContain('HELLO_BOARD_NAME')
    await expect(page.locator('#w-env-HELLO_BOARD_NAME').getAttribute('aria-invalid')).resolves.toBe('true')
    expect((await api('/api/tenants/dev-a/plugins')).body.data.plugins).toEqual([])
    await page.fill('#w-env-HELLO_BOARD_NAME', 'Demo Board')
    await page.fill('#w-secret-HELLO_API_TOKEN', SECRET_REF)
    await page.selectOption('#w-log_level-log_level', 'debug')
    await shot('wizard')
    await page.click('#install-submit')
  })

  it('follows the stage timeline live to running and opens the entry URL', async () => {
    await page.waitForSelector('#timeline-card[data-status="running"]', { timeout: 30_000 })
    const stages = await page.locator('#timeline li').evaluateAll((lis) => lis.map((li) => `${(li as HTMLElement).dataset.stage}:${(li as HTMLElement).dataset.status}`))
    expect(stages).toEqual(['receive', 'validate', 'dependencies', 'quota', 'configure', 'provision', 'start', 'expose'].map((s) => `${s}:done`))
    expect(await text('#outcome-text')).toContain(`${ID} 1.2.0 is running`)
    const entry = `${sbx.url}/_p/dev-a/${ID}/`
    expect(await page.locator('#entry-link').getAttribute('href')).toBe(entry)
    await shot('timeline')
    // The answers are gone from the page; the secret (value or reference) was never rendered.
    expect(await page.locator('#wizard-fields input').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value).join(''))).toBe('')
    const [tab] = await Promise.all([context.waitForEvent('page'), page.click('#entry-link')])
    await tab.waitForLoadState()
    expect(tab.url()).toBe(entry)
    expect(JSON.parse(await tab.locator('body').innerText())).toMatchObject({ plugin: ID, board: 'Demo Board' })
    await tab.close()
    // The server agrees, and kept only the reference.
    const plugin = (await api(`/api/tenants/dev-a/plugins/${ID}`)).body.data
    expect(plugin).toMatchObject({ status: 'running', current_version: '1.2.0' })
    expect(plugin.versions[0].config).toMatchObject({ env: { HELLO_BOARD_NAME: 'Demo Board' }, secrets: { HELLO_API_TOKEN: SECRET_REF }, log_level: 'debug' })
  })

  it('shows the plugin: status, versions, live logs with a level filter, its audit trail', async () => {
    await page.click('#outcome a[href^="#/plugins/"]')
    await page.waitForSelector('#view-plugin:visible')
    await expect.poll(() => text('#plugin-status')).toBe('running')
    expect(await text('#plugin-version')).toBe('1.2.0')
    await expect.poll(() => page.locator('#logs li', { hasText: 'listening' }).count()).toBeGreaterThan(0)
    // A request to the plugin now appears in the open log panel (the SSE tail).
    const before = await page.locator('#logs li', { hasText: 'request' }).count()
    expect((await getJson(`${sbx.url}/_p/dev-a/${ID}/api/v1/tasks`)).body.board).toBe('Demo Board')
    await expect.poll(() => page.locator('#logs li', { hasText: 'request' }).count(), { timeout: 10_000 }).toBeGreaterThan(before)
    expect(await page.locator('#logs li', { hasText: 'path=/api/v1/tasks' }).count()).toBeGreaterThan(0)
    // The configuration is shown, the secret reference is not.
    const versions = await text('#versions-body')
    expect(versions).toContain('HELLO_BOARD_NAME = Demo Board')
    expect(versions).toContain('HELLO_API_TOKEN = secret set (hidden)')
    const body = await page.locator('body').innerText()
    expect(body).not.toContain(SECRET)
    expect(body).not.toContain(SECRET_REF)
    await expect.poll(() => page.locator('#plugin-audit-body tr[data-action="install.completed"]').count()).toBe(1)
    await shot('plugin')
    // Level filter: warn and above drops the info lines; back to info brings them again.
    await page.selectOption('#log-level', 'warn')
    await expect.poll(() => page.locator('#logs li', { hasText: 'listening' }).count()).toBe(0)
    expect(await page.locator('#logs li').evaluateAll((lis) => lis.every((li) => ['warn', 'error'].includes((li as HTMLElement).dataset.level!)))).toBe(true)
    await page.selectOption('#log-level', 'info')
    await expect.poll(() => page.locator('#logs li', { hasText: 'listening' }).count()).toBeGreaterThan(0)
  })

  it('installs an upgrade, then rolls it back through the confirmation dialog', async () => {
    await page.click('#nav a[data-view="install"]')
    await page.locator('#file').setInputFiles(upgrade)
    await page.waitForSelector('#validation[data-valid="true"]')
    await page.fill('#w-env-HELLO_BOARD_NAME', 'Upgraded Board')
    await page.click('#install-submit')
    await page.waitForSelector('#timeline-card[data-status="running"]', { timeout: 30_000 })
    expect(await text('#outcome-text')).toContain(`${ID} 1.3.0 is running`)
    await page.click('#nav a[data-view="plugins"]')
    await expect.poll(() => text('#plugins-body')).toMatch(/com\.powerx\.plugins\.hello\s+running\s+1\.3\.0\s+1\.2\.0/)
    await page.click(`#plugins-body a[href="#/plugins/${ID}"]`)
    await expect.poll(() => text('#plugin-version')).toBe('1.3.0')
    expect(await text('#rollback-btn')).toBe('Roll back to 1.2.0')
    // Cancel changes nothing.
    await page.click('#rollback-btn')
    await page.waitForSelector('#confirm[open]')
    expect(await text('#confirm-title')).toBe(`Roll back ${ID}?`)
    await page.click('#confirm-cancel')
    await page.waitForSelector('#confirm', { state: 'hidden' })
    expect((await api(`/api/tenants/dev-a/plugins/${ID}`)).body.data.current_version).toBe('1.3.0')
    // Confirm rolls back.
    await page.click('#rollback-btn')
    await page.waitForSelector('#confirm[open]')
    await shot('rollback-confirm', false)
    await page.click('#confirm-ok')
    await expect.poll(() => text('#plugin-message'), { timeout: 20_000 }).toContain('Rolled back: com.powerx.plugins.hello 1.2.0 is running')
    await expect.poll(() => text('#plugin-version')).toBe('1.2.0')
    expect((await api(`/api/tenants/dev-a/plugins/${ID}`)).body.data).toMatchObject({ status: 'running', current_version: '1.2.0', previous_version: '1.3.0' })
    expect((await getJson(`${sbx.url}/_p/dev-a/${ID}/`)).body.board).toBe('Demo Board')
    // The log panel follows the version now running.
    await expect.poll(() => text('#logs-version')).toContain('Version 1.2.0')
    await page.click('#nav a[data-view="audit"]')
    await expect.poll(() => page.locator('#audit-body tr[data-action="plugin.rolled_back"]').count()).toBe(1)
    expect(await text('#audit-chain')).toMatch(/Hash chain verified: \d+ entries/)
    expect(await text('#audit-body')).toContain('console-e2e')
    await shot('audit')
  })

  it('ends a failed install with the failed stage, its reason and the rollback outcome', async () => {
    await page.click('#nav a[data-view="install"]')
    await page.locator('#file').setInputFiles(upgrade)
    await page.waitForSelector('#validation[data-valid="true"]')
    await page.fill('#w-env-HELLO_BOARD_NAME', 'Never Runs')
    await page.fill('#w-secret-HELLO_API_TOKEN', 'env:PXP_SECRET_NOT_SET_ANYWHERE')
    await page.click('#install-submit')
    await page.waitForSelector('#timeline-card[data-status="failed"]', { timeout: 30_000 })
    const stages = await page.locator('#timeline li').evaluateAll((lis) => lis.map((li) => `${(li as HTMLElement).dataset.stage}:${(li as HTMLElement).dataset.status}`))
    expect(stages).toEqual(['receive:done', 'validate:done', 'dependencies:done', 'quota:done', 'configure:failed', 'provision:skipped', 'start:skipped', 'expose:skipped', 'rollback:done'])
    expect(await text('#timeline [data-stage="configure"]')).toMatch(/PXP_SECRET_NOT_SET_ANYWHERE[\s\S]*secret_/)
    expect(await text('#outcome-text')).toMatch(/The install failed at the configure stage: Secret HELLO_API_TOKEN: .+ secret_(unresolved|not_allowed)/)
    expect(await text('#rollback-text')).toMatch(/^Rolled back: everything the install did was undone/)
    await shot('failed')
    // The running version was never touched.
    expect((await api(`/api/tenants/dev-a/plugins/${ID}`)).body.data).toMatchObject({ status: 'running', current_version: '1.2.0' })
  })

  it('refuses a tampered bundle dropped on the zone, with the blocking reason', async () => {
    await page.click('#nav a[data-view="install"]')
    const bytes = readFileSync(tampered).toString('base64')
    const transfer = await page.evaluateHandle((b64) => {
      const dt = new DataTransfer()
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'tampered.pxp'))
      return dt
    }, bytes)
    await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: transfer })
    await page.waitForSelector('#validation[data-valid="false"]')
    expect(await page.locator('#checklist [data-check="validate"]').getAttribute('data-status')).toBe('fail')
    expect(await text('#checklist [data-check="validate"] code')).toBe('ENTRY_TAMPERED')
    expect(await text('#validation-summary')).toMatch(/tampered\.pxp is refused: 1 blocking problem/)
    expect(await text('#blocking-list')).toMatch(/Signature and hashes: .+ENTRY_TAMPERED/s)
    await expect(page.locator('#wizard').isHidden()).resolves.toBe(true)
    await shot('refused')
    // Nothing was installed: 1.2.0 still runs.
    expect((await api(`/api/tenants/dev-a/plugins/${ID}`)).body.data.current_version).toBe('1.2.0')
  })

  it('fits a 360 px screen and labels every control', async () => {
    await page.setViewportSize({ width: 360, height: 780 })
    for (const hash of ['#/install', `#/plugins/${ID}`, '#/plugins', '#/audit']) {
      await page.goto(`${sbx.url}/console${hash}`)
      await page.waitForSelector('main .view:not([hidden])')
      await page.waitForTimeout(150)
      const width = await page.evaluate(() => document.documentElement.scrollWidth)
      expect(width, hash).toBeLessThanOrEqual(360)
      if (hash === `#/plugins/${ID}`) {
        await expect.poll(() => page.locator('#logs li').count()).toBeGreaterThan(0)
        await shot('mobile', false)
      }
    }
    const unlabelled = await page.evaluate(() =>
      Array.from(document.querySelectorAll('input, select, button'))
        .filter((el) => el.id !== 'file')
        .filter((el) => (el instanceof HTMLButtonElement ? !el.textContent!.trim() : (el as HTMLInputElement).labels!.length === 0 && !document.getElementById(el.getAttribute('aria-labelledby') ?? '')))
        .map((el) => el.id || el.outerHTML),
    )
    expect(unlabelled).toEqual([])
    await page.setViewportSize({ width: 1280, height: 860 })
  })

  it('uninstalls the plugin after confirmation', async () => {
    await page.goto(`${sbx.url}/console#/plugins/${ID}`)
    await expect.poll(() => text('#plugin-status')).toBe('running')
    await page.click('#uninstall-btn')
    await page.waitForSelector('#confirm[open]')
    expect(await text('#confirm-title')).toBe(`Uninstall ${ID}?`)
    await page.click('#confirm-ok')
    await page.waitForSelector('#view-plugins:visible')
    await expect.poll(() => text('#plugins-message')).toBe(`${ID} was uninstalled.`)
    await expect.poll(() => page.locator('#plugins-empty').isVisible()).toBe(true)
    expect(await page.locator('#plugins-table').isVisible()).toBe(false)
    expect((await api(`/api/tenants/dev-a/plugins/${ID}`)).status).toBe(404)
    expect((await api('/api/tenants/dev-a/audit')).body.data.entries.some((e: any) => e.action === 'plugin.uninstalled')).toBe(true)
  })

  it('signs out, and the browser never reached beyond loopback', async () => {
    await page.click('#sign-out')
    await page.waitForSelector('#view-signin:visible')
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0)
    expect(blocked).toEqual([])
    expect(requested.length).toBeGreaterThan(10)
    expect(requested.filter((u) => new URL(u).hostname !== '127.0.0.1')).toEqual([])
    expect(pageErrors).toEqual([])
  })
})
