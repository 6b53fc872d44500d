/**
 * The sandbox's HTTP API (node:http, no framework). Every JSON answer uses the envelope
 * `{ code, message, data, request_id, timestamp }`; errors add `error_code` (and `error`, as
 * PowerX Core does) and `details`. Routes are listed in docs/sandbox.md.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, mkdirSync, rmSync, statSync, type WriteStream } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { verifyAuditLog } from '../report/audit-log.js'
import { redactValue } from '../redact.js'
import { toolVersion } from '../version.js'
import { ApiError, authenticate, requirePermission, requireTenant } from './auth.js'
import type { SandboxSettings, TenantSettings, TokenEntry } from './config.js'
import { Sandbox } from './core.js'
import {
  StageFailure,
  configureProblem,
  dependencyProblem,
  questionsFor,
  quotaProblem,
  validateBundle,
  type Problem,
  type Validated,
} from './install/checks.js'
import { computeMetrics, prometheusText } from './metrics.js'
import { MultipartError, boundaryOf, parseMultipart, type FileSink } from './multipart.js'
import { proxyTo } from './proxy.js'
import { levelRank } from './runner.js'
import type { InstallConfig, SandboxEvent } from './types.js'
import { missingAnswers } from './wizard.js'

export interface SandboxHandle {
  url: string
  sandbox: Sandbox
  server: Server
  close(): Promise<void>
}

interface Ctx {
  req: IncomingMessage
  res: ServerResponse
  requestId: string
  url: URL
}

function send(ctx: Ctx, status: number, data: unknown, message = 'ok'): void {
  const body = JSON.stringify(redactValue({ code: status, message, data, request_id: ctx.requestId, timestamp: new Date().toISOString() }))
  ctx.res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': ctx.requestId })
  ctx.res.end(body)
}

function sendError(ctx: Ctx, status: number, errorCode: string, message: string, details?: Record<string, unknown>): void {
  if (ctx.res.headersSent) return void ctx.res.destroy()
  const body = JSON.stringify(redactValue({ code: status, message, error: errorCode, error_code: errorCode, details: details ?? {}, data: null, request_id: ctx.requestId, timestamp: new Date().toISOString() }))
  ctx.res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': ctx.requestId })
  ctx.res.end(body)
}

/** Reads (and drops) the rest of a request body, bounded, so the client can read our answer. */
async function drain(req: IncomingMessage, maxBytes = 64 * 1024 * 1024): Promise<void> {
  if (req.readableEnded || req.destroyed) return
  await new Promise<void>((resolve) => {
    let seen = 0
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length
      if (seen > maxBytes) {
        req.destroy()
        resolve()
      }
    })
    req.on('end', resolve)
    req.on('close', resolve)
    req.on('error', () => resolve())
    req.resume()
  })
}

class LimitedFile implements FileSink {
  bytes = 0
  private readonly out: WriteStream
  constructor(readonly path: string, readonly limit: number) {
    mkdirSync(join(path, '..'), { recursive: true })
    this.out = createWriteStream(path, { mode: 0o600 })
  }
  async write(chunk: Buffer): Promise<void> {
    this.bytes += chunk.length
    if (this.bytes > this.limit) throw new MultipartError('quota_exceeded', `The package is larger than max_package_bytes (${this.limit} bytes).`, 413)
    if (!this.out.write(chunk)) await new Promise<void>((resolve, reject) => {
      this.out.once('drain', resolve)
      this.out.once('error', reject)
    })
  }
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.out.once('error', reject)
      this.out.end(resolve)
    })
  }
}

/** Streams the `package` part to `path`; returns the other fields. */
async function receivePackage(ctx: Ctx, tenant: TenantSettings, path: string): Promise<{ fields: Record<string, string>; file?: LimitedFile }> {
  const limit = tenant.limits.max_package_bytes
  const declared = Number(ctx.req.headers['content-length'] ?? NaN)
  // Multipart framing and form fields add a little; more than that over the limit is refused unread.
  if (Number.isFinite(declared) && declared > limit + 1024 * 1024) {
    throw new MultipartError('quota_exceeded', `The upload (${declared} bytes) is larger than max_package_bytes (${limit} bytes).`, 413)
  }
  const boundary = boundaryOf(ctx.req.headers['content-type'])
  let file: LimitedFile | undefined
  try {
    const fields = await parseMultipart(ctx.req, boundary, {
      onFile(name) {
        if ((name !== 'package' && name !== 'file') || file) return undefined
        file = new LimitedFile(path, limit)
        return file
      },
    })
    await file?.close()
    return { fields, file }
  } catch (error) {
    await file?.close().catch(() => {})
    rmSync(path, { force: true })
    throw error
  }
}

