/**
 * Network probes for `pxp doctor`: bounded, read-only, and never echoing a URL's secret parts.
 */
import { connect } from 'node:net'

export type ProbeOutcome = { ok: true; status?: number } | { ok: false; reason: string }

/** `https://host:port/path` without user info or query: safe for a terminal or a CI log. */
export function safeUrl(href: string, keepPath = true): string {
  try {
    const url = new URL(href)
    return keepPath ? `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}` : url.origin
  } catch {
    return '<not a URL>'
  }
}

export function failureReason(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timed out'
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    if (cause?.code) return cause.code
    if (cause?.message) return cause.message
    const code = (error as { code?: string }).code
    return code ?? error.message
  }
  return String(error)
}

/** One HTTP request; any HTTP answer (even 4xx/5xx) proves the service is reachable. */
export async function httpProbe(url: string, timeoutMs: number, init: RequestInit = {}): Promise<ProbeOutcome> {
  try {
    // Reachability only: user info (which fetch refuses anyway) is dropped, never sent.
    const target = new URL(url)
    target.username = ''
    target.password = ''
    const response = await fetch(target, { method: 'GET', redirect: 'manual', ...init, signal: AbortSignal.timeout(timeoutMs) })
    await response.arrayBuffer().catch(() => undefined)
    return { ok: true, status: response.status }
  } catch (error) {
    return { ok: false, reason: failureReason(error) }
  }
}

/** A TCP connection to the URL's host and port, closed at once (no request is sent). */
export function tcpProbe(href: string, timeoutMs: number): Promise<ProbeOutcome> {
  let url: URL
  try {
    url = new URL(href)
  } catch {
    return Promise.resolve({ ok: false, reason: 'not a URL' })
  }
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
  const host = url.hostname.replace(/^\[|\]$/g, '')
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (outcome: ProbeOutcome) => {
      socket.removeAllListeners()
      socket.on('error', () => undefined)
      socket.destroy()
      resolve(outcome)
    }
    socket.setTimeout(timeoutMs, () => done({ ok: false, reason: 'timed out' }))
    socket.once('connect', () => done({ ok: true }))
    socket.once('error', (error: NodeJS.ErrnoException) => done({ ok: false, reason: error.code ?? error.message }))
  })
}
