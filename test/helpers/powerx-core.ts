/**
 * A loopback stand-in for PowerX Core's plugin admin API (plugin-descriptor.md): routes under
 * `{apiPrefix}/admin/plugins`, admin bearer token, tenant context, the `{ code, message, data,
 * request_id, timestamp }` envelope and the documented error codes. It records every call so tests
 * can assert exactly what the client did.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { gunzipSync } from 'node:zlib'
import { boundaryOf, parseMultipart } from '../../src/sandbox/multipart.js'

export interface CoreCall { method: string; path: string; body?: any; fields?: Record<string, string>; filename?: string; tenant?: string }

export interface FakeCore {
  url: string
  calls: CoreCall[]
  plugins: Map<string, { versions: Set<string>; current?: string; state: string; enabled: boolean; error?: string }>
  /** Versions whose process fails after switch_version. */
  failing: Set<string>
  close(): Promise<void>
}

export async function startFakeCore(options: { token: string; prefix?: string }): Promise<FakeCore> {
  const prefix = options.prefix ?? '/api/v1'
  const calls: CoreCall[] = []
  const plugins: FakeCore['plugins'] = new Map()
  const failing = new Set<string>()
  const send = (res: ServerResponse, status: number, data: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ code: status, message: 'ok', data, request_id: randomUUID(), timestamp: new Date().toISOString() }))
  }
  const fail = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ code: status, message, error: code, error_code: code, details: {}, request_id: randomUUID(), timestamp: new Date().toISOString() }))
  }
  const json = async (req: IncomingMessage) => {
    let text = ''
    for await (const chunk of req) text += chunk
    return text ? JSON.parse(text) : {}
  }

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://core')
    const tenant = req.headers['x-tenant-id'] as string | undefined
    const call: CoreCall = { method: req.method ?? 'GET', path: url.pathname, tenant }
    calls.push(call)
    if (req.headers.authorization !== `Bearer ${options.token}`) return fail(res, 401, 'unauthorized', 'admin token required')
    if (!tenant) return fail(res, 400, 'invalid_arg', 'tenant context required')
    const base = `${prefix}/admin/plugins`
    if (!url.pathname.startsWith(base + '/')) return fail(res, 404, 'not_found', 'no route')
    const rest = url.pathname.slice(base.length + 1)
    try {
      if (rest === 'install/local' && req.method === 'POST') {
        const chunks: Buffer[] = []
        let filename = ''
        call.fields = await parseMultipart(req, boundaryOf(req.headers['content-type']), {
          onFile(field, name) {
            if (field !== 'file') return undefined
            filename = name
            return { write: async (c: Buffer) => void chunks.push(Buffer.from(c)) }
          },
        })
        call.filename = filename
        if (!/\.(tar\.gz|tgz)$/.test(filename)) return fail(res, 400, 'invalid_arg', 'file must be a .tar.gz')
        const tar = gunzipSync(Buffer.concat(chunks))
        if (tar.subarray(0, 100).indexOf('plugin.yaml') < 0 && tar.indexOf('plugin.yaml\0') < 0) return fail(res, 400, 'invalid_manifest', 'plugin.yaml missing at the archive root')
        const m = /^(.+)-(\d+\.\d+\.\d+[^-]*)\.tar\.gz$/.exec(filename)
        if (!m) return fail(res, 400, 'invalid_arg', 'cannot read id/version')
        const [, id, version] = m as unknown as [string, string, string]
        const p = plugins.get(id) ?? { versions: new Set<string>(), state: 'installed', enabled: false }
        if (p.versions.has(version) && call.fields.force !== 'true') return fail(res, 409, 'already_exists', `${id} ${version} already installed`)
        p.versions.add(version)
        plugins.set(id, p)
        return send(res, 200, { installed: { id, version, state: call.fields.enable === 'true' ? 'running' : 'installed' } })
      }
      const m = /^([^/]+)\/(switch_version|status|uninstall|logs)$/.exec(rest)
      if (!m) return fail(res, 404, 'not_found', 'no route')
      const id = decodeURIComponent(m[1]!)
      const p = plugins.get(id)
      if (m[2] === 'status' && req.method === 'GET') {
        if (!p || !p.current) return fail(res, 404, 'not_installed', `${id} is not installed`)
        return send(res, 200, { id, version: p.current, state: p.state, enabled: p.enabled, ...(p.error && { error: p.error, error_code: 'process_start_failed' }) })
      }
      if (m[2] === 'switch_version' && req.method === 'POST') {
        call.body = await json(req)
        if (!p || !p.versions.has(call.body.version)) return fail(res, 404, 'not_installed', `${id} ${call.body.version} is not installed`)
        p.current = call.body.version
        p.enabled = call.body.enable === true
        p.state = failing.has(call.body.version) ? 'failed' : 'running'
        p.error = failing.has(call.body.version) ? 'process exited with code 3' : undefined
        return send(res, 200, { id, version: p.current, state: p.state })
      }
      if (m[2] === 'uninstall' && req.method === 'POST') {
        call.body = await json(req)
        if (!p || !p.versions.has(call.body.version)) return fail(res, 404, 'not_installed', `${id} ${call.body.version} is not installed`)
        p.versions.delete(call.body.version)
        if (p.current === call.body.version) p.current = undefined
        if (p.versions.size === 0) plugins.delete(id)
        return send(res, 200, { uninstalled: { id, version: call.body.version, purge: call.body.purge } })
      }
      return fail(res, 404, 'not_found', 'no route')
    } catch (error) {
      return fail(res, 500, 'internal', (error as Error).message)
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as { port: number }).port
  return { url: `http://127.0.0.1:${port}${prefix}`, calls, plugins, failing, close: () => new Promise((r) => server.close(() => r())) }
}
