/**
 * The S3 upload engine, shared by uploader-s3 and uploader-oss. Driven by hand rather than through
 * lib-storage's `Upload` because resume needs the UploadId and the acknowledged parts persisted as
 * they happen, which `Upload` does not expose.
 *
 * Memory stays flat: each worker owns one part-sized buffer, reused for every part it sends and
 * for that part's retries, so the peak is `concurrency × partSize` whatever the bundle size.
 */
import type { S3Client } from '@aws-sdk/client-s3'
import { loadS3Sdk } from './client.js'
import { createHash } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { PxpError } from '../../errors.js'
import type { ProgressReporter } from '../progress.js'
import {
  ResumeStateWriter, loadResumeState, removeResumeState, resumeStatePath, stateMatches, type CompletedPart, type MultipartState,
} from '../resume-state.js'
import { httpStatusOf, rootFailure, withRetry, type RetryInfo, type RetryOptions } from '../retry.js'
import { STORE_ERROR_CODES, failureName, toStoreError } from '../store-errors.js'
import { MAX_PARTS, type S3StoreSettings } from './settings.js'

export interface TransferLogger {
  info(message: string): void
  warn(message: string): void
  debug(message: string): void
}

export interface S3ObjectUpload {
  client: S3Client
  settings: S3StoreSettings
  key: string
  file: { path: string; size: number; sha256: string; fileName: string }
  /** Continue a persisted multipart upload if one matches; otherwise start over. */
  resume: boolean
  /** Resume state lives in `<cacheDir>/uploads/`. */
  cacheDir: string
  signal?: AbortSignal
  progress?: ProgressReporter
  logger?: TransferLogger
  onRetry?: (info: RetryInfo & { operation: string }) => void
}

export interface S3ObjectResult {
  etag?: string
  versionId?: string
  retries: number
  /** The object was already there with the same sha256. */
  skipped: boolean
  multipart: boolean
  partsSent: number
  partsResumed: number
  durationMs: number
}

/** S3 metadata key (x-amz-meta-sha256) that makes uploads idempotent across runs and stores. */
export const SHA256_METADATA_KEY = 'sha256'

const quiet: TransferLogger = { info() {}, warn() {}, debug() {} }

export async function uploadFileToS3(job: S3ObjectUpload): Promise<S3ObjectResult> {
  const { PutObjectCommand } = await loadS3Sdk()
  const started = Date.now()
  const { client, settings, key, file } = job
  const logger = job.logger ?? quiet
  let retries = 0
  const errorContext = (operation: string, resumable = false) => ({
    storeId: settings.storeId, endpointHost: settings.endpointHost, bucket: settings.bucket, key, fileName: file.fileName, operation, resumable,
  })
  const retrying = (operation: string, extra: Partial<RetryOptions> = {}): RetryOptions => ({
    ...settings.retry,
    signal: extra.signal ?? job.signal,
    onRetry: (info) => {
      retries++
      logger.debug(`${operation}: attempt ${info.attempt} failed (${failureName(info.error)}), retrying in ${info.delayMs} ms`)
      job.onRetry?.({ ...info, operation })
    },
  })
  const call = async <T>(operation: string, send: (signal: AbortSignal) => Promise<T>, resumable = false, signal?: AbortSignal): Promise<T> => {
    try {
      return (await withRetry(({ signal: attemptSignal }) => send(attemptSignal), retrying(operation, { signal }))).value
    } catch (error) {
      throw toStoreError(error, errorContext(operation, resumable))
    }
  }

  // Idempotence: an object already stored with this content is not sent again.
  const existing = await headObject(client, settings, key, call)
  if (existing && existing.sha256 === file.sha256 && existing.size === file.size) {
    job.progress?.skip(file.size)
    logger.info(`${file.fileName}: already in ${settings.storeId} with the same sha256, not uploading again`)
    return { etag: existing.etag, versionId: existing.versionId, retries, skipped: true, multipart: false, partsSent: 0, partsResumed: 0, durationMs: Date.now() - started }
  }

  const handle = await open(file.path, 'r')
  try {
    const partSize = effectivePartSize(file.size, settings.partSize)
    if (file.size <= partSize) {
      const body = Buffer.allocUnsafe(file.size)
      await readFully(handle, body, 0)
      const digest = digests(body)
      if (digest.sha256Hex !== file.sha256) throw fileChanged(file)
      const put = await call('PutObject', (abortSignal) => client.send(new PutObjectCommand({
        Bucket: settings.bucket, Key: key, Body: body, ContentLength: body.length, ContentMD5: digest.md5Base64,
        ...(settings.checksumAlgorithm === 'SHA256' ? { ChecksumSHA256: digest.sha256Base64 } : {}),
        Metadata: { [SHA256_METADATA_KEY]: file.sha256 }, ContentType: settings.contentType ?? contentTypeOf(file.fileName),
      }), { abortSignal }))
      job.progress?.advance(file.size)
      return { etag: put.ETag, versionId: put.VersionId, retries, skipped: false, multipart: false, partsSent: 1, partsResumed: 0, durationMs: Date.now() - started }
    }
    const multipart = await uploadMultipart({ ...job, logger }, handle, partSize, call)
    // Confirm what the store now holds before calling it done.
    const stored = await headObject(client, settings, key, call)
    if (stored && (stored.size !== file.size || (stored.sha256 !== undefined && stored.sha256 !== file.sha256))) {
      throw new PxpError(STORE_ERROR_CODES.integrity, `After upload, ${settings.storeId} reports ${stored.size} bytes / sha256 ${stored.sha256 ?? 'unknown'} for "${key}", expected ${file.size} / ${file.sha256}.`, {
        hint: 'Upload again; if it repeats, the store or a proxy is altering the object.',
      })
    }
    return { ...multipart, versionId: multipart.versionId ?? stored?.versionId, retries, skipped: false, multipart: true, durationMs: Date.now() - started }
  } finally {
    await handle.close()
  }
}

