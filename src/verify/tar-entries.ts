/**
 * A minimal, strict tar reader for verification. node-tar's Parser is built to extract leniently;
 * a verifier must see the raw facts instead (every entry type, the exact name, pax overrides) and
 * refuse what it does not understand. Header decoding (checksum, numbers, ustar prefix) reuses
 * node-tar's Header class.
 */
import { Header } from 'tar'
import { PxpError } from '../errors.js'
import { ByteSource } from './byte-source.js'

export type EntryKind = 'file' | 'directory' | 'link' | 'device' | 'other'

export interface ArchiveEntry {
  /** The name as stored (pax `path` when present), trailing `/` of directories removed. */
  path: string
  kind: EntryKind
  /** The tar type name, for messages (`SymbolicLink`, `CharacterDevice`…). */
  typeName: string
  size: number
  mode: number
  /** Exactly `size` body bytes; must be drained before the next entry is asked for. */
  body(): AsyncGenerator<Buffer>
}

const corrupt = (message: string, path?: string) => new PxpError('ARCHIVE_CORRUPT', message, { path, hint: 'The file is damaged or not a pxp bundle; download or rebuild it.' })

const KIND: Record<string, EntryKind> = {
  File: 'file',
  OldFile: 'file',
  ContiguousFile: 'file',
  Directory: 'directory',
  Link: 'link',
  SymbolicLink: 'link',
  CharacterDevice: 'device',
  BlockDevice: 'device',
  FIFO: 'device',
}

/** Pax records `"<len> <key>=<value>\n"`; only `path` and `size` matter to a verifier. */
function parsePax(body: Buffer): { path?: string; size?: number } {
  const out: { path?: string; size?: number } = {}
  let offset = 0
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset)
    const length = Number(body.subarray(offset, space).toString('ascii'))
    if (space < 0 || !Number.isSafeInteger(length) || length <= 0 || offset + length > body.length || body[offset + length - 1] !== 0x0a) {
      throw corrupt('A pax extended header is malformed.')
    }
    const record = body.subarray(space + 1, offset + length - 1).toString('utf8')
    const equals = record.indexOf('=')
    if (equals < 1) throw corrupt('A pax extended header record has no key.')
    const key = record.slice(0, equals)
    const value = record.slice(equals + 1)
    if (key === 'path') out.path = value
    if (key === 'size') {
      if (!/^\d+$/.test(value)) throw corrupt('A pax size record is not a number.')
      out.size = Number(value)
    }
    offset += length
  }
  return out
}

const isZeroBlock = (block: Buffer) => block.every((byte) => byte === 0)

export interface TarReadOptions {
  /** Largest pax header body accepted (read into memory). */
  maxPaxBytes: number
}

/** Yields each entry; the caller drains `body()` before asking for the next one. */
export async function* tarEntries(source: ByteSource, options: TarReadOptions): AsyncGenerator<ArchiveEntry> {
  let pax: { path?: string; size?: number } | undefined
  for (;;) {
    const block = await source.read(512)
    if (!block) throw corrupt('The archive ends without the tar end-of-archive marker (truncated).')
    if (isZeroBlock(block)) {
      if (pax) throw corrupt('A pax header is followed by the end of the archive.')
      if (!(await source.restIsZero())) throw corrupt('There is data after the tar end-of-archive marker.')
      return
    }
    const header = new Header(block)
    if (!header.cksumValid) throw corrupt('A tar header has a bad checksum.')
    const typeName = header.type
    const size = pax?.size ?? header.size ?? 0
    if (typeName === 'ExtendedHeader') {
      if (pax) throw corrupt('Two pax headers in a row.')
      if (size > options.maxPaxBytes) throw new PxpError('LIMIT_EXCEEDED', `A pax header of ${size} bytes exceeds the ${options.maxPaxBytes}-byte metadata limit.`)
      const body = await source.read(size)
      if (!body) throw corrupt('The archive ends inside a pax header.')
      await skipPadding(source, size)
      pax = parsePax(body)
      continue
    }
    let path = pax?.path ?? header.path ?? ''
    const kind = KIND[typeName] ?? 'other'
    if (kind === 'directory' && path.endsWith('/')) path = path.slice(0, -1)
    pax = undefined
    const bodySize = kind === 'directory' ? 0 : size
    yield {
      path,
      kind,
      typeName,
      size: bodySize,
      mode: header.mode ?? 0,
      async *body() {
        yield* source.stream(bodySize)
        await skipPadding(source, bodySize)
      },
    }
  }
}

async function skipPadding(source: ByteSource, size: number): Promise<void> {
  const padding = (512 - (size % 512)) % 512
  if (padding > 0 && !(await source.read(padding))) throw corrupt('The archive ends inside an entry.')
}
