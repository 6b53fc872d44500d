/**
 * gzip with the header pxp-format.md asks for: mtime 0, no file name, OS byte 255 ("unknown").
 * zlib already writes mtime 0 and no name; Node offers no deflateSetHeader, so the OS byte (offset
 * 9 of the fixed 10-byte header) is patched on the way out.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { constants, createGzip } from 'node:zlib'

export function createPxpGzip(level = 6): [Transform, Transform] {
  const gzip = createGzip({ level, memLevel: 8, strategy: constants.Z_DEFAULT_STRATEGY, chunkSize: 1 << 16 })
  let seen = 0
  const patchOsByte = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (seen <= 9 && seen + chunk.length > 9) chunk[9 - seen] = 255
      seen += chunk.length
      done(null, chunk)
    },
  })
  return [gzip, patchOsByte]
}
