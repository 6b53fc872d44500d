/**
 * Events: appended (fsync) to `tenants/<t>/events.log`, pushed to SSE subscribers of that tenant,
 * and POSTed to the configured webhooks (global ones get every tenant's events, a tenant's own only
 * its events) with retries. Secrets are redacted before anything is written or sent.
 */
import { existsSync, readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { redactValue } from '../redact.js'
import { appendLineSync } from './fsutil.js'
import type { SandboxEvent } from './types.js'

type Listener = (event: SandboxEvent) => void

export class EventHub {
  private readonly logs = new Map<string, SandboxEvent[]>()
  private readonly listeners = new Set<{ tenant: string; fn: Listener }>()
  private readonly pending = new Set<Promise<void>>()

  constructor(
    private readonly dataDir: string,
    private readonly webhooksFor: (tenant: string) => string[],
    private readonly onWebhookFailure: (url: string, event: SandboxEvent, reason: string) => void = () => {},
  ) {}

  private file(tenant: string): string {
    return join(this.dataDir, 'tenants', tenant, 'events.log')
  }

  /** The tenant's events, loaded lazily from its log. */
  list(tenant: string): SandboxEvent[] {
    let events = this.logs.get(tenant)
    if (!events) {
      events = []
      const file = this.file(tenant)
      if (existsSync(file)) {
        for (const line of readFileSync(file, 'utf8').split('\n')) {
          if (!line) continue
          try {
            events.push(JSON.parse(line) as SandboxEvent)
          } catch {
            // A torn last line after a crash.
          }
        }
      }
      this.logs.set(tenant, events)
    }
    return events
  }

  emit(tenant: string, type: string, fields: Omit<SandboxEvent, 'seq' | 'type' | 'tenant_id' | 'timestamp'>): SandboxEvent {
    const events = this.list(tenant)
    const event: SandboxEvent = redactValue({
      seq: (events.at(-1)?.seq ?? 0) + 1,
      type,
      tenant_id: tenant,
      timestamp: new Date().toISOString(),
      ...fields,
    })
    appendLineSync(this.file(tenant), JSON.stringify(event))
    events.push(event)
    for (const l of this.listeners) if (l.tenant === tenant) l.fn(event)
    for (const url of this.webhooksFor(tenant)) this.track(this.deliver(url, event))
    return event
  }

  subscribe(tenant: string, fn: Listener): () => void {
    const entry = { tenant, fn }
    this.listeners.add(entry)
    return () => this.listeners.delete(entry)
  }

  private track(p: Promise<void>): void {
    this.pending.add(p)
    void p.finally(() => this.pending.delete(p))
  }

  /** Waits (bounded) for webhook deliveries in flight, for a graceful shutdown. */
  async drain(timeoutMs = 3000): Promise<void> {
    await Promise.race([Promise.allSettled([...this.pending]), new Promise((r) => setTimeout(r, timeoutMs).unref())])
  }

  private async deliver(url: string, event: SandboxEvent): Promise<void> {
    const body = JSON.stringify(event)
    let reason = ''
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)))
      try {
        const status = await post(url, body, { 'x-pxp-event': event.type, 'x-pxp-delivery': `${event.tenant_id}-${event.seq}` })
        if (status >= 200 && status < 300) return
        reason = `HTTP ${status}`
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) break
      } catch (error) {
        reason = (error as Error).message
      }
    }
    this.onWebhookFailure(url, event, reason)
  }
}

function post(url: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      timeout: 2000,
    }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('timeout', () => req.destroy(new Error('timed out after 2s')))
    req.on('error', reject)
    req.end(body)
  })
}
