/**
 * Splits the archive into segments, each compressed as an independent gzip member (any gzip
 * reader accepts concatenated members). Boundaries depend only on entry names and each entry's
 * own size, never on the sizes of other entries, so editing one file changes one segment and the
 * rest come from the cache byte for byte:
 * - the leading root files (integrity.txt … plugin.yaml) form one segment; they change every build;
 * - a file of 1 MiB or more gets its own segments, split at fixed 1 MiB offsets of its content;
 * - smaller entries group by parent directory, at most 128 entries or 1 MiB per segment;
 * - the end-of-archive blocks are the last segment.
 *
 * Headers are encoded only for segments that are compressed: a rebuild that reuses almost every
 * segment would otherwise spend more time encoding thousands of headers than copying members.
 */
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { Header, Pax } from 'tar'
import { LEADING_ENTRIES, type ArchiveEntry, type BundleFile } from '../../src/plugin-api.js'

export const BIG_FILE = 1 << 20
export const PIECE = 1 << 20
const GROUP_ENTRIES = 128
const BLOCK = 512

/** One contiguous stretch of the tar stream: an entry's header, a range of a file's content, or zero padding. */
export type Part =
  | { kind: 'header'; entry: ArchiveEntry<BundleFile>; mtime: number }
  | { kind: 'zeros'; length: number }
  | { kind: 'content'; file: BundleFile; start: number; end: number; last: boolean }

export interface Segment {
  parts: Part[]
  /** Content address: header fields, file digests and ranges. Equal keys mean equal bytes. */
  key: string
}

// The header bytes are a function of the fields in the key and of the tar encoder: a new tar
// version must not reuse members encoded by the old one.
const KEY_PREFIX = `pxp-segment-v2\0tar@${(createRequire(import.meta.url)('tar/package.json') as { version: string }).version}\0`

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
    const header: Part = { kind: 'header', entry, mtime }
    if (entry.type === 'file' && entry.file.size >= BIG_FILE && !isLeading) {
      flush()
      const size = entry.file.size
      for (let start = 0; start < size; start += PIECE) {
        const end = Math.min(size, start + PIECE)
        const parts: Part[] = start === 0 ? [header] : []
        parts.push({ kind: 'content', file: entry.file, start, end, last: end === size })
        if (end === size && size % BLOCK) parts.push({ kind: 'zeros', length: BLOCK - (size % BLOCK) })
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
    current.push(header)
    count++
    bytes += entryBytes
    if (entry.type === 'file') {
      const size = entry.file.size
      if (size > 0) current.push({ kind: 'content', file: entry.file, start: 0, end: size, last: true })
      if (size % BLOCK) current.push({ kind: 'zeros', length: BLOCK - (size % BLOCK) })
    }
  }
  flush()
  segments.push(seal([{ kind: 'zeros', length: BLOCK * 2 }], digests))
  return segments
}

/** ustar header with every field normalised; a pax record first when the name needs one. */
export function encodeHeader(entry: ArchiveEntry<BundleFile>, mtimeSeconds: number): Buffer {
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
  let text = KEY_PREFIX
  for (const part of parts) {
    if (part.kind === 'header') {
      const { entry } = part
      text += entry.type === 'dir' ? `d${part.mtime}:${entry.path}\0` : `f${part.mtime}:${entry.file.mode}:${entry.file.size}:${entry.path}\0`
    } else if (part.kind === 'zeros') {
      text += `z${part.length}\0`
    } else {
      const digest = part.file.content ? createHash('sha256').update(part.file.content).digest('hex') : digests.get(part.file.path)
      if (!digest) throw new Error(`no digest for ${part.file.path}`)
      text += `c${digest}:${part.start}-${part.end}\0`
    }
  }
  return { parts, key: createHash('sha256').update(text).digest('hex') }
}
