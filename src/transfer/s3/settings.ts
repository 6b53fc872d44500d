/**
 * Resolves an `artifactStore` entry of type `s3` or `oss` plus the PX_ARTIFACT_STORE_* environment
 * into everything the S3 engine needs. OSS is the same engine behind Alibaba's S3-compatible API;
 * only its defaults differ (regional endpoint, virtual-hosted addressing, no flexible checksums).
 */
import type { S3StoreConfig } from '../../config/types.js'
import { PxpError } from '../../errors.js'
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../retry.js'

export interface StoreCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export interface S3StoreSettings {
  /** Names the store in receipts, logs and the resume-state file. */
  storeId: string
  type: 's3' | 'oss'
  bucket: string
  prefix?: string
  keyTemplate?: string
  region: string
  /** Full endpoint URL for custom/S3-compatible stores; undefined = AWS default for the region. */
  endpoint?: string
  /** host[:port] for messages — never credentials, never a query string. */
  endpointHost: string
  forcePathStyle: boolean
  partSize: number
  concurrency: number
  /** `SHA256`: x-amz-checksum-sha256 on every part and a composite checksum on the object. */
  checksumAlgorithm: 'SHA256' | 'none'
  retry: RetryPolicy
  connectTimeoutMs: number
  /** Socket idle timeout: a connection that stops moving bytes for this long is dropped and retried. */
  idleTimeoutMs: number
  /** From PX_ARTIFACT_STORE_ACCESS_KEY/_SECRET/_SESSION_TOKEN; undefined = the AWS default chain. */
  credentials?: StoreCredentials
  contentType?: string
}

const MiB = 1024 * 1024
/** S3's own limits: parts of 5 MiB–5 GiB, at most 10,000 of them. */
export const MIN_PART_SIZE = 5 * MiB
export const MAX_PART_SIZE = 5 * 1024 * MiB
export const MAX_PARTS = 10_000

