/** uploader-oss: the S3 engine with OSS defaults. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import uploaderOss from '../../plugins/uploader-oss/index.js'
import { objectUrl, resolveS3Settings } from '../../src/transfer/s3/settings.js'
import type { EmittedArtifact, S3StoreConfig, UploadReceipt } from '../../src/plugin-api.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../helpers/s3-server.js'
import { makeBundle, pluginContext } from '../helpers/store-fixtures.js'
import { directClient, setStoreEnv, storedSha256 } from './s3-helpers.js'

let s3: S3Server
let proxy: FaultProxy
let work: string
let restore: () => void

beforeAll(async () => {
  s3 = await startS3Server('oss-bundles')
  proxy = await startFaultProxy({ upstreamPort: s3.port, credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey } })
  work = await mkdtemp(join(tmpdir(), 'pxp-oss-'))
  restore = setStoreEnv({ PX_ARTIFACT_STORE_ACCESS_KEY: 'S3RVER', PX_ARTIFACT_STORE_SECRET: 'S3RVER', PX_ARTIFACT_STORE_ENDPOINT: proxy.url })
})
afterAll(async () => {
  restore?.()
  await proxy?.close()
  await s3?.close()
  await rm(work, { recursive: true, force: true })
})

describe('uploader-oss', () => {
  it('defaults to the regional OSS endpoint, virtual-hosted addressing and Content-MD5 checks', () => {
    const settings = resolveS3Settings({ type: 'oss', bucket: 'bundles', region: 'cn-hangzhou' }, {})
    expect(settings).toMatchObject({ endpoint: 'https://oss-cn-hangzhou.aliyuncs.com', endpointHost: 'oss-cn-hangzhou.aliyuncs.com', forcePathStyle: false, checksumAlgorithm: 'none', storeId: 'oss-bundles' })
    expect(objectUrl(settings, 'a/b c.pxp')).toBe('https://bundles.oss-cn-hangzhou.aliyuncs.com/a/b%20c.pxp')
    expect(() => resolveS3Settings({ type: 'oss', bucket: 'bundles' }, {})).toThrow(/region/)
  })

  it('uploads multipart through an S3-compatible endpoint from PX_ARTIFACT_STORE_ENDPOINT', async () => {
    const fake = await makeBundle(join(work, 'out'), 12 * 1024 * 1024)
    const entry: S3StoreConfig = { type: 'oss', bucket: s3.bucket, region: 'cn-hangzhou', forcePathStyle: true, partSizeMB: 5 }
    const ctx = pluginContext({ artifactStore: [{ type: 'fs', dir: join(work, 'ignored') }, entry] }, join(work, 'cache'))
    const hook = uploaderOss().upload as (this: typeof ctx, a: EmittedArtifact[]) => Promise<UploadReceipt[]>
    const receipts = await hook.call(ctx, fake.artifacts)
    expect(receipts).toHaveLength(4)
    expect(receipts[0]!.store).toBe(`oss-${s3.bucket}`)
    const parts = proxy.log.filter((e) => e.operation === 'UploadPart')
    expect(parts).toHaveLength(3)
    expect(parts.every((p) => p.contentMd5 && !p.checksumSha256)).toBe(true)
    const client = directClient(s3.endpoint)
    expect(await storedSha256(client, s3.bucket, receipts[0]!.key!)).toBe(fake.bundle.sha256)
    client.destroy()
  })
})
