/**
 * Read-only support for legacy zip bundles (pxp-format.md: a verifier sniffs `50 4b` and reads
 * them, nothing writes them). The central directory is read into memory (bounded by the metadata
 * limit); entries are then streamed one at a time from their offsets, the leading root files
 * first so the zip goes through exactly the same checks as a tar. Each entry's inflated output is
 * capped at the size the directory declares, which the limits have already accepted.
 */
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { createInflateRaw } from 'node:zlib'
import { DESCRIPTOR_FILE, INTEGRITY_FILE, MANIFEST_FILE, SIGNATURE_FILE } from '../bundle/layout.js'
import { PxpError } from '../errors.js'
import type { ArchiveEntry, EntryKind } from './tar-entries.js'

const EOCD = 0x06054b50
const CENTRAL = 0x02014b50
const LOCAL = 0x04034b50
const S_IFMT = 0o170000

const corrupt = (message: string, path?: string) => new PxpError('ARCHIVE_CORRUPT', message, { path, hint: 'The zip is damaged; rebuild the bundle with `pxp build` (gzip tar).' })

interface ZipRecord {
  path: string
  kind: EntryKind
  typeName: string
  method: number
  compressedSize: number
  size: number
  mode: number
  localOffset: number
}

function kindOf(name: string, externalAttributes: number, madeByUnix: boolean): { kind: EntryKind; typeName: string } {
  const unixType = madeByUnix ? (externalAttributes >>> 16) & S_IFMT : 0
  if (unixType === 0o120000) return { kind: 'link', typeName: 'SymbolicLink' }
  if (unixType !== 0 && unixType !== 0o100000 && unixType !== 0o040000) return { kind: 'device', typeName: 'special file' }
  if (name.endsWith('/') || unixType === 0o040000) return { kind: 'directory', typeName: 'Directory' }
  return { kind: 'file', typeName: 'File' }
}

async function centralDirectory(file: string, maxBytes: number): Promise<ZipRecord[]> {
  const handle = await open(file, 'r')
  try {
    const { size } = await handle.stat()
    const tailLength = Math.min(size, 22 + 0xffff)
    const tail = Buffer.alloc(tailLength)
    await handle.read(tail, 0, tailLength, size - tailLength)
    let eocd = -1
    for (let i = tailLength - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        eocd = i
        break
      }
    }
    if (eocd < 0) throw corrupt('The zip has no end-of-central-directory record (truncated?).')
    const count = tail.readUInt16LE(eocd + 10)
    const cdSize = tail.readUInt32LE(eocd + 12)
    const cdOffset = tail.readUInt32LE(eocd + 16)
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) throw corrupt('ZIP64 archives are not supported.')
    if (cdSize > maxBytes) throw new PxpError('LIMIT_EXCEEDED', `The zip central directory is ${cdSize} bytes; the metadata limit is ${maxBytes}.`)
    if (cdOffset + cdSize > size) throw corrupt('The zip central directory lies outside the file.')
    const cd = Buffer.alloc(cdSize)
    await handle.read(cd, 0, cdSize, cdOffset)
    const records: ZipRecord[] = []
    let at = 0
    for (let n = 0; n < count; n++) {
      if (at + 46 > cd.length || cd.readUInt32LE(at) !== CENTRAL) throw corrupt('The zip central directory is malformed.')
      const flags = cd.readUInt16LE(at + 8)
      const method = cd.readUInt16LE(at + 10)
      const nameLength = cd.readUInt16LE(at + 28)
      const extraLength = cd.readUInt16LE(at + 30)
      const commentLength = cd.readUInt16LE(at + 32)
      const rawName = cd.subarray(at + 46, at + 46 + nameLength)
      // Bit 11: UTF-8 names. Legacy code pages are not guessed at: a non-ASCII name without it is refused below.
      const name = rawName.toString(flags & 0x800 ? 'utf8' : 'latin1')
      if (!(flags & 0x800) && rawName.some((b) => b > 0x7f)) throw new PxpError('PATH_UNSAFE', `A zip entry name is not marked UTF-8: "${name}".`, { path: name })
      if (flags & 0x1) throw corrupt(`"${name}" is encrypted.`, name)
      if (method !== 0 && method !== 8) throw corrupt(`"${name}" uses compression method ${method}; only stored and deflate are read.`, name)
      const { kind, typeName } = kindOf(name, cd.readUInt32LE(at + 38), cd.readUInt8(at + 5) === 3)
      records.push({
        path: kind === 'directory' ? name.replace(/\/$/, '') : name,
        kind,
        typeName,
        method,
        compressedSize: cd.readUInt32LE(at + 20),
        size: kind === 'directory' ? 0 : cd.readUInt32LE(at + 24),
        mode: (cd.readUInt32LE(at + 38) >>> 16) & 0o777,
        localOffset: cd.readUInt32LE(at + 42),
      })
      at += 46 + nameLength + extraLength + commentLength
    }
    return records
  } finally {
    await handle.close()
  }
}

async function dataOffset(file: string, record: ZipRecord): Promise<number> {
  const handle = await open(file, 'r')
  try {
    const header = Buffer.alloc(30)
    const { bytesRead } = await handle.read(header, 0, 30, record.localOffset)
    if (bytesRead < 30 || header.readUInt32LE(0) !== LOCAL) throw corrupt(`The local header of "${record.path}" is missing.`, record.path)
    return record.localOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28)
  } finally {
    await handle.close()
  }
}

const LEADING = [INTEGRITY_FILE, SIGNATURE_FILE, MANIFEST_FILE, DESCRIPTOR_FILE]

export interface ZipReadOptions {
  maxMetadataBytes: number
  /** Called with (unpacked, compressed) declared totals before any entry is read. */
  checkDeclared(unpacked: number, compressed: number): void
}

export async function* zipEntries(file: string, options: ZipReadOptions): AsyncGenerator<ArchiveEntry> {
  const records = await centralDirectory(file, options.maxMetadataBytes)
  options.checkDeclared(
    records.reduce((sum, r) => sum + r.size, 0),
    records.reduce((sum, r) => sum + r.compressedSize, 0),
  )
  // The zip has no required order; present the root files first, as a tar would have them.
  const rank = (r: ZipRecord) => {
    const index = LEADING.indexOf(r.path)
    return index < 0 ? LEADING.length : index
  }
  const ordered = records.map((r, i) => ({ r, i })).sort((a, b) => rank(a.r) - rank(b.r) || a.i - b.i).map(({ r }) => r)
  for (const record of ordered) {
    yield {
      path: record.path,
      kind: record.kind,
      typeName: record.typeName,
      size: record.size,
      mode: record.mode,
      async *body() {
        if (record.size === 0 && record.compressedSize === 0) return
        const start = await dataOffset(file, record)
        const raw = createReadStream(file, { start, end: start + Math.max(record.compressedSize, 1) - 1 })
        const stream = record.method === 8 ? raw.pipe(createInflateRaw()) : raw
        raw.on('error', (error) => stream.destroy(error))
        let produced = 0
        try {
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            produced += chunk.length
            if (produced > record.size) throw corrupt(`"${record.path}" inflates to more than the ${record.size} bytes its directory entry declares.`, record.path)
            yield chunk
          }
        } finally {
          raw.destroy()
          stream.destroy()
        }
        if (produced !== record.size) throw corrupt(`"${record.path}" holds ${produced} bytes, not the ${record.size} its directory entry declares.`, record.path)
      },
    }
  }
}
