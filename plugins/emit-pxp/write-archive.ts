/**
 * Writes the segments in order as concatenated gzip members. Reading is sequential (each file's
 * content is hashed again on the way and must match integrity.txt), compression runs a few segments
 * ahead on the thread pool, cached members are copied as soon as it is their turn, and memory stays
 * bounded by the segments in flight.
 */
import { createHash } from 'node:crypto'
import { rmSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { PxpError, readInto } from '../../src/plugin-api.js'
import { ArchiveFile } from './archive-file.js'
import { compressSegment } from './compress.js'
import { encodeHeader, type Segment } from './segments.js'
import type { OpenMember, SegmentCache } from './segment-cache.js'

export interface WriteResult { sha256: string; size: number; reused: number; compressed: number }

/**
 * Cached pieces held open at once: 512 MiB of big files, well inside the usual limit of 1,024 open
 * files. Beyond it, big files are compressed again rather than risking EMFILE elsewhere.
 */
const MAX_HELD_OPEN = 512

/** A member to write: a cached one (held open, or looked up at its turn), or one still compressing. */
type Slot = { segment: Segment; cached?: OpenMember | 'lookup'; member?: Promise<Buffer> }

export async function writeArchive(file: string, segments: Segment[], options: { expected: Map<string, string>; cache?: SegmentCache; signal?: AbortSignal }): Promise<WriteResult> {
  const maxCompressing = availableParallelism() + 1
  const archive = new ArchiveFile(file)
  const reuse = reusableSegments(segments, options.cache)
  const fileHashes = new Map<string, ReturnType<typeof createHash>>()
  const queue: Slot[] = []
  let compressing = 0
  let reused = 0
  let compressed = 0
  let done = false

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
      const { cached } = head
      if (cached === 'lookup') {
        if (await archive.appendFrom((scratch) => options.cache!.read(head.segment.key, scratch))) {
          reused++
        } else {
          // Whole files only: pruned by a concurrent build since we looked, so made here instead.
          compressed++
          await archive.append(await compress(await materialise(head.segment, options.expected, fileHashes), head.segment))
        }
      } else if (cached) {
        await archive.appendFrom((scratch) => options.cache!.readOpen(cached, scratch))
        reused++
      } else {
        if (!all && compressing < maxCompressing) return
        await archive.append(await head.member!)
        compressing--
      }
      queue.shift()
    }
  }
  try {
    for (const [i, segment] of segments.entries()) {
      options.signal?.throwIfAborted()
      const cached = reuse[i]
      if (cached) {
        queue.push({ segment, cached })
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
    done = true
    return { sha256, size, reused, compressed }
  } finally {
    // Settle whatever is still compressing or writing before closing, so no write lands after close.
    await Promise.allSettled(queue.map((s) => s.member))
    await archive.close()
    for (const cached of reuse) if (cached && cached !== 'lookup') options.cache!.close(cached)
    // A torn bundle is of no use to anyone, and on a full disk it is what fills it.
    if (!done) rmSync(file, { force: true })
  }
}

/**
 * Which segments to take from the cache, by position. A big file's pieces are checked against its
 * digest as one stream, so they come all from the cache or all from the file: they are opened now
 * and held open (a concurrent build's prune cannot take one away halfway). Whole-file segments are
 * only looked up at their turn; one that is gone by then is simply made again.
 */
function reusableSegments(segments: Segment[], cache: SegmentCache | undefined): Array<OpenMember | 'lookup' | undefined> {
  const reuse: Array<OpenMember | 'lookup' | undefined> = new Array(segments.length)
  if (!cache) return reuse
  const pieces = new Map<string, number[]>()
  for (const [i, segment] of segments.entries()) {
    if (!splitsAFile(segment)) {
      if (cache.has(segment.key)) reuse[i] = 'lookup'
      continue
    }
    const path = segment.parts.find((p) => p.kind === 'content')!.file.path
    const group = pieces.get(path)
    if (group) group.push(i)
    else pieces.set(path, [i])
  }
  let held = 0
  for (const group of pieces.values()) {
    if (held + group.length > MAX_HELD_OPEN) continue
    const opened: OpenMember[] = []
    for (const i of group) {
      const member = cache.open(segments[i]!.key)
      if (!member) break
      opened.push(member)
    }
    if (opened.length === group.length) {
      group.forEach((i, n) => (reuse[i] = opened[n]))
      held += opened.length
    } else {
      for (const member of opened) cache.close(member)
    }
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
