// The pxp sandbox console: sign in, upload and validate a bundle, answer the wizard, follow the
// install, then watch and manage the plugin. Plain DOM, no framework; text is always set with
// textContent (never innerHTML), and secret answers are never rendered back.
import { ApiError, api, enc, session, stream, upload } from './api.js'

const STAGES = ['receive', 'validate', 'dependencies', 'quota', 'configure', 'provision', 'start', 'expose']
const CHECK_LABELS = {
  receive: 'Upload size',
  validate: 'Signature and hashes',
  dependencies: 'Dependencies',
  quota: 'Quota',
  configure: 'Configuration',
}
const PLUGIN_EVENTS = /^plugin\./
const MAX_LOG_LINES = 1000

const $ = (id) => document.getElementById(id)

/** `h('li', { class: 'x', dataset: { a: 1 } }, 'text', child)` */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') el.className = v
    else if (k === 'dataset') Object.assign(el.dataset, v)
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else if (v === true) el.setAttribute(k, '')
    else el.setAttribute(k, String(v))
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c))
  return el
}

/** Replaces an element's children; nested arrays are flattened and null/undefined/false dropped. */
const fill = (el, ...children) => el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false))

const fmtTime = (iso) => {
  if (!iso) return ''
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' })
}
const fmtMs = (ms) => (typeof ms !== 'number' ? '' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`)
const fmtBytes = (n) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`)
/** A URL the sandbox returned, made relative to this origin (the console only talks to its own origin). */
const local = (url) => {
  if (!url) return undefined
  try {
    const u = new URL(url, location.origin)
    return `${location.origin}${u.pathname}${u.search}`
  } catch {
    return undefined
  }
}
const badge = (status) => h('span', { class: `badge badge-${String(status).replace(/[^a-z_]/g, '')}` }, String(status))

function say(id, text, kind = 'error') {
  const el = $(id)
  el.textContent = text ?? ''
  el.className = `message ${text ? kind : ''}`
}
const problem = (error) => (error instanceof ApiError ? `${error.message}${error.code && error.code !== 'error' ? ` (${error.code})` : ''}` : String(error?.message ?? error))

// ---------------------------------------------------------------- state

const state = {
  token: null,
  tenant: null,
  file: null,
  validation: null,
  events: null, // AbortController of the tenant's event stream
  logs: null, // { controller, plugin, version, level }
  plugin: null, // the plugin shown
  install: null, // AbortController of the followed install
  flash: null, // a message for the plugins list (after an uninstall)
}

function signedIn() {
  const s = session.get()
  if (!s) return false
  state.token = s.token
  state.tenant = s.tenant
  return true
}

function signOut() {
  session.clear()
  state.token = state.tenant = null
  state.events?.abort()
  state.events = null
  state.install?.abort()
  stopLogs()
  resetInstall()
  $('signin-form').reset()
  $('tenant-field').hidden = true
  $('signin-submit').textContent = 'Sign in'
  say('signin-message', '')
  if (location.hash !== '#/signin') location.hash = '#/signin'
  else route()
}

/** An API call of the signed-in user; a 401 (token gone from the config) signs out. */
async function call(method, path, opts) {
  try {
    return await api(state.token, method, path, opts)
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut()
      say('signin-message', 'The sandbox no longer accepts this token. Sign in again.')
    }
    throw error
  }
}

// ---------------------------------------------------------------- routing

const VIEWS = ['signin', 'install', 'plugins', 'plugin', 'audit']

