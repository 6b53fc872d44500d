import { createHash } from 'node:crypto'
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { S3RVER_CREDENTIALS } from '../helpers/s3-server.js'

/** A client straight to s3rver (not through the proxy) for checking what the store holds. */
export function directClient(endpoint: string): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' })
}

/** Streams the stored object through SHA-256. */
export async function storedSha256(client: S3Client, bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  const hash = createHash('sha256')
  for await (const chunk of out.Body as AsyncIterable<Uint8Array>) hash.update(chunk)
  return hash.digest('hex')
}

export async function storedMetadata(client: S3Client, bucket: string, key: string): Promise<{ size?: number; sha256?: string }> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
  return { size: head.ContentLength, sha256: head.Metadata?.sha256 }
}

export function setStoreEnv(values: Record<string, string | undefined>): () => void {
  const saved = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]))
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}