function parseConfig(text: string | undefined): InstallConfig {
  if (!text) return { env: {}, secrets: {} }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new MultipartError('invalid_arg', 'The `config` field is not valid JSON.')
  }
  const obj = (raw ?? {}) as Record<string, unknown>
  const strings = (value: unknown, what: string): Record<string, string> => {
    if (value === undefined || value === null) return {}
    if (typeof value !== 'object' || Array.isArray(value)) throw new MultipartError('invalid_arg', `config.${what} must be an object of strings.`)
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new MultipartError('invalid_arg', `config.${what}: "${k}" is not an environment variable name.`)
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new MultipartError('invalid_arg', `config.${what}.${k} must be a string.`)
      out[k] = String(v)
    }
    return out
  }
  return { env: strings(obj.env, 'env'), secrets: strings(obj.secrets, 'secrets'), ...(typeof obj.log_level === 'string' && { log_level: obj.log_level }) }
}

function problemOf(error: unknown): Problem {
  if (error instanceof StageFailure) return error.problem
  if (error instanceof MultipartError) return { code: error.code, status: error.status, reason: error.message }
  return { code: 'internal', status: 500, reason: (error as Error).message }
}

function openSse(ctx: Ctx): { write(event: SandboxEvent | { type: string; seq?: number; data: unknown }): void; end(): void; closed: Promise<void> } {
  ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-request-id': ctx.requestId })
  ctx.res.write(': pxp sandbox\n\n')
  const heartbeat = setInterval(() => ctx.res.write(': keep-alive\n\n'), 15_000)
  const closed = new Promise<void>((resolve) => ctx.res.on('close', () => {
    clearInterval(heartbeat)
    resolve()
  }))
  return {
    write(event) {
      ctx.res.write(`${event.seq !== undefined ? `id: ${event.seq}\n` : ''}event: ${event.type}\ndata: ${JSON.stringify(redactValue(event))}\n\n`)
    },
    end() {
      clearInterval(heartbeat)
      ctx.res.end()
    },
    closed,
  }
}

/** `<os>-<arch>` in Go's names: the bundles this sandbox can run. */
export const hostPlatform = () => `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`

const PLUGIN_ID = /^[a-z0-9][a-z0-9._-]*$/
const FINAL_EVENTS = new Set(['plugin.install.sandbox_completed', 'plugin.install.failed'])

