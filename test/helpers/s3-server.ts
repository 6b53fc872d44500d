/**
 * A real S3 API (s3rver) on 127.0.0.1 with an ephemeral port and a throwaway data directory.
 * s3rver stores objects on disk, so large-object tests cost disk, not memory.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver'

export interface S3Server {
  port: number
  endpoint: string
  dir: string
  bucket: string
  close(): Promise<void>
}

/** s3rver's built-in account. It checks the key id but not SigV4 signatures (the proxy does). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }

export async function startS3Server(bucket = 'pxp-bundles'): Promise<S3Server> {
  const dir = await mkdtemp(join(tmpdir(), 'pxp-s3rver-'))
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] })
  const info = (await server.run()) as { port: number }
  return {
    port: info.port,
    endpoint: `http://127.0.0.1:${info.port}`,
    dir,
    bucket,
    async close() {
      await server.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
