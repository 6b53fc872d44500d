/**
 * Server-side AWS SigV4 header verification, as S3 does it: rebuild the canonical request from what
 * arrived on the wire, derive the signing key from the secret we know for the access key, compare.
 * s3rver skips this step, so the fault proxy runs it to make "wrong secret" a real failure.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

export type SigV4Verdict = { ok: true } | { ok: false; code: 'InvalidAccessKeyId' | 'SignatureDoesNotMatch' | 'AccessDenied' }

const rfc3986 = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

export function verifySigV4(req: IncomingMessage, secrets: Record<string, string>): SigV4Verdict {
  const auth = req.headers.authorization
  const match = auth && /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth)
  if (!match) return { ok: false, code: 'AccessDenied' }
  const [, accessKeyId, date, region, service, signedHeaders, signature] = match as unknown as string[]
  const secret = secrets[accessKeyId!]
  if (secret === undefined) return { ok: false, code: 'InvalidAccessKeyId' }
  const rawUrl = req.url ?? '/'
  const q = rawUrl.indexOf('?')
  const path = q >= 0 ? rawUrl.slice(0, q) : rawUrl
  const query = q >= 0 ? rawUrl.slice(q + 1) : ''
  const canonicalQuery = query
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf('=')
      const key = decodeURIComponent(eq >= 0 ? pair.slice(0, eq) : pair)
      const value = decodeURIComponent(eq >= 0 ? pair.slice(eq + 1) : '')
      return [rfc3986(key), rfc3986(value)] as const
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  const headerNames = signedHeaders!.split(';')
  const canonicalHeaders = headerNames.map((name) => {
    const value = req.headers[name]
    const text = Array.isArray(value) ? value.join(',') : value ?? ''
    return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`
  }).join('')
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD')
  const canonicalRequest = [req.method, path, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join('\n')
  const amzDate = String(req.headers['x-amz-date'] ?? '')
  const scope = `${date}/${region}/${service}/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n')
  let key = createHmac('sha256', `AWS4${secret}`).update(date!).digest()
  for (const part of [region!, service!, 'aws4_request']) key = createHmac('sha256', key).update(part).digest()
  const expected = createHmac('sha256', key).update(stringToSign).digest()
  const given = Buffer.from(signature!, 'hex')
  return given.length === expected.length && timingSafeEqual(given, expected) ? { ok: true } : { ok: false, code: 'SignatureDoesNotMatch' }
}
