/**
 * Streams a file to a URL with one HTTP PUT (signed URLs: S3/OSS presigned, GCS, Azure SAS, a
 * Marketplace upload slot). The URL's query string is a credential: it is registered for redaction
 * by the caller and never appears in our messages, which name only origin and path.
 */
import { createReadStream } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'

export interface HttpPutOptions {
  url: string
  path: string
  size: number
  headers?: Record<string, string>
  /** Socket idle timeout (no bytes either way for this long). */
  idleTimeoutMs?: number
  signal?: AbortSignal
  onBytes?: (bytes: number) => void
}

export interface HttpPutResult {
  status: number
  etag?: string
  versionId?: string
}

/** An HTTP answer that was not 2xx; `status` drives retry decisions. */
export class HttpStatusError extends Error {
  constructor(readonly status: number, readonly statusCode: number, message: string, readonly code?: string) {
    super(message)
    this.name = 'HttpStatusError'
  }
}

/** origin + path, for messages and receipts. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return '<invalid URL>'
  }
}

export function httpPutFile(options: HttpPutOptions): Promise<HttpPutResult> {
  return new Promise((resolve, reject) => {
    const url = new URL(options.url)
    const request = url.protocol === 'https:' ? httpsRequest : url.protocol === 'http:' ? httpRequest : undefined
    if (!request) return reject(new Error(`unsupported URL scheme ${url.protocol}`))
    let settled = false
    const finish = (error: Error | undefined, result?: HttpPutResult) => {
      if (settled) return
      settled = true
      if (error) reject(error)
      else resolve(result!)
    }
    const req = request(url, {
      method: 'PUT',
      headers: { 'content-length': String(options.size), ...options.headers },
      signal: options.signal,
    }, (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      let kept = 0
      res.on('data', (chunk: Buffer) => {
        // Keep a little of an error body for its code; never the whole thing.
        if (kept < 4096) {
          chunks.push(chunk)
          kept += chunk.length
        }
      })
      res.on('error', (error) => finish(error))
      res.on('end', () => {
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) {
          const etag = header(res, 'etag')
          const versionId = header(res, 'x-amz-version-id') ?? header(res, 'x-oss-version-id')
          return finish(undefined, { status, ...(etag ? { etag } : {}), ...(versionId ? { versionId } : {}) })
        }
        const code = /<Code>([^<]{1,64})<\/Code>/.exec(Buffer.concat(chunks).toString('utf8'))?.[1]
        finish(new HttpStatusError(status, status, `HTTP ${status}${code ? ` ${code}` : ''}`, code))
      })
    })
    req.setTimeout(options.idleTimeoutMs ?? 60_000, () => {
      req.destroy(Object.assign(new Error('socket idle timeout'), { code: 'ETIMEDOUT' }))
    })
    req.on('error', (error) => finish(error))
    const body = createReadStream(options.path)
    body.on('data', (chunk) => options.onBytes?.(chunk.length))
    body.on('error', (error) => {
      req.destroy(error)
      finish(error)
    })
    body.pipe(req)
  })
}

function header(res: IncomingMessage, name: string): string | undefined {
  const value = res.headers[name]
  return Array.isArray(value) ? value[0] : value
}
