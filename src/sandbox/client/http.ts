/** Small HTTP helpers for the sandbox client: JSON calls, streamed multipart uploads, SSE. */
import { createReadStream, statSync } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { randomBytes } from 'node:crypto'
import { PxpError } from '../../errors.js'

export interface Envelope<T = any> {
  code: number
  message: string
  data: T
  error?: string
  error_code?: string
  details?: Record<string, unknown>
  request_id?: string
}

export class ApiCallError extends PxpError {
  constructor(readonly status: number, readonly envelope: Envelope | undefined, what: string) {
    const code = envelope?.error_code ?? envelope?.error ?? `HTTP_${status}`
    super(status === 401 || status === 403 ? 'SANDBOX_AUTH' : 'SANDBOX_API', `${what} failed: HTTP ${status} ${code}: ${envelope?.message ?? 'no message'}`, {
      details: { status, error_code: code, ...(envelope?.details && { details: envelope.details }) },
      exitCode: 1,
      hint: status === 401 ? 'Check the token (--token, PXP_SANDBOX_TOKEN or sandbox.tokenEnv).' : status === 403 ? 'Use a token of this tenant with the plugin:dev permission.' : undefined,
    })
  }
  get errorCode(): string {
    return this.envelope?.error_code ?? this.envelope?.error ?? `HTTP_${this.status}`
  }
}

const requestFn = (url: URL) => (url.protocol === 'https:' ? httpsRequest : httpRequest)

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    res.setEncoding('utf8')
    res.on('data', (d: string) => (text += d))
    res.on('end', () => resolve(text))
    res.on('error', reject)
  })
}

function parseEnvelope(text: string): Envelope | undefined {
  try {
    return JSON.parse(text) as Envelope
  } catch {
    return undefined
  }
}

export async function callJson<T = any>(method: string, url: string, headers: Record<string, string>, body?: unknown, what = `${method} ${new URL(url).pathname}`, timeoutMs = 30_000): Promise<Envelope<T>> {
  const u = new URL(url)
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = requestFn(u)(u, {
      method,
      headers: { accept: 'application/json', ...headers, ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }) },
      timeout: timeoutMs,
    }, (res) => {
      readBody(res).then((text) => {
        const env = parseEnvelope(text)
        if ((res.statusCode ?? 500) >= 400 || !env) reject(new ApiCallError(res.statusCode ?? 500, env, what))
        else resolve(env as Envelope<T>)
      }, reject)
    })
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)))
    req.on('error', (error) => reject(new PxpError('SANDBOX_UNREACHABLE', `${what}: cannot reach ${u.origin}: ${error.message}`, { cause: error, hint: 'Is the sandbox running? Check --sandbox / sandbox.url.' })))
    req.end(payload)
  })
}

export interface MultipartUpload {
  fields: Record<string, string>
  file: { field: string; path: string; filename: string }
  onProgress?: (bytes: number) => void
}

/** POSTs a multipart form with the file streamed from disk (Content-Length known up front). */
export async function postMultipart<T = any>(url: string, headers: Record<string, string>, form: MultipartUpload, what: string): Promise<Envelope<T>> {
  const boundary = `pxp-${randomBytes(12).toString('hex')}`
  const parts: Buffer[] = []
  for (const [name, value] of Object.entries(form.fields)) {
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`))
  }
  const head = Buffer.concat([...parts, Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${form.file.field}"; filename="${form.file.filename}"\r\ncontent-type: application/gzip\r\n\r\n`)])
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  const size = statSync(form.file.path).size
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    let settled = false
    const req = requestFn(u)(u, {
      method: 'POST',
      headers: { accept: 'application/json', ...headers, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + size + tail.length) },
    }, (res) => {
      readBody(res).then((text) => {
        settled = true
        const env = parseEnvelope(text)
        if ((res.statusCode ?? 500) >= 400 || !env) reject(new ApiCallError(res.statusCode ?? 500, env, what))
        else resolve(env as Envelope<T>)
      }, reject)
    })
    req.on('error', (error) => {
      if (!settled) reject(new PxpError('SANDBOX_UNREACHABLE', `${what}: ${error.message}`, { cause: error, hint: 'Is the sandbox running? Check --sandbox / sandbox.url.' }))
    })
    req.write(head)
    const file = createReadStream(form.file.path)
    file.on('data', (chunk) => form.onProgress?.(chunk.length))
    file.on('error', (error) => req.destroy(error))
    file.on('end', () => req.end(tail))
    file.pipe(req, { end: false })
  })
}

export interface SseEvent { id?: string; event: string; data: any }

/** Reads an SSE stream until `stop(event)` is true, the server ends it, or `timeoutMs` passes. */
export function followSse(url: string, headers: Record<string, string>, onEvent: (e: SseEvent) => boolean, timeoutMs: number): Promise<'stopped' | 'ended' | 'timeout'> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    let done = false
    const finish = (how: 'stopped' | 'ended' | 'timeout') => {
      if (done) return
      done = true
      clearTimeout(timer)
      req.destroy()
      resolve(how)
    }
    const timer = setTimeout(() => finish('timeout'), timeoutMs)
    const req = requestFn(u)(u, { method: 'GET', headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      if ((res.statusCode ?? 500) >= 400) {
        readBody(res).then((text) => {
          done = true
          clearTimeout(timer)
          reject(new ApiCallError(res.statusCode ?? 500, parseEnvelope(text), `GET ${u.pathname}`))
        }, reject)
        return
      }
      res.setEncoding('utf8')
      let buffer = ''
      res.on('data', (chunk: string) => {
        buffer += chunk
        let idx: number
        while ((idx = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, idx)
          buffer = buffer.slice(idx + 2)
          const event: SseEvent = { event: 'message', data: '' }
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue
            const [key, ...rest] = line.split(':')
            const value = rest.join(':').replace(/^ /, '')
            if (key === 'event') event.event = value
            else if (key === 'id') event.id = value
            else if (key === 'data') data.push(value)
          }
          if (data.length === 0) continue
          try {
            event.data = JSON.parse(data.join('\n'))
          } catch {
            event.data = data.join('\n')
          }
          if (onEvent(event)) return finish('stopped')
        }
      })
      res.on('end', () => finish('ended'))
      res.on('error', () => finish('ended'))
    })
    req.on('error', (error) => {
      if (done) return
      done = true
      clearTimeout(timer)
      reject(new PxpError('SANDBOX_UNREACHABLE', `Cannot follow ${u.pathname}: ${error.message}`, { cause: error }))
    })
    req.end()
  })
}
