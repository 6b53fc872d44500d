/**
 * Writes the segments in order as concatenated gzip members. Reading is sequential (each file's
 * content is hashed again on the way and must match integrity.txt), compression runs a few segments
 * ahead on the thread pool, cached members are copied as soon as it is their turn, and memory stays
 * bounded by the segments in flight.
 */
import { createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { PxpError, readInto } from '../../src/plugin-api.js'
import { ArchiveFile } from './archive-file.js'
import { compressSegment } from './compress.js'
import { encodeHeader, type Segment } from './segments.js'
import type { SegmentCache } from './segment-cache.js'

export interface WriteResult { sha256: string; size: number; reused: number; compressed: number }

/** A member to write: a cached one by key, or one still compressing. */
type Slot = { segment: Segment; member?: Promise<Buffer> }

export async function writeArchive(file: string, segments: Segment[], options: { expected: Map<string, string>; cache?: SegmentCache; signal?: AbortSignal }): Promise<WriteResult> {
  const maxCompressing = availableParallelism() + 1
  const reuse = reusableSegments(segments, options.cache)
  const archive = new ArchiveFile(file)
  const fileHashes = new Map<string, ReturnType<typeof createHash>>()
  const queue: Slot[] = []
  let compressing = 0
  let reused = 0
  let compressed = 0

  const compress = async (raw: Buffer, segment: Segment): Promise<Buffer> => {
    const member = await compressSegment(raw)
    await options.cache?.put(segment.key, member)
    return member
  }
  // Writes every slot that is ready: cached members at once, compressed ones when done (or, with
  // `all`, waits for them); keeps going until the queue is empty or the head still compresses.
  const drain = async (all: boolean) => {
    while (queue.length > 0) {
      const head = queue[0]!
      if (!head.member) {
        if (await archive.appendFrom((scratch) => options.cache!.read(head.segment.key, scratch))) {
          reused++
        } else {
          // Pruned by a concurrent build since we looked: make it here instead.
          if (splitsAFile(head.segment)) throw cacheChanged()
          compressed++
          await archive.append(await compress(await materialise(head.segment, options.expected, fileHashes), head.segment))
        }
      } else {
        if (!all && compressing < maxCompressing) return
        await archive.append(await head.member)
        compressing--
      }
      queue.shift()
    }
  }
  try {
    for (const segment of segments) {
      options.signal?.throwIfAborted()
      if (reuse.has(segment.key)) {
        queue.push({ segment })
      } else {
        // Materialised in order (a big file's pieces feed one running hash), compressed in parallel.
        const raw = await materialise(segment, options.expected, fileHashes)
        compressed++
        compressing++
        const member = compress(raw, segment)
        member.catch(() => {}) // awaited by drain; a failure there must not also be "unhandled" here
        queue.push({ segment, member })
      }
      await drain(false)
    }
    await drain(true)
    // Durable before the core renames it into place: a crash must not leave a torn bundle behind.
    const { sha256, size } = await archive.finish()
    return { sha256, size, reused, compressed }
  } finally {
    // Settle whatever is still compressing or writing before closing, so no write lands after close.
    await Promise.allSettled(queue.map((s) => s.member))
    await archive.close()
  }
}

/**
 * The segments to take from the cache. A big file's pieces are checked against its digest as one
 * stream, so they come all from the cache or all from the file.
 */
function reusableSegments(segments: Segment[], cache: SegmentCache | undefined): Set<string> {
  if (!cache) return new Set()
  const reuse = new Set(segments.filter((s) => cache.has(s.key)).map((s) => s.key))
  const pieces = new Map<string, Segment[]>()
  for (const segment of segments) {
    if (!splitsAFile(segment)) continue
    const path = segment.parts.find((p) => p.kind === 'content')!.file.path
    const group = pieces.get(path)
    if (group) group.push(segment)
    else pieces.set(path, [segment])
  }
  for (const group of pieces.values()) {
    if (!group.every((s) => reuse.has(s.key))) for (const s of group) reuse.delete(s.key)
  }
  return reuse
}

/** Holds a piece of a big file (not whole files only). */
function splitsAFile(segment: Segment): boolean {
  return segment.parts.some((p) => p.kind === 'content' && !(p.start === 0 && p.last))
}

/** The segment's uncompressed bytes, checking every file against the digest it was signed with. */
async function materialise(segment: Segment, expected: Map<string, string>, fileHashes: Map<string, ReturnType<typeof createHash>>): Promise<Buffer> {
  const headers = segment.parts.map((p) => (p.kind === 'header' ? encodeHeader(p.entry, p.mtime) : undefined))
  const size = segment.parts.reduce((n, p, i) => n + (p.kind === 'header' ? headers[i]!.length : p.kind === 'zeros' ? p.length : p.end - p.start), 0)
  // One allocation per segment, filled in place: no per-chunk buffers, no concatenation.
  const raw = Buffer.allocUnsafe(size)
  let offset = 0
  for (const [i, part] of segment.parts.entries()) {
    if (part.kind === 'header') {
      offset += headers[i]!.copy(raw, offset)
      continue
    }
    if (part.kind === 'zeros') {
      raw.fill(0, offset, offset + part.length)
      offset += part.length
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

function cacheChanged(): PxpError {
  return new PxpError('CACHE_CHANGED', 'A cached piece of the bundle disappeared while the bundle was being written.', {
    hint: 'Another build is probably using the same output directory; build again, and give concurrent builds their own --out.',
  })
}
