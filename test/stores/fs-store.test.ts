/** uploader-fs: atomic, verified copies into a local or NAS directory. */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import uploaderFs from '../../plugins/uploader-fs/index.js'
import { PxpError } from '../../src/errors.js'
import type { EmittedArtifact, FsStoreConfig, UploadReceipt } from '../../src/plugin-api.js'
import { makeBundle, pluginContext, sha256Of } from '../helpers/store-fixtures.js'

const MiB = 1024 * 1024
let work: string

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pxp-fs-store-'))
})
afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

async function upload(entry: FsStoreConfig, artifacts: EmittedArtifact[]) {
  const ctx = pluginContext({ artifactStore: entry }, join(work, 'cache'))
  const hook = uploaderFs().upload as (this: typeof ctx, a: EmittedArtifact[]) => Promise<UploadReceipt[]>
  return { receipts: await hook.call(ctx, artifacts), ctx }
}

async function allFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name))
}

describe('uploader-fs', () => {
  it('copies the bundle and sidecars into <dir>/<id>/<version>/<os>-<arch>/ with matching hashes and nothing partial left', async () => {
    const fake = await makeBundle(join(work, 'out1'), 3 * MiB)
    const nas = join(work, 'nas1')
    const { receipts, ctx } = await upload({ type: 'fs', dir: nas }, fake.artifacts)
    expect(receipts).toHaveLength(4)
    for (const receipt of receipts) {
      const path = join(nas, 'acme-tools', '1.2.0-rc.1', 'linux-amd64', receipt.fileName!)
      expect(receipt.url).toBe(pathToFileURL(path).href)
      expect(await sha256Of(path)).toBe(receipt.sha256)
      expect(receipt.skipped).toBeUndefined()
    }
    expect((await allFiles(nas)).filter((f) => f.endsWith('.partial'))).toEqual([])
    expect(ctx.audits.filter((a) => a.action === 'upload')).toHaveLength(4)
  })

  it('skips files already there with the same sha256, and honours prefix and key template', async () => {
    const fake = await makeBundle(join(work, 'out2'), 1 * MiB)
    const nas = join(work, 'nas2')
    const entry: FsStoreConfig = { type: 'fs', dir: nas, prefix: 'releases', key: '{id}/{version}/{file}' }
    await upload(entry, fake.artifacts)
    const { receipts } = await upload(entry, fake.artifacts)
    expect(receipts.every((r) => r.skipped)).toBe(true)
    expect(receipts[0]!.key).toBe(`releases/acme-tools/1.2.0-rc.1/${fake.bundle.fileName}`)
  })

  it('refuses a bundle that changed since it was hashed and leaves nothing at the final path', async () => {
    const fake = await makeBundle(join(work, 'out3'), 1 * MiB)
    await writeFile(fake.bundle.path, 'tampered')
    const nas = join(work, 'nas3')
    const error = await upload({ type: 'fs', dir: nas }, [{ ...fake.bundle, size: 8 }]).catch((e: unknown) => e)
    expect((error as PxpError).code).toBe('STORE_INTEGRITY')
    expect(await allFiles(nas)).toEqual([])
  })

  it('names the directory and the system error when the target is not writable', async () => {
    const fake = await makeBundle(join(work, 'out4'), 1024)
    const notADir = join(work, 'plain-file')
    await writeFile(notADir, 'x')
    const error = await upload({ type: 'fs', dir: notADir }, fake.artifacts).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PxpError)
    expect((error as PxpError).code).toBe('STORE_UPLOAD_FAILED')
    expect((error as PxpError).message).toMatch(/ENOTDIR|EEXIST/)
    expect(existsSync(join(notADir, 'acme-tools'))).toBe(false)
  })
})