function show(view) {
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view
  const nav = view !== 'signin'
  $('nav').hidden = !nav
  $('who').hidden = !nav
  for (const a of document.querySelectorAll('#nav a')) {
    const current = a.dataset.view === view || (view === 'plugin' && a.dataset.view === 'plugins')
    if (current) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
}

let lastView = null
function route() {
  const hash = location.hash.replace(/^#/, '') || '/install'
  if (!signedIn()) {
    show('signin')
    document.title = 'Sign in · pxp sandbox console'
    if (lastView !== 'signin') $('token').focus()
    lastView = 'signin'
    return
  }
  $('who-tenant').textContent = state.tenant
  if (!state.events) followTenantEvents()
  const [, section, id] = hash.split('/')
  let view = section
  if (view === 'plugins' && id) view = 'plugin'
  if (!VIEWS.includes(view) || view === 'signin') view = 'install'
  if (view !== 'plugin') stopLogs()
  show(view)
  const titles = { install: 'Install', plugins: 'Plugins', plugin: decodeURIComponent(id ?? ''), audit: 'Audit trail' }
  document.title = `${titles[view]} · ${state.tenant} · pxp sandbox console`
  if (view === 'plugins') {
    say('plugins-message', state.flash ?? '', 'success')
    state.flash = null
    void loadPlugins()
  }
  if (view === 'plugin') void loadPlugin(decodeURIComponent(id), lastView !== `plugin:${id}`)
  if (view === 'audit') void loadAudit()
  const key = view === 'plugin' ? `plugin:${id}` : view
  if (lastView !== key && lastView !== null) $('main').focus({ preventScroll: true })
  lastView = key
}

// ---------------------------------------------------------------- sign in

async function onSignIn(event) {
  event.preventDefault()
  const token = $('token').value.trim()
  say('signin-message', '')
  if (!token) {
    $('token').setAttribute('aria-invalid', 'true')
    return say('signin-message', 'Enter a sandbox token.')
  }
  $('token').removeAttribute('aria-invalid')
  const submit = $('signin-submit')
  submit.disabled = true
  try {
    if ($('tenant-field').hidden) {
      // Step 1: which tenants may this token use? The token's own tenant is reported by /metrics.
      const select = $('tenant')
      select.replaceChildren()
      try {
        const metrics = await api(token, 'GET', '/metrics')
        select.append(h('option', { value: metrics.tenant_id }, metrics.tenant_id))
        select.hidden = false
        $('tenant-text').hidden = true
        $('tenant-label').htmlFor = 'tenant'
        $('tenant-hint').textContent = 'The tenants this token may use.'
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 403) throw error
        // A token without tenant:sandbox:read cannot list its tenant: ask for it.
        select.hidden = true
        $('tenant-text').hidden = false
        $('tenant-label').htmlFor = 'tenant-text'
        $('tenant-hint').textContent = 'This token cannot read its tenant; type the tenant id it was issued for.'
      }
      $('tenant-field').hidden = false
      submit.textContent = 'Open tenant'
      ;(select.hidden ? $('tenant-text') : select).focus()
      return
    }
    // Step 2: open the chosen tenant (the API refuses a tenant that is not the token's).
    const tenant = ($('tenant').hidden ? $('tenant-text').value : $('tenant').value).trim()
    if (!tenant) return say('signin-message', 'Choose a tenant.')
    try {
      await api(token, 'GET', `/api/tenants/${enc(tenant)}/plugins`)
    } catch (error) {
      // `forbidden` = the token lacks tenant:sandbox:read but may use the tenant (install only).
      if (!(error instanceof ApiError) || error.code !== 'forbidden') throw error
    }
    session.set(token, tenant)
    $('token').value = ''
    location.hash = '#/install'
    route()
  } catch (error) {
    const text = error instanceof ApiError && error.status === 401 ? 'This token is not valid for this sandbox.' : error instanceof ApiError && error.code === 'tenant_forbidden' ? `This token may not use that tenant. ${error.message}` : problem(error)
    say('signin-message', text)
  } finally {
    submit.disabled = false
  }
}

// ---------------------------------------------------------------- upload and validation

function resetInstall() {
  state.file = null
  state.validation = null
  state.install?.abort()
  $('validation').hidden = true
  $('wizard').hidden = true
  $('timeline-card').hidden = true
  $('upload-progress').hidden = true
  $('wizard-fields').replaceChildren()
  say('upload-message', '')
}

function setProgress(label, loaded, total) {
  $('upload-progress').hidden = false
  const pct = total > 0 ? Math.round((loaded / total) * 100) : 0
  $('upload-bar').value = pct
  $('upload-bar').setAttribute('aria-valuetext', `${pct}%`)
  $('upload-label').textContent = `${label} ${state.file ? state.file.name : ''} — ${pct}% (${fmtBytes(loaded)} of ${fmtBytes(total)})`
}

async function onFile(file) {
  if (!file) return
  resetInstall()
  if (!/\.pxp$/i.test(file.name)) return say('upload-message', `${file.name} is not a .pxp bundle.`)
  state.file = file
  setProgress('Uploading', 0, file.size)
  let result
  try {
    result = await upload(state.token, '/internal/plugins/packages/validate', file, { tenant_id: state.tenant }, (l, t) => setProgress('Uploading', l, t))
  } catch (error) {
    $('upload-progress').hidden = true
    return say('upload-message', `The sandbox could not check ${file.name}: ${problem(error)}`)
  }
  $('upload-label').textContent = `Checked ${file.name} (${fmtBytes(file.size)}).`
  state.validation = result.data
  renderValidation(result.data, file)
  if (result.data.valid) renderWizard(result.data.wizard)
}

function renderValidation(v, file) {
  const card = $('validation')
  card.hidden = false
  card.dataset.valid = String(v.valid)
  const who = v.plugin ? `${v.plugin.id} ${v.plugin.version}${v.plugin.signed ? ' (signed)' : ' (unsigned)'}` : file.name
  fill($('validation-summary'),
    v.valid
      ? h('span', { class: 'ok' }, h('span', { 'aria-hidden': 'true' }, '✓ '), `${who} passed every check and can be installed.`)
      : h('span', { class: 'bad' }, h('span', { 'aria-hidden': 'true' }, '✗ '), `${who} is refused: ${v.blocking.length} blocking problem${v.blocking.length === 1 ? '' : 's'}.`),
  )
  fill($('checklist'),
    ...v.checks.map((c) => {
      const label = CHECK_LABELS[c.name] ?? c.name
      const status = c.status === 'pass' ? 'passed' : c.status === 'fail' ? 'failed' : 'not checked'
      const reason = c.name === 'configure' && c.status === 'skipped' && v.valid ? 'answered in the form below' : c.reason
      return h(
        'li',
        { class: `check check-${c.status}`, dataset: { check: c.name, status: c.status } },
        h('span', { class: 'icon', 'aria-hidden': 'true' }, c.status === 'pass' ? '✓' : c.status === 'fail' ? '✗' : '–'),
        h('span', { class: 'check-body' }, h('strong', {}, label), ` — ${status}`, reason ? h('span', { class: 'reason' }, reason) : null, c.error_code ? h('code', { class: 'code' }, c.error_code) : null),
      )
    }),
  )
  $('blocking').hidden = v.valid
  fill($('blocking-list'),
    ...v.blocking.map((c) =>
      h('li', { dataset: { check: c.name } }, h('strong', {}, CHECK_LABELS[c.name] ?? c.name), ': ', c.reason, c.error_code ? [' ', h('code', {}, c.error_code)] : null, Array.isArray(c.details?.missing) ? ` (missing: ${c.details.missing.join(', ')})` : null),
    ),
  )
}

// ---------------------------------------------------------------- the wizard

function renderWizard(wizard) {
  const fields = $('wizard-fields')
  fields.replaceChildren()
  for (const q of wizard.questions) {
    const id = `w-${q.kind}-${q.key}`
    const hintId = `${id}-hint`
    const req = q.required ? [' ', h('span', { class: 'req' }, 'required')] : null
    if (q.kind === 'log_level') {
      const select = h('select', { id, name: 'log_level', 'aria-describedby': hintId, dataset: { kind: q.kind, key: q.key } }, ...(q.choices ?? ['debug', 'info', 'warn', 'error']).map((c) => h('option', { value: c, selected: c === (q.default ?? 'info') }, c)))
      fields.append(h('div', { class: 'field' }, h('label', { for: id }, 'Log level', req), select, h('p', { class: 'hint', id: hintId }, 'The minimum level the plugin logs (LOG_LEVEL).')))
      continue
    }
    const secret = q.kind === 'secret'
    const input = h('input', {
      id,
      name: q.key,
      type: secret ? 'password' : 'text',
      autocomplete: secret ? 'new-password' : 'off',
      spellcheck: 'false',
      required: q.required,
      'aria-required': q.required ? 'true' : undefined,
      placeholder: secret ? 'env:NAME or file:/path' : q.default ?? '',
      'aria-describedby': hintId,
      dataset: { kind: q.kind, key: q.key },
    })
    const hint = secret
      ? `${q.description ? `${q.description}. ` : ''}Secret: give a reference the sandbox resolves — env:NAME (its environment) or file:/path. The value never passes through this page and is never shown back.`
      : q.default !== undefined
        ? `Leave empty for the default “${q.default}”.`
        : 'An environment variable of the plugin.'
    fields.append(h('div', { class: 'field' }, h('label', { for: id }, h('code', {}, q.key), secret ? ' (secret)' : null, req), input, h('p', { class: 'hint', id: hintId }, hint)))
  }
  $('wizard').hidden = false
  say('wizard-message', '')
}

async function onInstall(event) {
  event.preventDefault()
  if (!state.file || !state.validation?.valid) return
  const config = { env: {}, secrets: {} }
  const missing = []
  let firstBad
  for (const el of $('wizard-fields').querySelectorAll('input, select')) {
    const value = el.value.trim()
    el.removeAttribute('aria-invalid')
    if (el.dataset.kind === 'log_level') config.log_level = value
    else if (!value) {
      if (el.required) {
        missing.push(el.dataset.key)
        el.setAttribute('aria-invalid', 'true')
        firstBad ??= el
      }
    } else if (el.dataset.kind === 'secret') {
      if (!/^(env|file):.+$/.test(value)) {
        el.setAttribute('aria-invalid', 'true')
        firstBad ??= el
        missing.push(`${el.dataset.key} (must be env:NAME or file:/path)`)
      } else config.secrets[el.dataset.key] = value
    } else config.env[el.dataset.key] = value
  }
  if (missing.length) {
    firstBad?.focus()
    return say('wizard-message', `Answer: ${missing.join(', ')}.`)
  }
  say('wizard-message', '')
  const submit = $('install-submit')
  submit.disabled = true
  const fields = { tenant_id: state.tenant, config: JSON.stringify(config) }
  let accepted
  try {
    accepted = await upload(state.token, '/api/plugins/install/local', state.file, fields, (l, t) => setProgress('Installing', l, t))
  } catch (error) {
    submit.disabled = false
    say('wizard-message', `The install was refused: ${problem(error)}`)
    if (error instanceof ApiError && error.details?.install_id) void followInstall(error.details.install_id)
    return
  }
  // The answers have been sent: clear them (secret references included) from the page.
  for (const el of $('wizard-fields').querySelectorAll('input')) el.value = ''
  $('wizard').hidden = true
  submit.disabled = false
  $('upload-label').textContent = `Uploaded ${state.file.name}; installing.`
  void followInstall(accepted.data.install_id)
}

// ---------------------------------------------------------------- the install's timeline

async function followInstall(id) {
  state.install?.abort()
  const controller = new AbortController()
  state.install = controller
  const card = $('timeline-card')
  card.hidden = false
  card.dataset.status = 'pending'
  $('timeline-meta').textContent = `Install ${id}`
  $('outcome').replaceChildren()
  renderTimeline({ stages: [], status: 'pending' })
  card.scrollIntoView({ block: 'nearest' })
  let pending = null
  let busy = false
  const refresh = async () => {
    if (busy) return void (pending = true)
    busy = true
    try {
      do {
        pending = false
        const rec = await call('GET', `/api/plugins/installs/${enc(id)}`, { signal: controller.signal })
        if (state.install !== controller) return
        renderTimeline(rec)
      } while (pending)
    } catch (error) {
      if (error.name !== 'AbortError') fill($('outcome'), h('p', { class: 'message error' }, problem(error)))
    } finally {
      busy = false
    }
  }
  try {
    await stream(state.token, `/api/plugins/installs/${enc(id)}/events`, () => void refresh(), { signal: controller.signal })
  } catch (error) {
    if (error.name === 'AbortError') return
    fill($('outcome'), h('p', { class: 'message error' }, `Lost the install's events: ${problem(error)}`))
  }
  // The stream ends after the final event: show the final state.
  while (busy) await new Promise((r) => setTimeout(r, 50))
  await refresh()
}

function renderTimeline(rec) {
  const byName = new Map((rec.stages ?? []).map((s) => [s.name, s]))
  const names = [...STAGES, ...(byName.has('rollback') ? ['rollback'] : [])]
  fill($('timeline'),
    ...names.map((name) => {
      const s = byName.get(name)
      const status = s ? (s.status === 'ok' ? 'done' : s.status) : rec.status === 'failed' && name !== 'rollback' ? 'skipped' : 'waiting'
      const icon = { done: '✓', running: '…', failed: '✗', skipped: '–', waiting: '○' }[status]
      const text = { done: `done in ${fmtMs(s?.duration_ms)}`, running: 'running…', failed: `failed${s?.duration_ms !== undefined ? ` after ${fmtMs(s.duration_ms)}` : ''}`, skipped: 'not reached', waiting: 'waiting' }[status]
      return h(
        'li',
        { class: `stage stage-${status}`, dataset: { stage: name, status } },
        h('span', { class: 'icon', 'aria-hidden': 'true' }, icon),
        h('span', { class: 'stage-body' }, h('strong', {}, name), ` — ${text}`, s?.reason ? h('span', { class: 'reason' }, s.reason) : null, s?.error_code ? h('code', { class: 'code' }, s.error_code) : null),
      )
    }),
  )
  const card = $('timeline-card')
  card.dataset.status = rec.status
  if (rec.install_id) $('timeline-meta').textContent = `Install ${rec.install_id}${rec.plugin_id ? ` · ${rec.plugin_id} ${rec.version ?? ''}` : ''}${rec.trace_id ? ` · trace ${rec.trace_id}` : ''}`
  const outcome = $('outcome')
  if ((rec.status === 'running' || rec.status === 'failed') && state.file && $('upload-label').textContent.endsWith('installing.')) $('upload-label').textContent = `Uploaded ${state.file.name}.`
  if (rec.status === 'running') {
    const entry = local(rec.entry_url)
    const test = local(rec.test_url)
    fill(outcome,
      h('p', { class: 'ok', id: 'outcome-text' }, h('span', { 'aria-hidden': 'true' }, '✓ '), `${rec.plugin_id} ${rec.version} is running${rec.duration_ms ? ` (installed in ${fmtMs(rec.duration_ms)})` : ''}.`),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Entry URL'),
        h('dd', {}, h('a', { href: entry, id: 'entry-link', target: '_blank', rel: 'noopener noreferrer' }, entry)),
        test && test !== entry ? [h('dt', {}, 'Test entry'), h('dd', {}, h('a', { href: test, target: '_blank', rel: 'noopener noreferrer' }, test))] : null,
      ),
      h('p', {}, h('a', { href: `#/plugins/${enc(rec.plugin_id)}`, class: 'button' }, 'Open the plugin: status and logs')),
    )
  } else if (rec.status === 'failed') {
    const rollback = byName.get('rollback')
    fill(outcome,
      h('p', { class: 'bad', id: 'outcome-text' }, h('span', { 'aria-hidden': 'true' }, '✗ '), `The install failed at the ${rec.stage ?? 'receive'} stage: ${rec.failure_reason ?? 'unknown reason'}`, rec.error_code ? [' ', h('code', {}, rec.error_code)] : null),
      h('p', { id: 'rollback-text' }, rec.rolled_back ? 'Rolled back: everything the install did was undone; the previously running version, if any, is running again.' : `The rollback did not complete${rollback?.reason ? `: ${rollback.reason}` : '.'}`),
      rec.plugin_id ? h('p', {}, h('a', { href: `#/plugins/${enc(rec.plugin_id)}` }, 'See the plugin and its logs')) : null,
    )
  } else outcome.replaceChildren()
}

