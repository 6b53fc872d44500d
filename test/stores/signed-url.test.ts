/** uploader-signed-url: PUT to signed URLs, with retries, and the signature never in any output. */
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import uploaderSignedUrl from '../../plugins/uploader-signed-url/index.js'
import { PxpError } from '../../src/errors.js'
import { redactText } from '../../src/redact.js'
import type { EmittedArtifact, SignedUrlStoreConfig, UploadReceipt } from '../../src/plugin-api.js'
import { makeBundle, pluginContext } from '../helpers/store-fixtures.js'

const SIGNATURE = 'c0ffee1234567890deadbeefc0ffee1234567890deadbeefc0ffee1234567890'
let server: Server
let base: string
let work: string
const stored = new Map<string, string>()
let requests: Array<{ path: string; status: number }> = []
let faults: Array<'reset' | 503 | undefined> = []

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pxp-signed-url-'))
  // A stand-in for a presigned-URL endpoint: checks the signature, hashes the body as it streams.
  server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x')
    const fault = faults.shift()
    if (fault === 'reset') return req.socket.destroy()
    const reply = (status: number, code?: string, headers: Record<string, string> = {}) => {
      requests.push({ path: url.pathname, status })
      res.writeHead(status, { 'content-type': 'application/xml', connection: 'close', ...headers })
      res.end(code ? `<Error><Code>${code}</Code></Error>` : '')
    }
    if (req.method !== 'PUT') return reply(405, 'MethodNotAllowed')
    const hash = createHash('sha256')
    req.on('data', (c) => hash.update(c))
    req.on('end', () => {
      if (fault === 503) return reply(503, 'SlowDown')
      if (url.searchParams.get('X-Amz-Signature') !== SIGNATURE) return reply(403, 'SignatureDoesNotMatch')
      const digest = hash.digest('hex')
      stored.set(decodeURIComponent(url.pathname), digest)
      reply(200, undefined, { etag: `"${digest.slice(0, 32)}"` })
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})
afterAll(async () => {
  await new Promise((r) => server.close(r))
  await rm(work, { recursive: true, force: true })
})
beforeEach(() => {
  requests = []
  faults = []
  stored.clear()
})

async function upload(entry: SignedUrlStoreConfig, artifacts: EmittedArtifact[]) {
  const ctx = pluginContext({ artifactStore: entry }, join(work, 'cache'))
  const hook = uploaderSignedUrl().upload as (this: typeof ctx, a: EmittedArtifact[]) => Promise<UploadReceipt[]>
  return { receipts: await hook.call(ctx, artifacts), ctx }
}

describe('uploader-signed-url', () => {
  it('PUTs bundle and sidecars through a {file} URL from the environment, retrying a 503 and a reset', async () => {
    const fake = await makeBundle(join(work, 'a'), 2 * 1024 * 1024)
    process.env.PXP_TEST_UPLOAD_URL = `${base}/slot/{file}?X-Amz-Expires=900&X-Amz-Signature=${SIGNATURE}`
    faults = [503, 'reset']
    const { receipts, ctx } = await upload({ type: 'signed-url', urlEnv: 'PXP_TEST_UPLOAD_URL', retries: 3 } as SignedUrlStoreConfig, fake.artifacts)
    expect(receipts).toHaveLength(4)
    for (const r of receipts) {
      expect(stored.get(`/slot/${r.fileName}`)).toBe(r.sha256)
      expect(r.url).toBe(`${base}/slot/${encodeURIComponent(r.fileName!)}`)
    }
    expect(receipts[0]!.retries).toBe(2)
    expect(receipts[0]!.etag).toBeDefined()
    const everything = JSON.stringify({ receipts, lines: ctx.lines, audits: ctx.audits, metrics: ctx.metrics })
    expect(everything).not.toContain(SIGNATURE)
    expect(redactText(process.env.PXP_TEST_UPLOAD_URL)).not.toContain(SIGNATURE)
    delete process.env.PXP_TEST_UPLOAD_URL
  })

  it('uploads the bundle to a single URL and warns about sidecars that have no URL', async () => {
    const fake = await makeBundle(join(work, 'b'), 4096)
    const { receipts, ctx } = await upload({ type: 'signed-url', url: `${base}/one.pxp?X-Amz-Signature=${SIGNATURE}`, urls: { 'integrity.txt': `${base}/integrity?X-Amz-Signature=${SIGNATURE}` } } as SignedUrlStoreConfig, fake.artifacts)
    expect(receipts.map((r) => r.fileName)).toEqual([fake.bundle.fileName, 'integrity.txt'])
    expect(ctx.warnings.map((w) => (typeof w === 'string' ? w : w.code))).toEqual(['STORE_SIDECAR_SKIPPED', 'STORE_SIDECAR_SKIPPED'])
  })

  it('reports a refused signature as STORE_AUTH without the URL query in the message', async () => {
    const fake = await makeBundle(join(work, 'c'), 4096)
    const badSig = 'badbadbadbad0000111122223333'
    const error = await upload({ type: 'signed-url', url: `${base}/x.pxp?X-Amz-Signature=${badSig}` } as SignedUrlStoreConfig, [fake.bundle]).catch((e: unknown) => e)
    expect((error as PxpError).code).toBe('STORE_AUTH')
    expect((error as PxpError).hint).toMatch(/expired/)
    const text = JSON.stringify((error as PxpError).toJSON()) + (error as PxpError).format()
    expect(text).not.toContain(badSig)
    expect(text).toContain(`${base}/x.pxp`)
    expect(requests).toHaveLength(1)
  })
})
