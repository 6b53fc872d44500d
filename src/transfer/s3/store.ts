/**
 * One S3-compatible store entry → receipts. This is the whole of uploader-s3 and uploader-oss; the
 * plugins only pick their entries out of `artifactStore`.
 */
import type { S3StoreConfig } from '../../config/types.js'
import type { EmittedArtifact, PluginContext, UploadReceipt } from '../../plugin-api.js'
import { artifactKeys, uploadOrder } from '../artifacts.js'
import { uploadRunOptions } from '../options.js'
import { createProgress } from '../progress.js'
import { failureName } from '../store-errors.js'
import { createS3Client } from './client.js'
import { objectUrl, resolveS3Settings } from './settings.js'
import { uploadFileToS3 } from './upload.js'

export const RETRY_METRIC = 'offline.dist.upload.retry_count'

export type StoreContext = Pick<PluginContext, 'config' | 'logger' | 'signal' | 'cacheDir' | 'redact' | 'metric' | 'audit' | 'report'> & Partial<Pick<PluginContext, 'target'>>

export async function uploadToS3Store(ctx: StoreContext, entry: S3StoreConfig, artifacts: readonly EmittedArtifact[], env: NodeJS.ProcessEnv = process.env): Promise<UploadReceipt[]> {
  const settings = resolveS3Settings(entry, env)
  ctx.redact(settings.credentials?.secretAccessKey)
  ctx.redact(settings.credentials?.sessionToken)
  ctx.redact(settings.credentials?.accessKeyId)
  const run = uploadRunOptions(ctx.config, env)
  const ordered = uploadOrder(artifacts)
  const keys = artifactKeys(ordered, settings.keyTemplate, settings.prefix, ctx.target)
  const client = await createS3Client(settings)
  const progress = createProgress({ label: `upload ${settings.storeId}`, total: ordered.reduce((sum, a) => sum + a.size, 0), mode: run.progress })
  const receipts: UploadReceipt[] = []
  let outcome: 'done' | 'failed' = 'failed'
  try {
    for (const artifact of ordered) {
      const key = keys.get(artifact)!
      const result = await uploadFileToS3({
        client, settings, key, resume: run.resume, cacheDir: ctx.cacheDir, signal: ctx.signal, progress,
        file: { path: artifact.path, size: artifact.size, sha256: artifact.sha256, fileName: artifact.fileName },
        logger: { info: (m) => ctx.logger.info(m), warn: (m) => ctx.logger.warn(m), debug: (m) => ctx.logger.debug(m) },
        onRetry: (info) => ctx.logger.warn(`${artifact.fileName}: ${info.operation} failed (${failureName(info.error)}), retry in ${info.delayMs} ms`),
      })
      ctx.metric(RETRY_METRIC, result.retries, { store: settings.storeId, file: artifact.fileName })
      const receipt: UploadReceipt = {
        store: settings.storeId, url: objectUrl(settings, key), key, sha256: artifact.sha256, size: artifact.size,
        durationMs: result.durationMs, retries: result.retries, fileName: artifact.fileName,
        ...(result.etag ? { etag: result.etag } : {}), ...(result.versionId ? { versionId: result.versionId } : {}),
        ...(result.skipped ? { skipped: true } : {}),
        ...(result.partsResumed ? { resumedParts: result.partsResumed } : {}),
      }
      ctx.audit('upload', { store: settings.storeId, key, sha256: artifact.sha256, size: artifact.size, skipped: result.skipped })
      receipts.push(receipt)
    }
    outcome = 'done'
  } finally {
    progress.finish(outcome)
    client.destroy()
  }
  ctx.report({ [settings.storeId]: { bucket: settings.bucket, endpointHost: settings.endpointHost, partSize: settings.partSize, concurrency: settings.concurrency, checksum: settings.checksumAlgorithm } })
  return receipts
}