export function resolveS3Settings(entry: S3StoreConfig, env: NodeJS.ProcessEnv = process.env): S3StoreSettings {
  const type = entry.type
  const where = (key: string) => `artifactStore(${type}).${key}`
  if (typeof entry.bucket !== 'string' || entry.bucket.length === 0) {
    throw new PxpError('STORE_CONFIG', `The ${type} artifact store needs a bucket.`, { exitCode: 2, keyPath: where('bucket'), hint: `Set artifactStore.bucket in px-plugin.config.ts.` })
  }
  const region = stringOr(entry.region, env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (type === 'oss' ? undefined : 'us-east-1'))
  if (!region) {
    throw new PxpError('STORE_CONFIG', 'The oss artifact store needs a region (e.g. "cn-hangzhou").', { exitCode: 2, keyPath: where('region'), hint: 'Set artifactStore.region; the endpoint defaults to https://oss-<region>.aliyuncs.com.' })
  }
  let endpoint = stringOr(entry.endpoint, env.PX_ARTIFACT_STORE_ENDPOINT)
  if (!endpoint && type === 'oss') endpoint = `https://oss-${region}.aliyuncs.com`
  let endpointHost = type === 's3' ? `s3.${region}.amazonaws.com` : ''
  if (endpoint) {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) endpoint = `https://${endpoint}`
    let url: URL
    try {
      url = new URL(endpoint)
    } catch {
      throw new PxpError('STORE_CONFIG', `The ${type} store endpoint is not a URL.`, { exitCode: 2, keyPath: where('endpoint'), hint: 'Use a URL such as https://minio.example.com:9000.' })
    }
    if (url.username || url.password || url.search) {
      throw new PxpError('STORE_CONFIG', `The ${type} store endpoint must not carry credentials or a query string.`, { exitCode: 2, keyPath: where('endpoint'), hint: 'Put credentials in PX_ARTIFACT_STORE_ACCESS_KEY / PX_ARTIFACT_STORE_SECRET.' })
    }
    endpoint = `${url.protocol}//${url.host}${url.pathname.replace(/\/$/, '')}`
    endpointHost = url.host
  }
  const partSizeMB = numberOr(entry.partSizeMB, 8)
  const partSize = Math.round(partSizeMB * MiB)
  if (!(partSize >= MIN_PART_SIZE && partSize <= MAX_PART_SIZE)) {
    throw new PxpError('STORE_CONFIG', `partSizeMB must be between 5 and 5120 (got ${entry.partSizeMB}).`, { exitCode: 2, keyPath: where('partSizeMB'), hint: 'S3 and OSS refuse parts smaller than 5 MiB (except the last one).' })
  }
  const concurrency = numberOr(entry.concurrency, 4)
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new PxpError('STORE_CONFIG', `concurrency must be an integer from 1 to 64 (got ${entry.concurrency}).`, { exitCode: 2, keyPath: where('concurrency') })
  }
  const accessKeyId = env.PX_ARTIFACT_STORE_ACCESS_KEY
  const secretAccessKey = env.PX_ARTIFACT_STORE_SECRET
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
    throw new PxpError('STORE_CONFIG', 'PX_ARTIFACT_STORE_ACCESS_KEY and PX_ARTIFACT_STORE_SECRET must be set together.', { exitCode: 2, hint: 'Set both, or neither to use the AWS credential chain.' })
  }
  const credentials = accessKeyId && secretAccessKey
    ? { accessKeyId, secretAccessKey, ...(env.PX_ARTIFACT_STORE_SESSION_TOKEN ? { sessionToken: env.PX_ARTIFACT_STORE_SESSION_TOKEN } : {}) }
    : undefined
  const checksum = entry.checksum ?? (type === 'oss' ? 'md5' : 'sha256')
  return {
    storeId: stringOr(entry.name, `${type}-${entry.bucket}`)!,
    type,
    bucket: entry.bucket,
    prefix: stringOr(entry.prefix, undefined),
    keyTemplate: stringOr(entry.key, undefined),
    region,
    endpoint,
    endpointHost,
    // Custom endpoints (MinIO, s3rver, Ceph…) are usually path-style; AWS and OSS are virtual-hosted.
    forcePathStyle: typeof entry.forcePathStyle === 'boolean' ? entry.forcePathStyle : type === 's3' && endpoint !== undefined,
    partSize,
    concurrency,
    checksumAlgorithm: checksum === 'sha256' ? 'SHA256' : 'none',
    retry: {
      retries: numberOr(entry.retries, DEFAULT_RETRY_POLICY.retries),
      baseDelayMs: numberOr(entry.retryBaseDelayMs, DEFAULT_RETRY_POLICY.baseDelayMs),
      maxDelayMs: numberOr(entry.retryMaxDelayMs, DEFAULT_RETRY_POLICY.maxDelayMs),
      attemptTimeoutMs: numberOr(entry.attemptTimeoutMs, DEFAULT_RETRY_POLICY.attemptTimeoutMs!),
    },
    connectTimeoutMs: numberOr(entry.connectTimeoutMs, 5_000),
    idleTimeoutMs: numberOr(entry.idleTimeoutMs, 60_000),
    credentials,
    contentType: stringOr(entry.contentType, undefined),
  }
}

/** The object's address for receipts: a plain URL, never signed. */
export function objectUrl(settings: S3StoreSettings, key: string): string {
  const encodedKey = key.split('/').map(encodeURIComponent).join('/')
  if (!settings.endpoint) return `https://${settings.bucket}.s3.${settings.region}.amazonaws.com/${encodedKey}`
  const url = new URL(settings.endpoint)
  if (settings.forcePathStyle) return `${url.protocol}//${url.host}${url.pathname}/${settings.bucket}/${encodedKey}`.replace(/([^:])\/\//g, '$1/')
  return `${url.protocol}//${settings.bucket}.${url.host}${url.pathname}/${encodedKey}`.replace(/([^:])\/\//g, '$1/')
}

function stringOr(value: unknown, fallback: string | undefined): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : fallback
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback
}
