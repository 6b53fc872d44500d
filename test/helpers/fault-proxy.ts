/**
 * An HTTP proxy on 127.0.0.1 between the uploader and s3rver that the test controls: it logs every
 * S3 operation (so a test can assert which parts were sent), verifies SigV4 signatures, and injects
 * faults chosen per request — connection resets, 500/503 answers, slow bodies, a connection dropped
 * mid-body, or a request that is never answered.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { Transform } from 'node:stream'
import { verifySigV4 } from './sigv4.js'

export type Fault =
  | { kind: 'reset' }
  | { kind: 'status'; status: number; code?: string }
  | { kind: 'slow'; bytesPerSecond: number }
  | { kind: 'drop-mid-body'; afterBytes: number }
  | { kind: 'hang' }
  /** Forward the request, let upstream act on it, then cut the connection instead of answering. */
  | { kind: 'drop-response' }

export interface ProxyRequest {
  /** 0-based across the proxy's life. */
  index: number
  method: string
  path: string
  operation: string
  partNumber?: number
  uploadId?: string
}

export interface ProxyLogEntry extends ProxyRequest {
  /** x-amz-checksum-sha256 and Content-MD5 as sent, to check per-part checksums. */
  checksumSha256?: string
  contentMd5?: string
  status?: number
  fault?: Fault['kind']
  bytesIn: number
}

export interface FaultProxy {
  url: string
  port: number
  log: ProxyLogEntry[]
  /** Decides a fault for each request; undefined = forward untouched. */
  rule: (request: ProxyRequest) => Fault | undefined
  /** Part numbers upstream answered 200 for. */
  acknowledgedParts(): number[]
  /** Part numbers whose PUT reached the proxy at all (acknowledged or not). */
  sentParts(): number[]
  waitFor(predicate: () => boolean, timeoutMs: number): Promise<void>
  close(): Promise<void>
}

export interface FaultProxyOptions {
  upstreamPort: number
  /** Access key id → secret; when set, requests with a bad signature get 403 like S3. */
  credentials?: Record<string, string>
}

export function operationOf(method: string, query: URLSearchParams): string {
  if (method === 'PUT' && query.has('partNumber')) return 'UploadPart'
  if (method === 'POST' && query.has('uploads')) return 'CreateMultipartUpload'
  if (method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload'
  if (method === 'GET' && query.has('uploadId')) return 'ListParts'
  if (method === 'DELETE' && query.has('uploadId')) return 'AbortMultipartUpload'
  if (method === 'PUT') return 'PutObject'
  if (method === 'HEAD') return 'HeadObject'
  if (method === 'GET') return 'GetObject'
  return method
}

function s3Error(res: ServerResponse, status: number, code: string, method: string): void {
  const body = method === 'HEAD' ? '' : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by the test proxy</Message><RequestId>proxy</RequestId></Error>`
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), connection: 'close' })
  res.end(body)
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const sockets = new Set<Socket>()
  const log: ProxyLogEntry[] = []
  let index = 0

  const proxy: FaultProxy = {
    url: '',
    port: 0,
    log,
    rule: () => undefined,
    acknowledgedParts: () => log.filter((e) => e.operation === 'UploadPart' && e.status === 200).map((e) => e.partNumber!),
    sentParts: () => log.filter((e) => e.operation === 'UploadPart').map((e) => e.partNumber!),
    async waitFor(predicate, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://proxy')
    const entry: ProxyLogEntry = {
      index: index++,
      method: req.method ?? 'GET',
      path: url.pathname,
      operation: operationOf(req.method ?? 'GET', url.searchParams),
      ...(url.searchParams.has('partNumber') ? { partNumber: Number(url.searchParams.get('partNumber')) } : {}),
      ...(url.searchParams.has('uploadId') ? { uploadId: url.searchParams.get('uploadId')! } : {}),
      ...(req.headers['x-amz-checksum-sha256'] ? { checksumSha256: String(req.headers['x-amz-checksum-sha256']) } : {}),
      ...(req.headers['content-md5'] ? { contentMd5: String(req.headers['content-md5']) } : {}),
      bytesIn: 0,
    }
    log.push(entry)
    req.on('data', (chunk: Buffer) => (entry.bytesIn += chunk.length))

    if (options.credentials) {
      const verdict = verifySigV4(req, options.credentials)
      if (!verdict.ok) {
        entry.status = 403
        req.resume()
        return s3Error(res, 403, verdict.code, entry.method)
      }
    }
    const fault = proxy.rule(entry)
    entry.fault = fault?.kind
    if (fault?.kind === 'reset') {
      req.socket.destroy()
      return
    }
    if (fault?.kind === 'hang') {
      req.pause()
      return
    }
    if (fault?.kind === 'status') {
      entry.status = fault.status
      req.resume()
      req.on('end', () => s3Error(res, fault.status, fault.code ?? (fault.status === 503 ? 'SlowDown' : 'InternalError'), entry.method))
      return
    }

    const upstream = request({ host: '127.0.0.1', port: options.upstreamPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
      entry.status = up.statusCode
      if (fault?.kind === 'drop-response') {
        up.resume()
        up.on('end', () => req.socket.destroy())
        return
      }
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    upstream.on('error', () => req.socket.destroy())
    let forwarded = 0
    const shaper = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        if (fault?.kind === 'drop-mid-body' && forwarded + chunk.length >= fault.afterBytes) {
          const head = chunk.subarray(0, Math.max(0, fault.afterBytes - forwarded))
          forwarded += head.length
          this.push(head)
          // Tear down both sides as a broken link would.
          setImmediate(() => {
            upstream.destroy()
            req.socket.destroy()
          })
          return callback()
        }
        forwarded += chunk.length
        if (fault?.kind === 'slow') setTimeout(() => callback(null, chunk), Math.ceil((chunk.length / fault.bytesPerSecond) * 1000))
        else callback(null, chunk)
      },
    })
    req.pipe(shaper).pipe(upstream)
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  proxy.port = typeof address === 'object' && address ? address.port : 0
  proxy.url = `http://127.0.0.1:${proxy.port}`
  return proxy
}
