/**
 * Maps transfer failures to PxpErrors with stable codes. Messages name the store, the bucket and the
 * endpoint host — enough to act on — and are built from our own words plus the server's error
 * name, never from raw SDK text (which can echo a StringToSign or a signed URL). Everything still
 * passes through redactText as a last line of defence.
 */
import { PxpError } from '../errors.js'
import { redactText } from '../redact.js'
import { RetriesExhaustedError, errorChain, httpStatusOf, isRetryableError, rootFailure } from './retry.js'

export const STORE_ERROR_CODES = {
  auth: 'STORE_AUTH',
  unreachable: 'STORE_UNREACHABLE',
  uploadFailed: 'STORE_UPLOAD_FAILED',
  bucketNotFound: 'STORE_BUCKET_NOT_FOUND',
  integrity: 'STORE_INTEGRITY',
  config: 'STORE_CONFIG',
  aborted: 'STORE_ABORTED',
} as const

export interface StoreErrorContext {
  storeId: string
  /** host[:port] */
  endpointHost: string
  bucket?: string
  key?: string
  fileName?: string
  /** What we were doing, e.g. `UploadPart 3/12`. */
  operation: string
  /** Appended to the hint when the upload can be resumed. */
  resumable?: boolean
  /** Replaces the credential advice for stores whose credential is not an access key (signed URLs). */
  authHint?: string
}

const AUTH_ERROR_NAMES = new Set([
  'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken', 'InvalidToken',
  'TokenRefreshRequired', 'InvalidClientTokenId', 'AuthorizationHeaderMalformed', 'CredentialsProviderError',
  'InvalidSecurity', 'AccountProblem',
])

const NETWORK_CODES = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENETDOWN|ENOTFOUND|EAI_AGAIN|EPIPE|ECONNABORTED|UND_ERR_\w+)$/

/** The most specific name we can give a failure: S3 error code, socket error code, or class name. */
export function failureName(error: unknown): string {
  for (const link of errorChain(rootFailure(error))) {
    const e = link as { Code?: unknown; code?: unknown; name?: unknown }
    if (typeof e.Code === 'string') return e.Code
    if (typeof e.code === 'string' && e.code !== 'ERR_INVALID_ARG_TYPE') return e.code
    if (typeof e.name === 'string' && e.name !== 'Error' && e.name !== 'RetriesExhaustedError') return e.name
  }
  return 'Error'
}

function isNetworkFailure(error: unknown): boolean {
  const root = rootFailure(error)
  if (httpStatusOf(root) !== undefined) return false
  for (const link of errorChain(root)) {
    const { code, name } = (link ?? {}) as { code?: unknown; name?: unknown }
    if (typeof code === 'string' && NETWORK_CODES.test(code)) return true
    if (name === 'TimeoutError' || name === 'AttemptTimeoutError') return true
  }
  return isRetryableError(root)
}

export function toStoreError(error: unknown, context: StoreErrorContext): PxpError {
  if (error instanceof PxpError) return error
  const root = rootFailure(error)
  const name = failureName(error)
  const status = httpStatusOf(root)
  const attempts = error instanceof RetriesExhaustedError ? error.attempts : 1
  const where = `store "${context.storeId}"${context.bucket ? ` (bucket "${context.bucket}"` : ' ('}${context.bucket ? ', ' : ''}endpoint ${context.endpointHost})`
  const details = { store: context.storeId, endpointHost: context.endpointHost, bucket: context.bucket, key: context.key, operation: context.operation, error: name, status, attempts }
  const resumeHint = context.resumable ? ' Completed parts are saved: run `pxp upload FILE.pxp --resume` (or `pxp build --resume`) to continue.' : ''
  const make = (code: string, message: string, hint: string) =>
    new PxpError(code, redactText(message), { hint: redactText(hint), details: JSON.parse(redactText(JSON.stringify(details))) as Record<string, unknown> })

  if ((status === 401 || status === 403 || AUTH_ERROR_NAMES.has(name)) && name !== 'RequestTimeTooSkewed') {
    return make(STORE_ERROR_CODES.auth, `The ${where} rejected the credentials: ${name}${status ? ` (HTTP ${status})` : ''} during ${context.operation}.`,
      context.authHint ?? 'Check PX_ARTIFACT_STORE_ACCESS_KEY and PX_ARTIFACT_STORE_SECRET (plus PX_ARTIFACT_STORE_SESSION_TOKEN for temporary credentials), or the AWS credential chain, and that they may write to this bucket.')
  }
  if (name === 'NoSuchBucket') {
    return make(STORE_ERROR_CODES.bucketNotFound, `The bucket of ${where} does not exist.`, 'Create the bucket or fix artifactStore.bucket / the endpoint.')
  }
  if (name === 'AbortError' && !isRetryableError(root)) {
    return make(STORE_ERROR_CODES.aborted, `Upload to ${where} was interrupted during ${context.operation}.`, `Run the command again.${resumeHint}`)
  }
  if (isNetworkFailure(error)) {
    return make(STORE_ERROR_CODES.unreachable, `The ${where} is unreachable: ${name} during ${context.operation} after ${attempts} attempt${attempts === 1 ? '' : 's'}.`,
      `Check the endpoint (PX_ARTIFACT_STORE_ENDPOINT / artifactStore.endpoint), the network and any proxy.${resumeHint}`)
  }
  return make(STORE_ERROR_CODES.uploadFailed,
    `Uploading ${context.fileName ?? 'an artifact'}${context.key ? ` to key "${context.key}"` : ''} on ${where} failed: ${name}${status ? ` (HTTP ${status})` : ''} during ${context.operation} after ${attempts} attempt${attempts === 1 ? '' : 's'}.`,
    `Retry later; if it persists, check the store's status and limits.${resumeHint}`)
}
