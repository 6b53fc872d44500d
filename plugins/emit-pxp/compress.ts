/**
 * One gzip member per segment, with the header pxp-format.md asks for (mtime 0, no name, OS 255).
 * zlib's async API runs on libuv's thread pool, so segments compress on every core. Segments that
 * deflate cannot shrink (Go binaries, already-compressed assets) are stored instead: deflate would
 * spend most of the build's time on them for nothing. The choice depends only on the segment's
 * bytes, so it is as deterministic as the rest of the archive.
 */
import { promisify } from 'node:util'
import { deflateRaw, gzip } from 'node:zlib'

const gzipAsync = promisify(gzip)
const deflateRawAsync = promisify(deflateRaw)

const SAMPLE = 64 * 1024
/** A 64 KiB sample that level 1 cannot shrink below 97 % is treated as incompressible. */
const INCOMPRESSIBLE = 0.97
export const LEVEL = 6

export async function compressSegment(raw: Buffer): Promise<Buffer> {
  const level = (await isIncompressible(raw)) ? 0 : LEVEL
  // 64 KiB output chunks: zlib's 16 KiB default and very large chunks both leave far more garbage behind.
  const member = await gzipAsync(raw, { level, memLevel: 8, chunkSize: 64 * 1024 })
  member[9] = 255 // OS: unknown; zlib writes the host's code and Node cannot set the header.
  return member
}

async function isIncompressible(raw: Buffer): Promise<boolean> {
  if (raw.length < SAMPLE) return false
  // Sample the middle: tar headers and file starts compress well even in binaries.
  const start = Math.floor((raw.length - SAMPLE) / 2)
  const sample = raw.subarray(start, start + SAMPLE)
  const packed = await deflateRawAsync(sample, { level: 1 })
  return packed.length / sample.length > INCOMPRESSIBLE
}