// ---------------------------------------------------------------- plugins

// Reloads overlap (navigation and tenant events both trigger one); only the newest may render,
// or an answer sent before an uninstall could repaint the list after it.
let pluginsLoad = 0

async function loadPlugins() {
  const mine = ++pluginsLoad
  try {
    const { plugins } = await call('GET', `/api/tenants/${enc(state.tenant)}/plugins`)
    if (mine !== pluginsLoad) return
    fill($('plugins-body'),
      ...plugins.map((p) =>
        h('tr', { dataset: { plugin: p.id } }, h('th', { scope: 'row' }, h('a', { href: `#/plugins/${enc(p.id)}` }, p.id)), h('td', {}, badge(p.status)), h('td', {}, p.current_version), h('td', {}, p.previous_version ?? '—')),
      ),
    )
    if ($('plugins-message').classList.contains('error')) say('plugins-message', '')
    $('plugins-empty').hidden = plugins.length > 0
    $('plugins-table').hidden = plugins.length === 0
  } catch (error) {
    if (mine === pluginsLoad) say('plugins-message', problem(error))
  }
}

function configSummary(config) {
  const parts = []
  for (const [k, v] of Object.entries(config?.env ?? {})) parts.push(h('li', {}, h('code', {}, k), ` = ${v}`))
  if (config?.log_level) parts.push(h('li', {}, h('code', {}, 'log_level'), ` = ${config.log_level}`))
  // Secret references are never shown back: only that one was given.
  for (const k of Object.keys(config?.secrets ?? {})) parts.push(h('li', {}, h('code', {}, k), ' = ', h('em', {}, 'secret set (hidden)')))
  return parts.length ? h('ul', { class: 'plain' }, ...parts) : '—'
}

