/**
 * The tar byte stream of pxp-format.md: ustar headers (pax only where a name needs it) with every
 * field normalised — uid/gid 0, empty uname/gname, a fixed mtime, 0755/0644 — so the bytes depend
 * on nothing but the entry names, modes and contents. node-tar's Header/Pax encode the blocks.
 */
import { createHash } from 'node:crypto'
import { Header, Pax } from 'tar'
import { fileChunks, PxpError, type ArchiveEntry, type BundleFile } from '../../src/plugin-api.js'

const BLOCK = 512
const ZERO_BLOCKS = Buffer.alloc(BLOCK * 2)

export interface TarOptions {
  mtime: number
  /** Expected SHA-256 per path: content that changes between hashing and packing stops the build. */
  expected: Map<string, string>
}

export async function* tarStream(entries: ArchiveEntry<BundleFile>[], options: TarOptions): AsyncGenerator<Buffer> {
  const mtime = new Date(options.mtime * 1000)
  for (const entry of entries) {
    const isDir = entry.type === 'dir'
    const size = isDir ? 0 : entry.file.size
    const fields = {
      path: entry.path,
      mode: isDir ? 0o755 : entry.file.mode,
      uid: 0,
      gid: 0,
      size,
      mtime,
      type: isDir ? ('Directory' as const) : ('File' as const),
      uname: '',
      gname: '',
    }
    const header = new Header(fields)
    const block = Buffer.alloc(BLOCK)
    if (header.encode(block)) {
      // The name does not fit ustar's 100+155 bytes (or is not ASCII): a pax record carries it.
      yield new Pax({ path: entry.path, mtime } as ConstructorParameters<typeof Pax>[0]).encode()
      const short = new Header({ ...fields, path: entry.path.slice(-99).replace(/[^\x20-\x7e]/g, '_') })
      short.encode(block)
    }
    yield block
    if (entry.type === 'dir') continue

    const hash = createHash('sha256')
    let written = 0
    for await (const chunk of fileChunks(entry.file)) {
      written += chunk.length
      if (written > size) break
      hash.update(chunk)
      yield chunk
    }
    const digest = hash.digest('hex')
    const expected = options.expected.get(entry.path)
    if (written !== size || (expected !== undefined && expected !== digest)) {
      throw new PxpError('INPUT_CHANGED', `${entry.path} changed while the bundle was being built.`, {
        path: entry.path,
        hint: 'Stop whatever is writing to the plugin tree (a watcher, a running build) and build again.',
      })
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK
    if (pad) yield Buffer.alloc(pad)
  }
  yield ZERO_BLOCKS
}
