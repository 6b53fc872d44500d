/**
 * Writes the segments in order as concatenated gzip members. Reading is sequential (each file's
 * content is hashed again on the way and must match integrity.txt), compression runs a few segments
 * ahead on the thread pool, and memory stays bounded by the segments in flight.
 */
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { PxpError, readInto } from '../../src/plugin-api.js'
import { compressSegment } from './compress.js'
import type { Segment } from './segments.js'
import type { SegmentCache } from './segment-cache.js'

export interface WriteResult { sha256: string; size: number; reused: number; compressed: number }

export async function writeArchive(file: string, segments: Segment[], options: { expected: Map<string, string>; cache?: SegmentCache; signal?: AbortSignal }): Promise<WriteResult> {
  const inFlight = availableParallelism() + 1
  const out = await open(file, 'w', 0o644)
  const bundleHash = createHash('sha256')
  const fileHashes = new Map<string, ReturnType<typeof createHash>>()
  const pending: Array<Promise<Buffer>> = []
  let size = 0
  let reused = 0
  let compressed = 0
  const drainOne = async () => {
    const member = await pending.shift()!
    bundleHash.update(member)
    size += member.length
    await out.write(member)
  }
  try {
    for (const segment of segments) {
      options.signal?.throwIfAborted()
      const cached = await options.cache?.get(segment.key)
      if (cached) {
        reused++
        pending.push(Promise.resolve(cached))
      } else {
        compressed++
        const raw = await materialise(segment, options.expected, fileHashes)
        pending.push(compressSegment(raw).then(async (member) => {
          await options.cache?.put(segment.key, member)
          return member
        }))
      }
      if (pending.length >= inFlight) await drainOne()
    }
    while (pending.length > 0) await drainOne()
    await out.sync()
  } finally {
    // Settle whatever is still compressing before closing, so no write lands after close.
    await Promise.allSettled(pending)
    await out.close()
  }
  return { sha256: bundleHash.digest('hex'), size, reused, compressed }
}

/** The segment's uncompressed bytes, checking every file against the digest it was signed with. */
async function materialise(segment: Segment, expected: Map<string, string>, fileHashes: Map<string, ReturnType<typeof createHash>>): Promise<Buffer> {
  // One allocation per segment, filled in place: no per-chunk buffers, no concatenation.
  const raw = Buffer.allocUnsafe(segment.size)
  let offset = 0
  for (const part of segment.parts) {
    if (part.kind === 'bytes') {
      offset += part.bytes.copy(raw, offset)
      continue
    }
    const { file } = part
    const length = part.end - part.start
    let hash = fileHashes.get(file.path)
    if (!hash) fileHashes.set(file.path, (hash = createHash('sha256')))
    const read = file.content
      ? Buffer.from(file.content.buffer, file.content.byteOffset, file.content.byteLength).copy(raw, offset, part.start, part.end)
      : await readInto(file.source!, raw, offset, part.start, length)
    if (read !== length) throw changed(file.path)
    hash.update(raw.subarray(offset, offset + length))
    offset += length
    if (part.last) {
      fileHashes.delete(file.path)
      const want = expected.get(file.path)
      if (want !== undefined && hash.digest('hex') !== want) throw changed(file.path)
    }
  }
  return raw
}

function changed(path: string): PxpError {
  return new PxpError('INPUT_CHANGED', `${path} changed while the bundle was being built.`, {
    path,
    hint: 'Stop whatever is writing to the plugin tree (a watcher, a running build) and build again.',
  })
}