async function loadPlugin(id, fresh) {
  if (fresh) {
    $('plugin-title').textContent = id
    $('plugin-facts').replaceChildren()
    $('versions-body').replaceChildren()
    $('plugin-audit-body').replaceChildren()
    say('plugin-message', '')
  }
  let p
  try {
    p = await call('GET', `/api/tenants/${enc(state.tenant)}/plugins/${enc(id)}`)
  } catch (error) {
    state.plugin = null
    stopLogs()
    $('rollback-btn').disabled = $('uninstall-btn').disabled = true
    return say('plugin-message', problem(error))
  }
  if (location.hash !== `#/plugins/${enc(id)}`) return
  state.plugin = p
  const entry = local(p.entry_url)
  const test = local(p.test_url)
  fill($('plugin-facts'),
    h('dt', {}, 'Status'),
    h('dd', { id: 'plugin-status' }, badge(p.status)),
    h('dt', {}, 'Current version'),
    h('dd', { id: 'plugin-version' }, p.current_version),
    h('dt', {}, 'Previous version'),
    h('dd', {}, p.previous_version ?? '—'),
    entry ? [h('dt', {}, 'Entry URL'), h('dd', {}, h('a', { href: entry, target: '_blank', rel: 'noopener noreferrer', id: 'plugin-entry' }, entry))] : null,
    test && test !== entry ? [h('dt', {}, 'Test entry'), h('dd', {}, h('a', { href: test, target: '_blank', rel: 'noopener noreferrer' }, test))] : null,
    p.last_exit ? [h('dt', {}, 'Last exit'), h('dd', {}, Object.entries(p.last_exit).map(([k, v]) => `${k}: ${v}`).join(', '))] : null,
  )
  const canRollBack = Boolean(p.previous_version && p.versions.some((v) => v.version === p.previous_version))
  const rb = $('rollback-btn')
  rb.disabled = !canRollBack
  rb.textContent = canRollBack ? `Roll back to ${p.previous_version}` : 'Roll back (no previous version)'
  $('uninstall-btn').disabled = false
  fill($('versions-body'),
    ...p.versions
      .slice()
      .sort((a, b) => String(b.installed_at).localeCompare(String(a.installed_at)))
      .map((v) =>
        h(
          'tr',
          { dataset: { version: v.version } },
          h('th', { scope: 'row' }, v.version, v.version === p.current_version ? [' ', h('span', { class: 'tag' }, 'current')] : null, v.version === p.previous_version ? [' ', h('span', { class: 'tag' }, 'previous')] : null),
          h('td', {}, fmtTime(v.installed_at)),
          h('td', {}, configSummary(v.config)),
        ),
      ),
  )
  const level = $('log-level').value
  if (!state.logs || state.logs.plugin !== p.id || state.logs.version !== p.current_version || state.logs.level !== level) startLogs(p.id, p.current_version, level)
  void loadAuditInto('plugin-audit-body', p.id)
}