type Caller = <T>(operation: string, send: (signal: AbortSignal) => Promise<T>, resumable?: boolean, signal?: AbortSignal) => Promise<T>

interface ExistingObject { size?: number; sha256?: string; etag?: string; versionId?: string }

async function headObject(client: S3Client, settings: S3StoreSettings, key: string, call: Caller): Promise<ExistingObject | undefined> {
  const { HeadObjectCommand } = await loadS3Sdk()
  try {
    const head = await call('HeadObject', (abortSignal) => client.send(new HeadObjectCommand({ Bucket: settings.bucket, Key: key }), { abortSignal }))
    return { size: head.ContentLength, sha256: head.Metadata?.[SHA256_METADATA_KEY], etag: head.ETag, versionId: head.VersionId }
  } catch (error) {
    const status = (error as PxpError).details?.status
    if (status === 404) return undefined
    // HEAD has no body, so a 403 cannot tell "wrong key" from "may write but not read". The write
    // that follows answers with an error code, which is the one we report.
    if (status === 403) return undefined
    throw error
  }
}

async function uploadMultipart(job: S3ObjectUpload & { logger: TransferLogger }, handle: FileHandle, partSize: number, call: Caller): Promise<{ etag?: string; versionId?: string; partsSent: number; partsResumed: number }> {
  const { AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand } = await loadS3Sdk()
  const { client, settings, key, file, logger } = job
  const partCount = Math.ceil(file.size / partSize)
  const statePath = resumeStatePath(job.cacheDir, settings.storeId, file.sha256, settings.bucket, key)
  const identity = { storeId: settings.storeId, endpointHost: settings.endpointHost, bucket: settings.bucket, key, sha256: file.sha256, size: file.size, partSize }

  let state = await loadResumeState(statePath)
  if (state && !(job.resume && stateMatches(state, identity))) {
    if (!job.resume) logger.info(`${file.fileName}: an earlier upload was interrupted; starting over (pass --resume to continue it)`)
    else logger.warn(`${file.fileName}: saved upload state does not match this upload; starting over`)
    if (state.bucket === settings.bucket && state.key === key && state.endpointHost === settings.endpointHost) {
      // Best effort: abandoned parts cost storage until a lifecycle rule removes them.
      await client.send(new AbortMultipartUploadCommand({ Bucket: state.bucket, Key: state.key, UploadId: state.uploadId })).catch(() => undefined)
    }
    await removeResumeState(statePath)
    state = undefined
  }
  if (state) state = await reconcileWithStore(client, state, logger, statePath)

  if (!state) {
    const created = await call('CreateMultipartUpload', (abortSignal) => client.send(new CreateMultipartUploadCommand({
      Bucket: settings.bucket, Key: key, Metadata: { [SHA256_METADATA_KEY]: file.sha256 },
      ContentType: settings.contentType ?? contentTypeOf(file.fileName),
      ...(settings.checksumAlgorithm === 'SHA256' ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
    }), { abortSignal }))
    if (!created.UploadId) throw new PxpError(STORE_ERROR_CODES.uploadFailed, `${settings.storeId} did not return an UploadId for "${key}".`)
    state = { version: 1, ...identity, uploadId: created.UploadId, createdAt: new Date().toISOString(), parts: [] }
  } else {
    logger.info(`${file.fileName}: resuming upload, ${state.parts.length}/${partCount} parts already stored`)
  }
  const writer = new ResumeStateWriter(statePath, state)
  await writer.save()
  const uploadId = state.uploadId

  const done = new Set(writer.parts.map((part) => part.partNumber))
  const partsResumed = done.size
  job.progress?.skip(writer.parts.reduce((sum, part) => sum + part.size, 0))
  const pending: number[] = []
  for (let n = 1; n <= partCount; n++) if (!done.has(n)) pending.push(n)

  // One failure stops the other workers; the parts they finished are already saved.
  const stop = new AbortController()
  const onAbort = () => stop.abort(job.signal!.reason)
  job.signal?.addEventListener('abort', onAbort, { once: true })
  let next = 0
  let failure: unknown
  const worker = async () => {
    const buffer = Buffer.allocUnsafe(Math.min(partSize, file.size))
    while (!stop.signal.aborted && next < pending.length) {
      const partNumber = pending[next++]!
      const offset = (partNumber - 1) * partSize
      const length = Math.min(partSize, file.size - offset)
      const body = buffer.subarray(0, length)
      await readFully(handle, body, offset)
      const digest = digests(body)
      const sent = await call(`UploadPart ${partNumber}/${partCount}`, (abortSignal) => client.send(new UploadPartCommand({
        Bucket: settings.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: length,
        ContentMD5: digest.md5Base64, ...(settings.checksumAlgorithm === 'SHA256' ? { ChecksumSHA256: digest.sha256Base64 } : {}),
      }), { abortSignal }), true, stop.signal)
      if (!sent.ETag) throw new PxpError(STORE_ERROR_CODES.uploadFailed, `${settings.storeId} returned no ETag for part ${partNumber} of "${key}".`)
      const part: CompletedPart = { partNumber, etag: sent.ETag, size: length, ...(settings.checksumAlgorithm === 'SHA256' ? { checksumSha256: digest.sha256Base64 } : {}) }
      await writer.addPart(part)
      job.progress?.advance(length)
    }
  }
  await Promise.all(Array.from({ length: Math.min(settings.concurrency, pending.length) }, () => worker().catch((error) => {
    failure ??= error
    stop.abort(error)
  })))
  job.signal?.removeEventListener('abort', onAbort)
  if (failure) throw failure
  if (job.signal?.aborted) throw toStoreError(job.signal.reason, { storeId: settings.storeId, endpointHost: settings.endpointHost, bucket: settings.bucket, key, operation: 'UploadPart', resumable: true })

  const parts = [...writer.parts].sort((a, b) => a.partNumber - b.partNumber)
  try {
    const completed = await call('CompleteMultipartUpload', (abortSignal) => client.send(new CompleteMultipartUploadCommand({
      Bucket: settings.bucket, Key: key, UploadId: uploadId,
      MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag, ...(part.checksumSha256 ? { ChecksumSHA256: part.checksumSha256 } : {}) })) },
    }), { abortSignal }), true)
    await writer.remove()
    return { etag: completed.ETag, versionId: completed.VersionId, partsSent: pending.length, partsResumed }
  } catch (error) {
    // A Complete whose answer was lost has done its work: its retries then fail (NoSuchUpload on
    // S3, 500 on some gateways) although the object is in place. Ask the store before giving up.
    const stored = await headObject(client, settings, key, call).catch(() => undefined)
    if (stored?.sha256 === file.sha256 && stored.size === file.size) {
      await writer.remove()
      return { etag: stored.etag, versionId: stored.versionId, partsSent: pending.length, partsResumed }
    }
    if ((error as PxpError).details?.error === 'NoSuchUpload') {
      await writer.remove()
      throw new PxpError(STORE_ERROR_CODES.uploadFailed, `The multipart upload of "${key}" on ${settings.storeId} no longer exists (expired or aborted).`, { hint: 'Run the upload again; it starts over.' })
    }
    throw error
  }
}

