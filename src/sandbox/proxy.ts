/** `/_p/<tenant>/<id>/<rest>` → `http://127.0.0.1:<plugin port>/<rest>`, streaming both ways. */
import { request, type IncomingMessage, type ServerResponse } from 'node:http'

const HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization'])

export function proxyTo(port: number, path: string, req: IncomingMessage, res: ServerResponse, prefix: string): void {
  const headers: Record<string, string | string[]> = {}
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v
  headers['x-forwarded-prefix'] = prefix
  headers['x-forwarded-host'] = req.headers.host ?? ''
  const upstream = request({ host: '127.0.0.1', port, path, method: req.method, headers, timeout: 30_000 }, (up) => {
    const out: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v
    res.writeHead(up.statusCode ?? 502, out)
    up.pipe(res)
  })
  upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')))
  upstream.on('error', (error) => {
    if (res.headersSent) return void res.destroy()
    res.writeHead(502, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ code: 502, message: `The plugin did not answer: ${error.message}`, error_code: 'bad_gateway' }))
  })
  req.pipe(upstream)
}
