/**
 * Splits the archive into segments, each compressed as an independent gzip member (any gzip
 * reader accepts concatenated members). Boundaries depend only on entry names and each entry's
 * own size, never on the sizes of other entries, so editing one file changes one segment and the
 * rest come from the cache byte for byte:
 * - the leading root files (integrity.txt … plugin.yaml) form one segment; they change every build;
 * - a file of 1 MiB or more gets its own segments, split at fixed 1 MiB offsets of its content;
 * - smaller entries group by parent directory, at most 128 entries or 1 MiB per segment;
 * - the end-of-archive blocks are the last segment.
 */
import { createHash } from 'node:crypto'
import { Header, Pax } from 'tar'
import { LEADING_ENTRIES, type ArchiveEntry, type BundleFile } from '../../src/plugin-api.js'

export const BIG_FILE = 1 << 20
export const PIECE = 1 << 20
const GROUP_ENTRIES = 128
const BLOCK = 512

/** One contiguous stretch of the tar stream: a header, a range of a file's content, or zero padding. */
export type Part =
  | { kind: 'bytes'; bytes: Buffer }
  | { kind: 'content'; file: BundleFile; start: number; end: number; last: boolean }

export interface Segment {
  parts: Part[]
  /** Uncompressed length. */
  size: number
  /** Content address: header bytes, file digests and ranges. Equal keys mean equal bytes. */
  key: string
}

export function planSegments(entries: ArchiveEntry<BundleFile>[], mtime: number, digests: Map<string, string>): Segment[] {
  const segments: Segment[] = []
  let current: Part[] = []
  let currentDir: string | undefined
  let count = 0
  let bytes = 0
  const flush = () => {
    if (current.length > 0) segments.push(seal(current, digests))
    current = []
    count = 0
    bytes = 0
    currentDir = undefined
  }
  const leading = new Set<string>(LEADING_ENTRIES)
  let inLeading = true
  for (const entry of entries) {
    const isLeading = entry.type === 'file' && leading.has(entry.path)
    if (inLeading && !isLeading) {
      flush()
      inLeading = false
    }
    const header = encodeHeader(entry, mtime)
    if (entry.type === 'file' && entry.file.size >= BIG_FILE && !isLeading) {
      flush()
      const size = entry.file.size
      for (let start = 0; start < size; start += PIECE) {
        const end = Math.min(size, start + PIECE)
        const parts: Part[] = start === 0 ? [{ kind: 'bytes', bytes: header }] : []
        parts.push({ kind: 'content', file: entry.file, start, end, last: end === size })
        if (end === size && size % BLOCK) parts.push({ kind: 'bytes', bytes: Buffer.alloc(BLOCK - (size % BLOCK)) })
        segments.push(seal(parts, digests))
      }
      continue
    }
    const dir = entry.type === 'dir' ? entry.path.replace(/[^/]+\/$/, '') : entry.path.replace(/[^/]+$/, '')
    const entryBytes = entry.type === 'file' ? entry.file.size : 0
    // Also cap a group's bytes so memory stays bounded; that cut only moves within one directory.
    const full = count >= GROUP_ENTRIES || (count > 0 && bytes + entryBytes > PIECE)
    if (!inLeading && (full || (currentDir !== undefined && dir !== currentDir && entry.type !== 'dir'))) flush()
    if (!inLeading && currentDir === undefined) currentDir = entry.type === 'dir' ? entry.path : dir
    current.push({ kind: 'bytes', bytes: header })
    count++
    bytes += entryBytes
    if (entry.type === 'file') {
      const size = entry.file.size
      if (size > 0) current.push({ kind: 'content', file: entry.file, start: 0, end: size, last: true })
      if (size % BLOCK) current.push({ kind: 'bytes', bytes: Buffer.alloc(BLOCK - (size % BLOCK)) })
    }
  }
  flush()
  segments.push(seal([{ kind: 'bytes', bytes: Buffer.alloc(BLOCK * 2) }], digests))
  return segments
}

/** ustar header with every field normalised; a pax record first when the name needs one. */
function encodeHeader(entry: ArchiveEntry<BundleFile>, mtimeSeconds: number): Buffer {
  const isDir = entry.type === 'dir'
  const mtime = new Date(mtimeSeconds * 1000)
  const fields = {
    path: entry.path,
    mode: isDir ? 0o755 : entry.file.mode,
    uid: 0,
    gid: 0,
    size: isDir ? 0 : entry.file.size,
    mtime,
    type: isDir ? ('Directory' as const) : ('File' as const),
    uname: '',
    gname: '',
  }
  const block = Buffer.alloc(BLOCK)
  if (!new Header(fields).encode(block)) return block
  // The name does not fit ustar's 100+155 bytes (or is not ASCII): a pax record carries it.
  const pax = new Pax({ path: entry.path, mtime } as ConstructorParameters<typeof Pax>[0]).encode()
  const short = Buffer.alloc(BLOCK)
  new Header({ ...fields, path: entry.path.slice(-99).replace(/[^\x20-\x7e]/g, '_') }).encode(short)
  return Buffer.concat([pax, short])
}

function seal(parts: Part[], digests: Map<string, string>): Segment {
  const hash = createHash('sha256').update('pxp-segment-v1\0')
  let size = 0
  for (const part of parts) {
    if (part.kind === 'bytes') {
      hash.update('b').update(part.bytes)
      size += part.bytes.length
    } else {
      const digest = part.file.content ? createHash('sha256').update(part.file.content).digest('hex') : digests.get(part.file.path)
      if (!digest) throw new Error(`no digest for ${part.file.path}`)
      hash.update(`c${digest}:${part.start}-${part.end}\0`)
      size += part.end - part.start
    }
  }
  return { parts, size, key: hash.digest('hex') }
}