/**
 * Cross-checks saved parts against ListParts where the store supports it: an upload that expired
 * or was aborted starts over, and only parts the store still holds with the same ETag are kept.
 * Stores without ListParts (s3rver, some gateways) are trusted on the saved state.
 */
async function reconcileWithStore(client: S3Client, state: MultipartState, logger: TransferLogger, statePath: string): Promise<MultipartState | undefined> {
  const { ListPartsCommand } = await loadS3Sdk()
  const listed = new Map<number, string>()
  try {
    let marker: string | undefined
    for (let page = 0; page < Math.ceil(MAX_PARTS / 1000) + 1; page++) {
      const out = await client.send(new ListPartsCommand({ Bucket: state.bucket, Key: state.key, UploadId: state.uploadId, ...(marker ? { PartNumberMarker: marker } : {}) }))
      for (const part of out.Parts ?? []) if (part.PartNumber && part.ETag) listed.set(part.PartNumber, part.ETag.replace(/"/g, ''))
      if (!out.IsTruncated || !out.NextPartNumberMarker) break
      marker = out.NextPartNumberMarker
    }
  } catch (error) {
    const status = httpStatusOf(rootFailure(error))
    if (status === 404 || failureName(error) === 'NoSuchUpload') {
      logger.warn(`saved multipart upload of "${state.key}" no longer exists on the store; starting over`)
      await removeResumeState(statePath)
      return undefined
    }
    logger.debug(`ListParts not available (${failureName(error)}); trusting the saved upload state`)
    return state
  }
  const kept = state.parts.filter((part) => listed.get(part.partNumber) === part.etag.replace(/"/g, ''))
  if (kept.length !== state.parts.length) logger.warn(`${state.parts.length - kept.length} saved part(s) of "${state.key}" are not on the store; sending them again`)
  return { ...state, parts: kept }
}

/** Grows the part size when the file would need more than 10,000 parts. */
export function effectivePartSize(size: number, configured: number): number {
  const needed = Math.ceil(size / MAX_PARTS)
  if (needed <= configured) return configured
  const MiB = 1024 * 1024
  return Math.ceil(needed / MiB) * MiB
}

async function readFully(handle: FileHandle, target: Buffer, position: number): Promise<void> {
  let filled = 0
  while (filled < target.length) {
    const { bytesRead } = await handle.read(target, filled, target.length - filled, position + filled)
    if (bytesRead === 0) throw new PxpError(STORE_ERROR_CODES.integrity, 'The file got shorter while it was being uploaded.', { hint: 'Do not modify a bundle while it uploads; build it again.' })
    filled += bytesRead
  }
}

function digests(body: Uint8Array): { md5Base64: string; sha256Base64: string; sha256Hex: string } {
  const sha = createHash('sha256').update(body).digest()
  return { md5Base64: createHash('md5').update(body).digest('base64'), sha256Base64: sha.toString('base64'), sha256Hex: sha.toString('hex') }
}

function fileChanged(file: { path: string; sha256: string; fileName: string }): PxpError {
  return new PxpError(STORE_ERROR_CODES.integrity, `${file.fileName} no longer matches its recorded sha256 ${file.sha256}.`, {
    file: file.path, hint: 'The file changed after it was built; build it again.',
  })
}

export function contentTypeOf(fileName: string): string {
  if (fileName.endsWith('.pxp')) return 'application/gzip'
  if (fileName.endsWith('.json')) return 'application/json'
  if (fileName.endsWith('.txt')) return 'text/plain; charset=utf-8'
  if (fileName.endsWith('.signature')) return 'text/plain; charset=utf-8'
  return 'application/octet-stream'
}
