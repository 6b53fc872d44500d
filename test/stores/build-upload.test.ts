/** `pxp build` with stores configured: the real host runs the uploaders after emit, receipts land in report.json. */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { BUNDLE, BUNDLE_DIR, copyPlayground, sha256File } from '../helpers/fixtures.js'
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../helpers/s3-server.js'
import { directClient, storedSha256 } from './s3-helpers.js'

let s3: S3Server
let proxy: FaultProxy

beforeAll(async () => {
  s3 = await startS3Server()
  proxy = await startFaultProxy({ upstreamPort: s3.port, credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey } })
})
afterAll(async () => {
  await proxy?.close()
  await s3?.close()
})

describe('pxp build with artifact stores', () => {
  it('uploads bundle and sidecars to every store and records the receipts in report.json', async () => {
    const root = copyPlayground()
    writeFileSync(join(root, 'px-plugin.config.json'), JSON.stringify({
      artifactStore: [{ type: 's3', bucket: s3.bucket, prefix: 'offline' }, { type: 'fs', dir: './nas' }],
    }))
    const env = { PX_ARTIFACT_STORE_ENDPOINT: proxy.url, PX_ARTIFACT_STORE_ACCESS_KEY: 'S3RVER', PX_ARTIFACT_STORE_SECRET: 'S3RVER' }
    const run = await runCli(['build', '--no-install', '--os', 'linux', '--arch', 'amd64', '--json', '--cwd', root], { env })
    expect(run.code, run.stderr).toBe(0)
    const out = join(root, 'dist')
    const bundle = BUNDLE(out)
    const sha = sha256File(bundle)
    const uploads = run.json.targets[0].uploads as Array<{ store: string; fileName: string; key: string; sha256: string }>
    const s3Receipts = uploads.filter((u) => u.store === `s3-${s3.bucket}`)
    const fsReceipts = uploads.filter((u) => u.store === 'fs-nas')
    expect(s3Receipts.map((u) => u.fileName).sort()).toEqual(fsReceipts.map((u) => u.fileName).sort())
    expect(s3Receipts.map((u) => u.fileName)).toContain('integrity.txt')
    const bundleReceipt = s3Receipts.find((u) => u.fileName.endsWith('.pxp'))!
    expect(bundleReceipt.key).toBe(`offline/com.powerx.plugins.hello/1.2.0/linux-amd64/${bundleReceipt.fileName}`)
    expect(bundleReceipt.sha256).toBe(sha)
    const client = directClient(s3.endpoint)
    expect(await storedSha256(client, s3.bucket, bundleReceipt.key)).toBe(sha)
    client.destroy()
    expect(sha256File(join(root, 'nas', 'com.powerx.plugins.hello', '1.2.0', 'linux-amd64', bundleReceipt.fileName))).toBe(sha)
    const report = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8'))
    expect(JSON.stringify(report)).toContain(bundleReceipt.key)
    expect(JSON.stringify(report)).not.toContain('S3RVER')
  })
})
