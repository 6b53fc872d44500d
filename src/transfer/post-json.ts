/**
 * One JSON POST for fire-and-forget notifications (telemetry, alert webhooks): a single attempt
 * bounded by a timeout, the response body drained so the socket is released, and a short reason
 * for logs when it fails.
 */
import { toolName, toolVersion } from '../version.js'

export async function postJson(url: string, body: unknown, options: { timeoutMs: number; headers?: Record<string, string> }): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': `${toolName}/${toolVersion}`, ...options.headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(options.timeoutMs),
  })
  await response.arrayBuffer().catch(() => undefined)
  if (!response.ok) throw new Error(`HTTP ${response.status}`)
}

/** Why a request failed, in a few words: `timed out`, `ECONNREFUSED`, `HTTP 503`… */
export function failureReason(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timed out'
    const cause = (error as { cause?: { code?: string } }).cause
    return cause?.code ?? (cause as { message?: string } | undefined)?.message ?? error.message
  }
  return String(error)
}