// ---------------------------------------------------------------- logs

function stopLogs() {
  state.logs?.controller.abort()
  state.logs = null
  $('logs-live').hidden = true
}

function logLine(l) {
  let extra = ''
  if (typeof l.raw === 'string') {
    try {
      const raw = JSON.parse(l.raw)
      extra = Object.entries(raw)
        .filter(([k]) => !['ts', 'time', 'level', 'msg', 'message', 'severity', 'lvl'].includes(k))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ')
    } catch {
      extra = ''
    }
  }
  const level = ['debug', 'info', 'warn', 'error'].includes(l.level) ? l.level : 'info'
  return h(
    'li',
    { class: `log log-${level}`, dataset: { level } },
    h('time', { datetime: l.ts }, l.ts ? new Date(l.ts).toLocaleTimeString(undefined, { hour12: false }) : ''),
    h('span', { class: 'lvl' }, level),
    h('span', { class: 'msg' }, String(l.msg ?? '')),
    extra ? h('span', { class: 'extra' }, extra) : null,
  )
}

async function startLogs(plugin, version, level) {
  stopLogs()
  const controller = new AbortController()
  state.logs = { controller, plugin, version, level }
  const list = $('logs')
  list.replaceChildren()
  $('logs-version').textContent = `Version ${version}, ${level} and above; new lines appear as the plugin writes them.`
  $('logs-live').hidden = false
  try {
    await stream(
      state.token,
      `/api/tenants/${enc(state.tenant)}/plugins/${enc(plugin)}/logs?follow=1&tail=200&level=${enc(level)}`,
      (msg) => {
        if (msg.event !== 'log' || typeof msg.data !== 'object') return
        const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 8
        list.append(logLine(msg.data))
        while (list.childElementCount > MAX_LOG_LINES) list.firstElementChild.remove()
        if (stick) list.scrollTop = list.scrollHeight
      },
      { signal: controller.signal },
    )
  } catch (error) {
    if (error.name === 'AbortError') return
    $('logs-version').textContent = `The log stream stopped: ${problem(error)}`
  }
  if (state.logs?.controller === controller) $('logs-live').hidden = true
}

