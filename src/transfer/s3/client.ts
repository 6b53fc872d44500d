/**
 * One S3Client per store. The SDK's own retries are off (maxAttempts 1): our retry loop owns them,
 * so retries are counted for receipts and metrics, bounded the same way for every call, and a
 * per-attempt deadline applies. Flexible checksums are sent only where we set them explicitly —
 * the SDK's default CRC32 trailers use aws-chunked encoding that S3-compatible stores often reject.
 */
import type { S3Client } from '@aws-sdk/client-s3'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import type { S3StoreSettings } from './settings.js'

let sdk: Promise<typeof import('@aws-sdk/client-s3')> | undefined

/** The S3 SDK, loaded on first use: it costs ~150 ms of start-up that builds without a store never need. */
export function loadS3Sdk(): Promise<typeof import('@aws-sdk/client-s3')> {
  return (sdk ??= import('@aws-sdk/client-s3'))
}

export async function createS3Client(settings: S3StoreSettings): Promise<S3Client> {
  const agentOptions = { keepAlive: true, maxSockets: settings.concurrency + 2 }
  const { S3Client } = await loadS3Sdk()
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: settings.connectTimeoutMs,
      requestTimeout: settings.idleTimeoutMs,
      // Without this the handler only logs a warning and the request hangs on.
      throwOnRequestTimeout: true,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    },
  })
}
