/**
 * uploader-s3 against s3rver through the fault-injecting proxy: multipart, checksums, idempotence,
 * retries, auth failures and unreachable endpoints.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import uploaderS3 from '../../plugins/uploader-s3/index.js'
import { PxpError } from '../../src/errors.js'
import { redactText } from '../../src/redact.js'
import type { EmittedArtifact, S3StoreConfig, UploadReceipt } from '../../src/plugin-api.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../helpers/s3-server.js'
import { makeBundle, pluginContext } from '../helpers/store-fixtures.js'
import { directClient, setStoreEnv, storedMetadata, storedSha256 } from './s3-helpers.js'

const MiB = 1024 * 1024
let s3: S3Server
let proxy: FaultProxy
let work: string
let restoreEnv: () => void

beforeAll(async () => {
  s3 = await startS3Server()
  proxy = await startFaultProxy({ upstreamPort: s3.port, credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey } })
  work = await mkdtemp(join(tmpdir(), 'pxp-s3-test-'))
  restoreEnv = setStoreEnv({ PX_ARTIFACT_STORE_ACCESS_KEY: 'S3RVER', PX_ARTIFACT_STORE_SECRET: 'S3RVER', PX_ARTIFACT_STORE_ENDPOINT: undefined, PX_ARTIFACT_STORE_SESSION_TOKEN: undefined })
})

afterAll(async () => {
  restoreEnv?.()
  await proxy?.close()
  await s3?.close()
  await rm(work, { recursive: true, force: true })
})

beforeEach(() => {
  proxy.rule = () => undefined
  proxy.log.length = 0
})

function store(overrides: Partial<S3StoreConfig> = {}): S3StoreConfig {
  return {
    type: 's3', bucket: s3.bucket, endpoint: proxy.url, partSizeMB: 5, concurrency: 3,
    retries: 4, retryBaseDelayMs: 20, retryMaxDelayMs: 200, connectTimeoutMs: 1_000, idleTimeoutMs: 5_000, ...overrides,
  }
}

async function upload(entry: S3StoreConfig, artifacts: EmittedArtifact[], cacheDir: string) {
  const ctx = pluginContext({ artifactStore: entry }, cacheDir)
  const plugin = uploaderS3()
  const hook = plugin.upload as (this: typeof ctx, a: typeof artifacts) => Promise<UploadReceipt[]>
  const receipts = await hook.call(ctx, artifacts)
  return { receipts, ctx }
}

describe('uploader-s3 multipart', () => {
  it('uploads bundle and sidecars, multipart with a SHA-256 per part, and the object hashes to the bundle', async () => {
    const fake = await makeBundle(join(work, 'ok'), 23 * MiB)
    const { receipts, ctx } = await upload(store(), fake.artifacts, join(work, 'ok-cache'))

    expect(receipts.map((r) => r.fileName)).toEqual([fake.bundle.fileName, 'integrity.txt', 'manifest.signature', 'report.json'])
    const bundleReceipt = receipts[0]!
    expect(bundleReceipt.key).toBe(`acme-tools/1.2.0-rc.1/linux-amd64/${fake.bundle.fileName}`)
    expect(bundleReceipt.url).toBe(`${proxy.url}/${s3.bucket}/${bundleReceipt.key}`)
    expect(bundleReceipt.sha256).toBe(fake.bundle.sha256)
    expect(bundleReceipt.etag).toMatch(/^"?[0-9a-f]{32}"?$/)
    expect(bundleReceipt.retries).toBe(0)

    const parts = proxy.log.filter((e) => e.operation === 'UploadPart')
    expect(parts.map((p) => p.partNumber).sort((a, b) => a! - b!)).toEqual([1, 2, 3, 4, 5])
    expect(parts.every((p) => p.checksumSha256 && p.contentMd5)).toBe(true)
    expect(proxy.log.filter((e) => e.operation === 'CompleteMultipartUpload')).toHaveLength(1)
    // Sidecars are small: one PutObject each, with the checksum too.
    const puts = proxy.log.filter((e) => e.operation === 'PutObject')
    expect(puts).toHaveLength(3)
    expect(puts.every((p) => p.checksumSha256)).toBe(true)

    const client = directClient(s3.endpoint)
    expect(await storedSha256(client, s3.bucket, bundleReceipt.key!)).toBe(fake.bundle.sha256)
    expect(await storedMetadata(client, s3.bucket, bundleReceipt.key!)).toEqual({ size: 23 * MiB, sha256: fake.bundle.sha256 })
    for (const receipt of receipts.slice(1)) expect(await storedSha256(client, s3.bucket, receipt.key!)).toBe(receipt.sha256)
    expect(ctx.metrics.filter((m) => m.name === 'offline.dist.upload.retry_count')).toHaveLength(4)
    client.destroy()
  })

  it('does not upload an object again when the store already has it with the same sha256', async () => {
    const fake = await makeBundle(join(work, 'again'), 11 * MiB)
    await upload(store(), fake.artifacts, join(work, 'again-cache'))
    proxy.log.length = 0
    const { receipts } = await upload(store(), fake.artifacts, join(work, 'again-cache'))
    expect(receipts.every((r) => r.skipped === true)).toBe(true)
    expect(proxy.log.map((e) => e.operation)).toEqual(['HeadObject', 'HeadObject', 'HeadObject', 'HeadObject'])
  })

  it('recovers from resets, 500/503 answers, a slow part and a connection dropped mid-part', async () => {
    const fake = await makeBundle(join(work, 'faults'), 26 * MiB)
    const seen = new Map<string, number>()
    proxy.rule = (r) => {
      const id = `${r.operation}:${r.partNumber ?? ''}`
      const n = (seen.get(id) ?? 0) + 1
      seen.set(id, n)
      if (r.operation === 'HeadObject' && n === 1 && r.path.endsWith('.pxp')) return { kind: 'status', status: 503 }
      if (r.operation === 'CreateMultipartUpload' && n === 1) return { kind: 'reset' }
      if (r.operation === 'UploadPart' && r.partNumber === 1 && n === 1) return { kind: 'slow', bytesPerSecond: 20 * MiB }
      if (r.operation === 'UploadPart' && r.partNumber === 2 && n === 1) return { kind: 'reset' }
      if (r.operation === 'UploadPart' && r.partNumber === 3 && n <= 2) return { kind: 'status', status: n === 1 ? 503 : 500 }
      if (r.operation === 'UploadPart' && r.partNumber === 4 && n === 1) return { kind: 'drop-mid-body', afterBytes: 2 * MiB }
      if (r.operation === 'CompleteMultipartUpload' && n === 1) return { kind: 'status', status: 500 }
      return undefined
    }
    const { receipts, ctx } = await upload(store(), fake.artifacts, join(work, 'faults-cache'))
    const bundleReceipt = receipts[0]!
    // HEAD 503, Create reset, part 2 reset, part 3 ×2, part 4 dropped, Complete 500.
    expect(bundleReceipt.retries).toBe(7)
    expect(ctx.metrics.find((m) => m.tags?.file === fake.bundle.fileName)).toMatchObject({ name: 'offline.dist.upload.retry_count', value: 7 })
    expect(proxy.log.some((e) => e.fault === 'drop-mid-body' && e.bytesIn >= 2 * MiB && e.bytesIn < 5 * MiB)).toBe(true)
    const client = directClient(s3.endpoint)
    expect(await storedSha256(client, s3.bucket, bundleReceipt.key!)).toBe(fake.bundle.sha256)
    client.destroy()
  })

  it('treats a Complete whose answer was lost as done once the store shows the object', async () => {
    const fake = await makeBundle(join(work, 'lost-answer'), 11 * MiB)
    let completes = 0
    proxy.rule = (r) => (r.operation === 'CompleteMultipartUpload' && ++completes === 1 ? { kind: 'drop-response' } : undefined)
    const { receipts } = await upload(store({ retries: 1 }), fake.artifacts, join(work, 'lost-answer-cache'))
    // The retry hits an upload that no longer exists (s3rver: 500; S3: NoSuchUpload).
    expect(proxy.log.filter((e) => e.operation === 'CompleteMultipartUpload').length).toBe(2)
    const client = directClient(s3.endpoint)
    expect(await storedSha256(client, s3.bucket, receipts[0]!.key!)).toBe(fake.bundle.sha256)
    client.destroy()
  })

  it('gives up after the bounded retries with STORE_UPLOAD_FAILED and keeps the parts for --resume', async () => {
    const fake = await makeBundle(join(work, 'exhaust'), 11 * MiB)
    proxy.rule = (r) => (r.operation === 'UploadPart' && r.partNumber === 2 ? { kind: 'status', status: 500 } : undefined)
    const error = await upload(store({ retries: 2 }), fake.artifacts, join(work, 'exhaust-cache')).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PxpError)
    expect((error as PxpError).code).toBe('STORE_UPLOAD_FAILED')
    expect((error as PxpError).hint).toContain('--resume')
    expect(proxy.log.filter((e) => e.operation === 'UploadPart' && e.partNumber === 2)).toHaveLength(3)
  })

  it('reports a wrong secret as STORE_AUTH, naming store, bucket and host but never the secret', async () => {
    const secret = 'wrong-secret-Zq8vN3xP'
    const restore = setStoreEnv({ PX_ARTIFACT_STORE_SECRET: secret })
    try {
      const fake = await makeBundle(join(work, 'auth'), 6 * MiB)
      const error = await upload(store(), fake.artifacts, join(work, 'auth-cache')).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PxpError)
      const e = error as PxpError
      expect(e.code).toBe('STORE_AUTH')
      expect(e.exitCode).toBe(1)
      expect(e.message).toContain('SignatureDoesNotMatch')
      expect(e.message).toContain(s3.bucket)
      expect(e.message).toContain(`127.0.0.1:${proxy.port}`)
      const everything = JSON.stringify({ message: e.message, hint: e.hint, json: e.toJSON(), formatted: e.format() })
      expect(everything).not.toContain(secret)
      expect(redactText(`x ${secret} y`)).toBe('x *** y')
      // Not retried: a wrong secret fails the same way every time.
      expect(proxy.log.filter((l) => l.status === 403 && l.operation !== 'HeadObject')).toHaveLength(1)
    } finally {
      restore()
    }
  })

  it('fails in bounded time with STORE_UNREACHABLE when nothing listens at the endpoint', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer()
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number }
        server.close(() => resolve(port))
      })
    })
    const fake = await makeBundle(join(work, 'refused'), 1 * MiB)
    const started = Date.now()
    const error = await upload(store({ endpoint: `http://127.0.0.1:${closedPort}`, retries: 3 }), fake.artifacts, join(work, 'refused-cache')).catch((e: unknown) => e)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect((error as PxpError).code).toBe('STORE_UNREACHABLE')
    expect((error as PxpError).message).toContain(`127.0.0.1:${closedPort}`)
    expect((error as PxpError).message).toContain('4 attempts')
  })

  it('fails in bounded time with STORE_UNREACHABLE when the endpoint accepts but never answers', async () => {
    proxy.rule = () => ({ kind: 'hang' })
    const fake = await makeBundle(join(work, 'hang'), 1 * MiB)
    const started = Date.now()
    const error = await upload(store({ idleTimeoutMs: 400, retries: 2 }), fake.artifacts, join(work, 'hang-cache')).catch((e: unknown) => e)
    const elapsed = Date.now() - started
    expect((error as PxpError).code).toBe('STORE_UNREACHABLE')
    expect(elapsed).toBeGreaterThanOrEqual(3 * 400)
    expect(elapsed).toBeLessThan(6_000)
    expect(proxy.log).toHaveLength(3)
  })
})