// ---------------------------------------------------------------- rollback, uninstall

function confirmDialog(title, text, ok) {
  const dialog = $('confirm')
  $('confirm-title').textContent = title
  $('confirm-text').textContent = text
  $('confirm-ok').textContent = ok
  dialog.returnValue = ''
  dialog.showModal()
  $('confirm-cancel').focus()
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }))
}

async function onRollback() {
  const p = state.plugin
  if (!p?.previous_version) return
  const trigger = $('rollback-btn')
  if (!(await confirmDialog(`Roll back ${p.id}?`, `Version ${p.current_version} is stopped and ${p.previous_version} is started again in tenant ${state.tenant}.`, `Roll back to ${p.previous_version}`))) return trigger.focus()
  trigger.disabled = true
  say('plugin-message', `Rolling back to ${p.previous_version}…`, 'info')
  try {
    const after = await call('POST', `/api/tenants/${enc(state.tenant)}/plugins/${enc(p.id)}/rollback`)
    say('plugin-message', `Rolled back: ${after.id} ${after.current_version} is ${after.status}.`, 'success')
  } catch (error) {
    say('plugin-message', `The rollback failed: ${problem(error)}`)
  }
  await loadPlugin(p.id, false)
  trigger.focus()
}

async function onUninstall() {
  const p = state.plugin
  if (!p) return
  if (!(await confirmDialog(`Uninstall ${p.id}?`, `Every version of ${p.id} is stopped and removed from tenant ${state.tenant}, and its quota is released. Its logs are kept.`, 'Uninstall'))) return $('uninstall-btn').focus()
  $('uninstall-btn').disabled = true
  try {
    await call('DELETE', `/api/tenants/${enc(state.tenant)}/plugins/${enc(p.id)}`)
    stopLogs()
    state.plugin = null
    state.flash = `${p.id} was uninstalled.`
    location.hash = '#/plugins'
  } catch (error) {
    $('uninstall-btn').disabled = false
    say('plugin-message', `The uninstall failed: ${problem(error)}`)
  }
}