export function createSandboxServer(settings: SandboxSettings): { sandbox: Sandbox; server: Server } {
  const sandbox = new Sandbox(settings)
  const server = createServer((req, res) => {
    const ctx: Ctx = { req, res, requestId: randomUUID(), url: new URL(req.url ?? '/', 'http://sandbox') }
    handle(ctx).catch((error: unknown) => {
      if (error instanceof ApiError) {
        if (error.status === 403) {
          // Refusals of an authenticated caller are audited in the caller's own tenant.
          const token = (ctx as Ctx & { token?: TokenEntry }).token
          if (token) sandbox.audit(token.tenant, 'access.denied', token.name, { method: req.method, path: ctx.url.pathname, error_code: error.errorCode })
        }
        void drain(req).then(() => sendError(ctx, error.status, error.errorCode, error.message, error.details))
        return
      }
      const p = problemOf(error)
      void drain(req).then(() => sendError(ctx, p.status ?? 500, p.code, p.reason, p.details))
    })
  })

  const auth = (ctx: Ctx): TokenEntry => {
    const token = authenticate(ctx.req, settings.tokens)
    ;(ctx as Ctx & { token?: TokenEntry }).token = token
    return token
  }

  async function handle(ctx: Ctx): Promise<void> {
    const { req, url } = ctx
    const path = url.pathname
    const method = req.method ?? 'GET'
    let m: RegExpExecArray | null

    if (path === '/healthz') return send(ctx, 200, { status: 'ok', core_version: settings.coreVersion, pxp_version: toolVersion, platform: hostPlatform() })
    // The web console (docs/console.md): static files; it uses the API below with the user's token.
    if (path === '/console' || path.startsWith('/console/')) return (await import('./console.js')).serveConsole(req, ctx.res, path)
    if ((m = /^\/_p\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path))) return proxy(ctx, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!), m[3])

    const token = auth(ctx)
    if (path === '/internal/plugins/packages/validate' && method === 'POST') return validateRoute(ctx, token)
    if (path === '/api/plugins/install/local' && method === 'POST') return installRoute(ctx, token)
    if ((m = /^\/api\/plugins\/installs\/([^/]+)(\/events)?$/.exec(path)) && method === 'GET') {
      requirePermission(token, 'tenant:sandbox:read', 'plugin:dev')
      const rec = sandbox.store.install(decodeURIComponent(m[1]!))
      if (!rec || rec.tenant !== token.tenant) throw new ApiError(404, 'not_found', `No install ${m[1]} in tenant ${token.tenant}.`)
      if (!m[2]) return send(ctx, 200, installView(rec))
      return installEvents(ctx, rec.id, rec.tenant)
    }
    if (path === '/api/events' && method === 'GET') {
      requirePermission(token, 'tenant:sandbox:read')
      return tenantEvents(ctx, token.tenant)
    }
    if (path === '/metrics' && method === 'GET') {
      requirePermission(token, 'tenant:sandbox:read')
      const metrics = computeMetrics(sandbox.store.installs().filter((r) => r.tenant === token.tenant))
      if (url.searchParams.get('format') === 'prometheus' || (req.headers.accept ?? '').includes('text/plain')) {
        ctx.res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        return void ctx.res.end(prometheusText(token.tenant, metrics))
      }
      return send(ctx, 200, { tenant_id: token.tenant, ...metrics })
    }
    if ((m = /^\/api\/tenants\/([^/]+)\/(plugins|audit)(?:\/([^/]+))?(?:\/(logs|rollback))?$/.exec(path))) {
      const tenant = decodeURIComponent(m[1]!)
      requireTenant(token, tenant)
      const pluginId = m[3] ? decodeURIComponent(m[3]) : undefined
      // Plugin ids become path segments (logs): nothing that could climb out of the tenant.
      if (pluginId !== undefined && !PLUGIN_ID.test(pluginId)) throw new ApiError(404, 'not_installed', `${pluginId} is not a plugin id.`)
      if (m[2] === 'audit' && !pluginId && method === 'GET') {
        requirePermission(token, 'tenant:sandbox:read')
        return auditRoute(ctx, tenant)
      }
      if (m[2] === 'plugins') {
        if (!pluginId && method === 'GET') {
          requirePermission(token, 'tenant:sandbox:read')
          return send(ctx, 200, { plugins: sandbox.store.plugins(tenant).map(pluginView) })
        }
        if (pluginId) {
          const record = sandbox.store.plugin(tenant, pluginId)
          if (method === 'GET' && !m[4]) {
            requirePermission(token, 'tenant:sandbox:read')
            if (!record) throw new ApiError(404, 'not_installed', `${pluginId} is not installed in tenant ${tenant}.`)
            return send(ctx, 200, pluginView(record))
          }
          if (method === 'GET' && m[4] === 'logs') {
            requirePermission(token, 'tenant:sandbox:read')
            return logsRoute(ctx, tenant, pluginId)
          }
          if (method === 'POST' && m[4] === 'rollback') {
            requirePermission(token, 'plugin:dev')
            if (!record) throw new ApiError(404, 'not_installed', `${pluginId} is not installed in tenant ${tenant}.`)
            await drain(req)
            return send(ctx, 200, pluginView(await sandbox.rollbackPlugin(tenant, pluginId, token.name)))
          }
          if (method === 'DELETE' && !m[4]) {
            requirePermission(token, 'plugin:dev')
            if (!(await sandbox.uninstall(tenant, pluginId, token.name))) throw new ApiError(404, 'not_installed', `${pluginId} is not installed in tenant ${tenant}.`)
            return send(ctx, 200, { uninstalled: pluginId })
          }
        }
      }
    }
    throw new ApiError(404, 'not_found', `No route ${method} ${path}.`)
  }

  function proxy(ctx: Ctx, tenant: string, pluginId: string, rest: string | undefined): void {
    if (!PLUGIN_ID.test(pluginId)) throw new ApiError(404, 'not_installed', `${pluginId} is not a plugin id.`)
    const record = sandbox.store.plugin(tenant, pluginId)
    if (!record) throw new ApiError(404, 'not_installed', `No plugin ${pluginId} in tenant ${tenant}.`)
    const prefix = `/_p/${encodeURIComponent(tenant)}/${encodeURIComponent(pluginId)}`
    if (rest === undefined) {
      ctx.res.writeHead(308, { location: `${prefix}/${ctx.url.search}` })
      return void ctx.res.end()
    }
    if (record.status !== 'running' || !record.port) throw new ApiError(503, 'plugin_not_running', `${pluginId} is ${record.status} in tenant ${tenant}.`, { status: record.status, last_exit: record.last_exit })
    proxyTo(record.port, rest + ctx.url.search, ctx.req, ctx.res, prefix)
  }

  const installView = (rec: ReturnType<Sandbox['store']['install']> & object) => ({
    install_id: rec.id,
    tenant_id: rec.tenant,
    trace_id: rec.trace_id,
    status: rec.status,
    stage: rec.stage,
    plugin_id: rec.plugin_id ?? null,
    version: rec.version ?? null,
    stages: rec.stages,
    created_at: rec.created_at,
    finished_at: rec.finished_at ?? null,
    duration_ms: rec.duration_ms ?? null,
    error_code: rec.error_code ?? null,
    failure_reason: rec.failure_reason ?? null,
    rolled_back: rec.rolled_back ?? null,
    entry_url: rec.entry_url ?? null,
    test_url: rec.test_url ?? null,
    logs_url: rec.logs_url ?? (rec.plugin_id ? sandbox.urls(rec.tenant, rec.plugin_id).logs_url : null),
    config: rec.config,
  })

  const pluginView = (p: NonNullable<ReturnType<Sandbox['store']['plugin']>>) => ({
    tenant_id: p.tenant,
    id: p.id,
    status: p.status,
    current_version: p.current_version,
    previous_version: p.previous_version ?? null,
    versions: Object.values(p.versions).map((v) => ({ version: v.version, installed_at: v.installed_at, install_id: v.install_id, config: v.config })),
    entry_url: p.entry_url ?? null,
    test_url: p.test_url ?? null,
    logs_url: sandbox.urls(p.tenant, p.id).logs_url,
    last_exit: p.last_exit ?? null,
  })

  async function installRoute(ctx: Ctx, token: TokenEntry): Promise<void> {
    requirePermission(token, 'plugin:dev')
    const tenant = sandbox.tenant(token.tenant)!
    if (sandbox.inflightCount(tenant.id) >= tenant.limits.max_concurrent_installs) {
      throw new ApiError(429, 'too_many_installs', `Tenant ${tenant.id} already runs ${tenant.limits.max_concurrent_installs} install(s) (max_concurrent_installs).`, { hint: 'Retry when the running installs have finished.' })
    }
    const rec = sandbox.beginInstall(tenant.id, token.name)
    let fields: Record<string, string>
    let file: LimitedFile | undefined
    let config: InstallConfig
    try {
      ;({ fields, file } = await receivePackage(ctx, tenant, sandbox.abs(rec.staging!)))
      if (!file) throw new MultipartError('invalid_arg', 'The multipart field `package` (the .pxp file) is missing.')
      if (fields.tenant_id && fields.tenant_id !== tenant.id) throw new StageFailure({ code: 'tenant_forbidden', status: 403, reason: `The token is not valid for tenant ${fields.tenant_id}.` })
      config = parseConfig(fields.config)
    } catch (error) {
      const problem = problemOf(error)
      await drain(ctx.req)
      const failed = await sandbox.receiveFailed(rec.id, problem)
      throw new ApiError(problem.status ?? 400, problem.code, problem.reason, { install_id: rec.id, stage: 'receive', rolled_back: failed.rolled_back ?? false, ...problem.details })
    }
    sandbox.received(rec.id, { bytes: file.bytes, config, force: fields.force === 'true' })
    send(ctx, 202, { install_id: rec.id, status: 'pending', trace_id: rec.trace_id, events_url: `${sandbox.baseUrl}/api/plugins/installs/${rec.id}/events` }, 'accepted')
  }

  async function validateRoute(ctx: Ctx, token: TokenEntry): Promise<void> {
    requirePermission(token, 'plugin:dev')
    const tenant = sandbox.tenant(token.tenant)!
    const tmp = join(sandbox.tenantDir(tenant.id), 'staging', `validate-${randomBytes(6).toString('hex')}`)
    const checks: Array<{ name: string; status: 'pass' | 'fail' | 'skipped'; reason: string; error_code?: string; details?: Record<string, unknown> }> = []
    const check = (name: string, problem: Problem | undefined, okReason: string) =>
      checks.push(problem ? { name, status: 'fail', reason: problem.reason, error_code: problem.code, ...(problem.details && { details: problem.details }) } : { name, status: 'pass', reason: okReason })
    try {
      let received: Awaited<ReturnType<typeof receivePackage>>
      try {
        received = await receivePackage(ctx, tenant, `${tmp}.pxp`)
        if (!received.file) throw new MultipartError('invalid_arg', 'The multipart field `package` (the .pxp file) is missing.')
      } catch (error) {
        const p = problemOf(error)
        if (p.code !== 'quota_exceeded') throw error
        await drain(ctx.req)
        check('receive', p, '')
        return send(ctx, 200, { valid: false, checks, blocking: checks.filter((c) => c.status === 'fail'), wizard: { questions: [], missing: [] } })
      }
      if (received.fields.tenant_id && received.fields.tenant_id !== tenant.id) throw new ApiError(403, 'tenant_forbidden', `The token is not valid for tenant ${received.fields.tenant_id}.`)
      const answers = received.fields.config ? parseConfig(received.fields.config) : undefined
      check('receive', undefined, `${received.file!.bytes} bytes within max_package_bytes (${tenant.limits.max_package_bytes})`)
      let v: Validated | undefined
      try {
        v = await validateBundle(`${tmp}.pxp`, tenant, settings, `${tmp}.d`)
        check('validate', undefined, v.report.signed ? `signed by ${v.report.signer?.subject}` : 'unsigned (allowed for this tenant)')
      } catch (error) {
        check('validate', problemOf(error), '')
      }
      if (v) {
        check('dependencies', dependencyProblem(v, tenant.id, settings, sandbox.store), `core ${settings.coreVersion} satisfies the plugin; requirements met`)
        check('quota', quotaProblem(v, tenant, sandbox.store), 'within the tenant limits')
        if (answers) check('configure', configureProblem(v, answers, tenant, settings), 'every required answer is given')
        else checks.push({ name: 'configure', status: 'skipped', reason: 'no answers sent; see wizard' })
      } else for (const name of ['dependencies', 'quota', 'configure']) checks.push({ name, status: 'skipped', reason: 'the bundle did not validate' })
      const questions = v ? questionsFor(v) : []
      sandbox.audit(tenant.id, 'package.validated', token.name, { plugin_id: v?.descriptor.id ?? null, version: v?.descriptor.version ?? null, valid: checks.every((c) => c.status !== 'fail'), blocking: checks.filter((c) => c.status === 'fail').map((c) => `${c.name}:${c.error_code}`) })
      send(ctx, 200, {
        valid: checks.every((c) => c.status !== 'fail'),
        plugin: v ? { id: v.descriptor.id, version: v.descriptor.version, signed: v.report.signed } : null,
        checks,
        blocking: checks.filter((c) => c.status === 'fail'),
        wizard: { questions, missing: missingAnswers(questions, answers ?? { env: {}, secrets: {} }) },
      })
    } finally {
      rmSync(`${tmp}.pxp`, { force: true })
      rmSync(`${tmp}.d`, { recursive: true, force: true })
    }
  }

  async function installEvents(ctx: Ctx, id: string, tenant: string): Promise<void> {
    const stream = openSse(ctx)
    const queue: SandboxEvent[] = []
    let live = false
    let done = false
    const push = (e: SandboxEvent) => {
      if (done || e.install_id !== id) return
      stream.write(e)
      if (FINAL_EVENTS.has(e.type)) {
        done = true
        stream.end()
      }
    }
    const unsubscribe = sandbox.events.subscribe(tenant, (e) => (live ? push(e) : queue.push(e)))
    const since = Number(ctx.req.headers['last-event-id'] ?? ctx.url.searchParams.get('since') ?? 0)
    const past = sandbox.events.list(tenant).filter((e) => e.install_id === id && e.seq > since)
    let last = since
    for (const e of past) {
      push(e)
      last = e.seq
    }
    for (const e of queue) if (e.seq > last) push(e)
    live = true
    if (!done) {
      const rec = sandbox.store.install(id)
      if (rec && (rec.status === 'running' || rec.status === 'failed') && past.some((e) => FINAL_EVENTS.has(e.type))) stream.end()
    }
    await stream.closed
    unsubscribe()
  }

  async function tenantEvents(ctx: Ctx, tenant: string): Promise<void> {
    const sinceParam = ctx.url.searchParams.get('since') ?? ctx.req.headers['last-event-id']
    const all = sandbox.events.list(tenant)
    const since = sinceParam === undefined ? (all.at(-1)?.seq ?? 0) : Number(sinceParam)
    if ((ctx.req.headers.accept ?? '').includes('application/json')) return send(ctx, 200, { events: all.filter((e) => e.seq > since) })
    const stream = openSse(ctx)
    const queue: SandboxEvent[] = []
    let live = false
    const unsubscribe = sandbox.events.subscribe(tenant, (e) => (live ? stream.write(e) : queue.push(e)))
    let last = since
    for (const e of all) if (e.seq > since) {
      stream.write(e)
      last = e.seq
    }
    for (const e of queue) if (e.seq > last) stream.write(e)
    live = true
    await stream.closed
    unsubscribe()
  }

  async function auditRoute(ctx: Ctx, tenant: string): Promise<void> {
    const file = sandbox.auditFile(tenant)
    const entries: unknown[] = []
    if (existsSync(file)) {
      for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) if (line) entries.push(JSON.parse(line))
    }
    const chain = existsSync(file) ? await verifyAuditLog(file) : { ok: true, lines: 0 }
    send(ctx, 200, { tenant_id: tenant, chain, entries })
  }

  async function logsRoute(ctx: Ctx, tenant: string, pluginId: string): Promise<void> {
    const record = sandbox.store.plugin(tenant, pluginId)
    const lastInstall = sandbox.store.installs().filter((r) => r.tenant === tenant && r.plugin_id === pluginId).sort((a, b) => a.created_at.localeCompare(b.created_at)).at(-1)
    const version = ctx.url.searchParams.get('version') ?? record?.current_version ?? lastInstall?.version
    if (!version || !/^[0-9A-Za-z.+-]+$/.test(version)) throw new ApiError(404, 'not_installed', `No logs for ${pluginId} in tenant ${tenant}.`)
    const file = sandbox.logFile(tenant, pluginId, version)
    const minLevel = levelRank(ctx.url.searchParams.get('level') ?? 'debug')
    const tail = Math.min(10_000, Number(ctx.url.searchParams.get('tail') ?? 500) || 500)
    const keep = (line: string) => {
      try {
        return levelRank((JSON.parse(line) as { level?: string }).level ?? 'info') >= minLevel
      } catch {
        return false
      }
    }
    const lines: string[] = []
    let offset = 0
    if (existsSync(file)) {
      for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
        offset += Buffer.byteLength(line) + 1
        if (line && keep(line)) {
          lines.push(line)
          if (lines.length > tail) lines.shift()
        }
      }
    }
    const follow = ctx.url.searchParams.get('follow') === '1' || (ctx.req.headers.accept ?? '').includes('text/event-stream')
    if (!follow) return send(ctx, 200, { tenant_id: tenant, plugin_id: pluginId, version, lines: lines.map((l) => JSON.parse(l)) })
    const stream = openSse(ctx)
    for (const l of lines) stream.write({ type: 'log', ...JSON.parse(l) })
    let reading = false
    let partial = ''
    const timer = setInterval(() => {
      if (reading || !existsSync(file)) return
      const size = statSync(file).size
      if (size <= offset) return
      reading = true
      const rs = createReadStream(file, { start: offset, end: size - 1, encoding: 'utf8' })
      offset = size
      rs.on('data', (chunk) => {
        const parts = (partial + String(chunk)).split('\n')
        partial = parts.pop() ?? ''
        for (const l of parts) if (l && keep(l)) stream.write({ type: 'log', ...JSON.parse(l) })
      })
      rs.on('close', () => (reading = false))
    }, 300)
    await stream.closed
    clearInterval(timer)
  }

  return { sandbox, server }
}

/** Starts the server, recovers state from a previous run, and resolves with its base URL. */
export async function startSandbox(settings: SandboxSettings): Promise<SandboxHandle & { recovered: { rolledBack: string[]; restarted: string[] } }> {
  const { sandbox, server } = createSandboxServer(settings)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(settings.port, settings.host, () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : settings.port
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
  sandbox.baseUrl = url
  const recovered = await sandbox.recover()
  let closing: Promise<void> | undefined
  return {
    url,
    sandbox,
    server,
    recovered,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeIdleConnections()
        await sandbox.waitIdle(5000)
        await sandbox.close()
        server.closeAllConnections()
        // Bounded: a connection the server no longer tracks must not hold up the shutdown.
        await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())])
      })()
      return closing
    },
  }
}
