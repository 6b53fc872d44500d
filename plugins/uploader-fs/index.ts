/**
 * uploader-fs: a local or NAS directory. Each file is copied to a temporary name beside its final
 * one, hashed while copying (what lands is what was built), fsynced, then renamed into place and
 * the directory fsynced — so a reader never sees a half-written bundle, even across a crash or a
 * dropped NAS mount. Layout follows the key template, by default `<dir>/<id>/<version>/<os>-<arch>/`.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  PxpError, artifactKeys, createProgress, definePlugin, fileSystemHint, sha256File, storeEntriesOfType, uploadOrder, uploadRunOptions, withRetry,
  type EmittedArtifact, type FsStoreConfig, type ProgressReporter, type ResolvedConfig, type UploadReceipt,
} from '../../src/plugin-api.js'

/** Errors a NAS throws while it recovers; anything else (ENOSPC, EACCES) fails the same way again. */
const TRANSIENT_FS_CODES = new Set(['EAGAIN', 'EBUSY', 'ESTALE', 'EIO', 'ETIMEDOUT', 'ECONNRESET', 'EINTR'])
const isTransient = (error: unknown) => TRANSIENT_FS_CODES.has((error as { code?: string })?.code ?? '')

export default definePlugin(() => ({
  name: 'uploader-fs',
  apply: (config: ResolvedConfig) => storeEntriesOfType(config, 'fs').length > 0,
  async upload(artifacts) {
    const run = uploadRunOptions(this.config)
    const receipts: UploadReceipt[] = []
    for (const entry of storeEntriesOfType<FsStoreConfig>(this.config, 'fs')) {
      if (typeof entry.dir !== 'string' || entry.dir.length === 0) {
        this.error({ code: 'STORE_CONFIG', message: 'The fs artifact store needs a dir.', hint: 'Set artifactStore.dir to a local or NAS directory.', exitCode: 2 })
      }
      const root = resolve(this.config.root, entry.dir)
      const storeId = typeof entry.name === 'string' ? entry.name : `fs-${basename(root)}`
      const ordered = uploadOrder(artifacts)
      const keys = artifactKeys(ordered, typeof entry.key === 'string' ? entry.key : undefined, typeof entry.prefix === 'string' ? entry.prefix : undefined, this.target)
      const progress = createProgress({ label: `upload ${storeId}`, total: ordered.reduce((s, a) => s + a.size, 0), mode: run.progress })
      let outcome: 'done' | 'failed' = 'failed'
      try {
        for (const artifact of ordered) {
          const key = keys.get(artifact)!
          const destination = join(root, ...key.split('/'))
          const started = Date.now()
          if (await sameContent(destination, artifact)) {
            progress.skip(artifact.size)
            this.logger.info(`${artifact.fileName}: already in ${storeId} with the same sha256, not copying again`)
            receipts.push(receipt(storeId, destination, key, artifact, Date.now() - started, 0, true))
            continue
          }
          let retries = 0
          try {
            await withRetry(() => copyAtomically(artifact, destination, progress, this.signal), {
              signal: this.signal, retries: 3, baseDelayMs: 200, maxDelayMs: 2_000, attemptTimeoutMs: 0,
              isRetryable: isTransient, onRetry: ({ error }) => {
                retries++
                this.logger.warn(`${artifact.fileName}: copy to ${storeId} failed (${(error as { code?: string }).code}), retrying`)
              },
            })
          } catch (error) {
            const root = (error as { lastError?: unknown }).lastError ?? error
            if (root instanceof PxpError) throw root
            const code = (root as { code?: string }).code ?? 'Error'
            this.error({
              code: 'STORE_UPLOAD_FAILED',
              message: `Copying ${artifact.fileName} to ${storeId} (${dirname(destination)}) failed: ${code}.`,
              hint: fileSystemHint(code) ?? 'Check that the directory (or NAS mount) is available and writable.',
            })
          }
          this.metric('offline.dist.upload.retry_count', retries, { store: storeId, file: artifact.fileName })
          this.audit('upload', { store: storeId, key, sha256: artifact.sha256, size: artifact.size, skipped: false })
          receipts.push(receipt(storeId, destination, key, artifact, Date.now() - started, retries, false))
        }
        outcome = 'done'
      } finally {
        progress.finish(outcome)
      }
    }
    return receipts
  },
}))

function receipt(store: string, destination: string, key: string, artifact: EmittedArtifact, durationMs: number, retries: number, skipped: boolean): UploadReceipt {
  return { store, url: pathToFileURL(destination).href, key, sha256: artifact.sha256, size: artifact.size, durationMs, retries, fileName: artifact.fileName, ...(skipped ? { skipped } : {}) }
}

async function sameContent(path: string, artifact: EmittedArtifact): Promise<boolean> {
  try {
    const info = await stat(path)
    if (!info.isFile() || info.size !== artifact.size) return false
  } catch {
    return false
  }
  return (await sha256File(path)) === artifact.sha256
}

async function copyAtomically(artifact: EmittedArtifact, destination: string, progress: ProgressReporter, signal: AbortSignal): Promise<void> {
  const dir = dirname(destination)
  await mkdir(dir, { recursive: true })
  const temporary = join(dir, `.${basename(destination)}.${process.pid}.${randomBytes(4).toString('hex')}.partial`)
  const out = await open(temporary, 'wx', 0o644)
  let sent = 0
  try {
    const hash = createHash('sha256')
    for await (const chunk of createReadStream(artifact.path, { highWaterMark: 1 << 20, signal }) as AsyncIterable<Buffer>) {
      hash.update(chunk)
      await out.write(chunk)
      sent += chunk.length
      progress.advance(chunk.length)
    }
    const digest = hash.digest('hex')
    if (digest !== artifact.sha256) {
      throw new PxpError('STORE_INTEGRITY', `${artifact.fileName} no longer matches its recorded sha256 ${artifact.sha256}.`, { file: artifact.path, hint: 'The file changed after it was built; build it again.' })
    }
    await out.sync()
    await out.close()
    await rename(temporary, destination)
    await syncDirectory(dir)
  } catch (error) {
    await out.close().catch(() => undefined)
    await rm(temporary, { force: true })
    // A retry re-sends the whole file; keep the progress total honest.
    progress.advance(-sent)
    throw error
  }
}

/** Makes the rename durable. Not every platform can open a directory for fsync; that is not an error. */
async function syncDirectory(dir: string): Promise<void> {
  let handle
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch {
    // Windows and some network file systems refuse fsync on a directory.
  } finally {
    await handle?.close()
  }
}