// ---------------------------------------------------------------- audit

function auditRow(e) {
  const meta = e.metadata ?? {}
  const details = Object.entries(meta)
    .filter(([k, v]) => k !== 'by' && v !== null && v !== undefined && typeof v !== 'object')
    .map(([k, v]) => `${k}: ${v}`)
    .join(' · ')
  return h('tr', { dataset: { action: e.action } }, h('td', {}, h('time', { datetime: e.timestamp }, fmtTime(e.timestamp))), h('td', { class: 'action' }, h('code', {}, e.action)), h('td', { class: 'by' }, meta.by ?? e.actor ?? ''), h('td', { class: 'details' }, details))
}

async function loadAuditInto(tbody, pluginId) {
  try {
    const audit = await call('GET', `/api/tenants/${enc(state.tenant)}/audit`)
    const entries = audit.entries
      .filter((e) => !pluginId || (e.metadata?.plugin_id === pluginId && e.action !== 'install.stage'))
      .reverse()
      .slice(0, pluginId ? 20 : 500)
    fill($(tbody), ...entries.map(auditRow))
    return audit
  } catch (error) {
    fill($(tbody), h('tr', {}, h('td', { colspan: 4 }, problem(error))))
    return null
  }
}

async function loadAudit() {
  say('audit-message', '')
  const audit = await loadAuditInto('audit-body')
  if (!audit) return
  fill($('audit-chain'),
    audit.chain.ok
      ? h('span', { class: 'ok' }, h('span', { 'aria-hidden': 'true' }, '✓ '), `Hash chain verified: ${audit.chain.lines} entries, none altered.`)
      : h('span', { class: 'bad' }, h('span', { 'aria-hidden': 'true' }, '✗ '), `The hash chain is broken at line ${audit.chain.brokenAt}: the audit log was altered.`),
  )
}

