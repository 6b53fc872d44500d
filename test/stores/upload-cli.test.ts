/** `pxp upload` as shipped: exit codes, --json, and no secret in any output. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../helpers/s3-server.js'
import { makeBundle } from '../helpers/store-fixtures.js'

let s3: S3Server
let proxy: FaultProxy
let work: string

beforeAll(async () => {
  s3 = await startS3Server()
  proxy = await startFaultProxy({ upstreamPort: s3.port, credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey } })
  work = await mkdtemp(join(tmpdir(), 'pxp-upload-cli-'))
})
afterAll(async () => {
  await proxy?.close()
  await s3?.close()
  await rm(work, { recursive: true, force: true })
})

describe('pxp upload', () => {
  it('fails with STORE_AUTH and exit 1 on a wrong secret, and the secret appears nowhere', async () => {
    const dir = join(work, 'auth')
    const fake = await makeBundle(join(dir, 'dist'), 6 * 1024 * 1024)
    await writeFile(join(dir, 'px-plugin.config.json'), JSON.stringify({ artifactStore: { type: 's3', bucket: s3.bucket, partSizeMB: 5 } }))
    const secret = 'not-the-secret-Hk29xLq7'
    const token = 'session-token-Pq81mZz0'
    const env = { PX_ARTIFACT_STORE_ENDPOINT: proxy.url, PX_ARTIFACT_STORE_ACCESS_KEY: 'S3RVER', PX_ARTIFACT_STORE_SECRET: secret, PX_ARTIFACT_STORE_SESSION_TOKEN: token }
    for (const json of [true, false]) {
      const run = await runCli(['upload', fake.bundle.path, '--cwd', dir, ...(json ? ['--json'] : [])], { env })
      expect(run.code).toBe(1)
      const output = run.stdout + run.stderr + readFileSync(join(dir, 'dist', 'dist.log'), 'utf8') + readFileSync(join(dir, 'dist', 'audit.log'), 'utf8')
      expect(output).not.toContain(secret)
      expect(output).not.toContain(token)
      if (json) {
        expect(run.json.ok).toBe(false)
        expect(run.json.error.code).toBe('STORE_AUTH')
        expect(run.json.error.message).toContain(s3.bucket)
        expect(run.json.error.message).toContain(`127.0.0.1:${proxy.port}`)
      } else {
        expect(run.stderr).toContain('STORE_AUTH')
      }
    }
  })

  it('uploads to a directory store and reports receipts as JSON', async () => {
    const dir = join(work, 'fs')
    const fake = await makeBundle(join(dir, 'dist'), 200_000)
    await writeFile(join(dir, 'px-plugin.config.json'), JSON.stringify({ artifactStore: { type: 'fs', dir: './nas' } }))
    const run = await runCli(['upload', fake.bundle.path, '--cwd', dir, '--json'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.json).toMatchObject({ ok: true, sha256: fake.bundle.sha256, size: 200_000 })
    expect(run.json.uploads.map((u: { fileName: string }) => u.fileName)).toEqual([fake.bundle.fileName, 'integrity.txt', 'manifest.signature', 'report.json'])
    expect(run.stderr).not.toMatch(/ETA|sent in/)
  })

  it('is a usage error (exit 2) without a bundle, and a config error without a store', async () => {
    const missing = await runCli(['upload', '--json'], { cwd: work })
    expect(missing.code).toBe(2)
    const dir = join(work, 'nostore')
    const fake = await makeBundle(join(dir, 'dist'), 1000)
    await writeFile(join(dir, 'px-plugin.config.json'), '{}')
    const run = await runCli(['upload', fake.bundle.path, '--cwd', dir, '--json'])
    expect(run.code).toBe(2)
    expect(run.json.error.code).toBe('UPLOAD_NO_STORE')
  })
})
