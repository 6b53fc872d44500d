/**
 * Bearer tokens: each bound to one tenant and a set of permissions. Missing or unknown token → 401;
 * a permission the token lacks → 403 `forbidden`; a tenant in the URL that is not the token's →
 * 403 `tenant_forbidden` (the caller named the tenant, so nothing leaks); a resource addressed by
 * an opaque id (an install id) of another tenant → 404 `not_found`, exactly like an unknown id.
 */
import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { tokenDigest, type TokenEntry } from './config.js'

export class ApiError extends Error {
  constructor(readonly status: number, readonly errorCode: string, message: string, readonly details?: Record<string, unknown>) {
    super(message)
  }
}

export function authenticate(req: IncomingMessage, tokens: TokenEntry[]): TokenEntry {
  const header = req.headers.authorization ?? ''
  const m = /^Bearer\s+(\S+)$/i.exec(header)
  if (!m) throw new ApiError(401, 'unauthorized', 'An Authorization: Bearer token is required.')
  const digest = tokenDigest(m[1]!)
  let found: TokenEntry | undefined
  for (const t of tokens) if (timingSafeEqual(t.digest, digest)) found = t
  if (!found) throw new ApiError(401, 'unauthorized', 'The bearer token is not valid for this sandbox.')
  return found
}

export function requirePermission(token: TokenEntry, ...anyOf: string[]): void {
  if (!anyOf.some((p) => token.permissions.has(p))) throw new ApiError(403, 'forbidden', `The token lacks the permission ${anyOf.join(' or ')}.`, { required: anyOf })
}

export function requireTenant(token: TokenEntry, tenant: string): void {
  if (token.tenant !== tenant) throw new ApiError(403, 'tenant_forbidden', `The token is not valid for tenant ${tenant}.`)
}