// ---------------------------------------------------------------- live tenant events

function followTenantEvents() {
  const controller = new AbortController()
  state.events = controller
  let timer = null
  const onEvent = (msg) => {
    if (!PLUGIN_EVENTS.test(msg.event) || msg.event.startsWith('plugin.install.stage')) return
    clearTimeout(timer)
    timer = setTimeout(() => {
      const hash = location.hash
      if (hash === '#/plugins') void loadPlugins()
      else if (hash.startsWith('#/plugins/') && state.plugin) void loadPlugin(state.plugin.id, false)
      else if (hash === '#/audit') void loadAudit()
    }, 150)
  }
  const run = async () => {
    while (!controller.signal.aborted) {
      try {
        await stream(state.token, '/api/events', onEvent, { signal: controller.signal })
      } catch (error) {
        // No tenant:sandbox:read, or signed out: stop; otherwise retry after a pause.
        if (error.name === 'AbortError' || (error instanceof ApiError && error.status >= 400 && error.status < 500)) return
      }
      await new Promise((r) => setTimeout(r, 2000))
    }
  }
  void run()
}

// ---------------------------------------------------------------- wiring

function wire() {
  $('signin-form').addEventListener('submit', onSignIn)
  $('token').addEventListener('input', () => {
    // A different token: choose its tenant again.
    if (!$('tenant-field').hidden) {
      $('tenant-field').hidden = true
      $('signin-submit').textContent = 'Sign in'
    }
  })
  $('sign-out').addEventListener('click', signOut)

  const zone = $('dropzone')
  const input = $('file')
  zone.addEventListener('click', () => input.click())
  input.addEventListener('change', () => {
    const file = input.files?.[0]
    input.value = ''
    void onFile(file)
  })
  for (const type of ['dragenter', 'dragover']) {
    zone.addEventListener(type, (e) => {
      e.preventDefault()
      e.dataTransfer.dropEffect = 'copy'
      zone.classList.add('over')
    })
  }
  for (const type of ['dragleave', 'dragend']) zone.addEventListener(type, () => zone.classList.remove('over'))
  zone.addEventListener('drop', (e) => {
    e.preventDefault()
    zone.classList.remove('over')
    void onFile(e.dataTransfer.files?.[0])
  })
  // A file dropped next to the zone must not make the browser navigate away from the console.
  for (const type of ['dragover', 'drop']) window.addEventListener(type, (e) => e.preventDefault())

  $('wizard').addEventListener('submit', onInstall)
  $('wizard').addEventListener('input', (e) => {
    if (e.target.value?.trim()) e.target.removeAttribute('aria-invalid')
  })
  $('rollback-btn').addEventListener('click', onRollback)
  $('uninstall-btn').addEventListener('click', onUninstall)
  $('log-level').addEventListener('change', () => {
    if (state.plugin) void startLogs(state.plugin.id, state.plugin.current_version, $('log-level').value)
  })
  window.addEventListener('hashchange', route)
}

wire()
route()
