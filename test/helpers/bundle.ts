/**
 * Hand-made `.pxp` archives for the verifier tests: valid ones in the exact layout of
 * pxp-format.md, and hostile ones built header by header with node-tar's Header/Pax classes.
 */
import { createHash } from 'node:crypto'
import { createWriteStream, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { gzipSync, createGzip } from 'node:zlib'
import { Header, Pax } from 'tar'

export interface RawEntry {
  path: string
  /** node-tar type name; default File. */
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'FIFO' | 'GlobalExtendedHeader'
  content?: Buffer | string
  linkpath?: string
  /** Force a pax `path` record (for names ustar cannot hold or should not hold). */
  pax?: boolean
  /** Declared size, when it must lie. */
  size?: number
  mode?: number
}

const block = (size: number) => Buffer.alloc(Math.ceil(size / 512) * 512)

export function tarEntry(entry: RawEntry): Buffer {
  const content = Buffer.from(entry.content ?? '')
  const parts: Buffer[] = []
  const name = entry.pax ? 'PaxHeader' : entry.path
  if (entry.pax) parts.push(new Pax({ path: entry.path }).encode())
  const header = new Header({
    path: name,
    type: entry.type ?? 'File',
    size: entry.size ?? (entry.type && entry.type !== 'File' ? 0 : content.length),
    mode: entry.mode ?? (entry.type === 'Directory' ? 0o755 : 0o644),
    mtime: new Date(946_684_800_000),
    uid: 0,
    gid: 0,
    linkpath: entry.linkpath,
  })
  const head = Buffer.alloc(512)
  header.encode(head)
  parts.push(head)
  if (content.length > 0) {
    const body = block(content.length)
    content.copy(body)
    parts.push(body)
  }
  return Buffer.concat(parts)
}

export function tarBytes(entries: RawEntry[]): Buffer {
  return Buffer.concat([...entries.map(tarEntry), Buffer.alloc(1024)])
}

export function writeTarGz(file: string, entries: RawEntry[]): string {
  writeFileSync(file, gzipSync(tarBytes(entries)))
  return file
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex')

export interface BundleInput {
  id?: string
  version?: string
  /** Payload files (besides plugin.yaml): path → content. */
  files?: Record<string, string | Buffer>
  /** Returns DER CMS over integrity.txt; no signature entry when absent. */
  sign?: (integrity: Buffer) => Promise<Uint8Array> | Uint8Array
  /** Edit manifest.json before it is hashed. */
  manifest?: (manifest: Record<string, any>) => void
  descriptor?: string
  /** Files listed in integrity.txt by hash only (their entries are written by the caller). */
  listedOnly?: Record<string, string>
}

export interface BuiltBundle {
  entries: RawEntry[]
  integrity: Buffer
  signature?: Buffer
}

/** A valid bundle's entries in archive order (integrity, signature, manifest, plugin.yaml, rest sorted). */
export async function bundleEntries(input: BundleInput = {}): Promise<BuiltBundle> {
  const id = input.id ?? 'com.example.demo'
  const version = input.version ?? '1.0.0'
  const descriptor = input.descriptor ?? `id: ${id}\nname: Demo\nversion: ${version}\nruntime:\n  kind: static\n`
  const payload = new Map<string, Buffer>(Object.entries(input.files ?? { 'README.md': '# demo\n', 'web-admin/i18n/en.json': '{"hello":"world"}\n' }).map(([p, c]) => [p, Buffer.from(c)]))
  const sorted = [...payload.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  const frontend = sorted.filter((p) => p.startsWith('web-admin/'))
  const artefacts: Record<string, unknown> = { backend_bundle: null, frontend_bundle: null, migrations: null, assets: null, extensions: null }
  if (frontend.length > 0) {
    const hash = createHash('sha256')
    let size = 0
    for (const p of frontend) {
      hash.update(p.slice('web-admin/'.length))
      hash.update(payload.get(p)!)
      size += payload.get(p)!.length
    }
    artefacts.frontend_bundle = { path: 'web-admin', hash: hash.digest('hex'), size_bytes: size }
  }
  const manifest: Record<string, any> = {
    format_version: 1,
    manifest: { id, name: 'Demo', version, runtime: { kind: 'static' }, permissions: [], targets: [{ os: 'linux', arch: 'amd64' }] },
    artefacts,
    integrity: { file: 'integrity.txt', manifest_path: 'manifest.json', algorithm: 'sha256' },
    signature: null,
    encryption: { algorithm: 'none' },
  }
  input.manifest?.(manifest)
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n')
  const listed = new Map<string, Buffer>([['manifest.json', manifestBytes], ['plugin.yaml', Buffer.from(descriptor)], ...payload])
  const hashes = new Map<string, string>([...[...listed].map(([p, c]) => [p, sha256(c)] as [string, string]), ...Object.entries(input.listedOnly ?? {})])
  const integrity = Buffer.from(
    [...hashes.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))).map((p) => `${hashes.get(p)}  ${p}\n`).join(''),
  )
  const entries: RawEntry[] = [{ path: 'integrity.txt', content: integrity }]
  let signature: Buffer | undefined
  if (input.sign) {
    signature = Buffer.from(Buffer.from(await input.sign(integrity)).toString('base64') + '\n')
    entries.push({ path: 'manifest.signature', content: signature })
  }
  entries.push({ path: 'manifest.json', content: manifestBytes }, { path: 'plugin.yaml', content: descriptor })
  const dirs = new Set<string>()
  for (const p of sorted) {
    const segments = p.split('/')
    for (let i = 1; i < segments.length; i++) dirs.add(segments.slice(0, i).join('/') + '/')
  }
  const rest: RawEntry[] = [...sorted.map((p) => ({ path: p, content: payload.get(p)! })), ...[...dirs].map((d) => ({ path: d, type: 'Directory' as const }))]
  rest.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
  return { entries: [...entries, ...rest], integrity, signature }
}

/**
 * Streams a gzip tar with one large entry (for the memory and bomb tests) without holding it. The
 * entry repeats `pattern` (default: zeros, which compress ~1000:1; a random 1 MiB block does not
 * compress at all because it is longer than gzip's 32 KiB window).
 */
export async function writeLargeBundle(file: string, prefix: RawEntry[], big: { path: string; size: number; pattern?: Buffer }): Promise<void> {
  const gzip = createGzip({ level: big.pattern ? 0 : 1 })
  const out = createWriteStream(file)
  gzip.pipe(out)
  const write = async (chunk: Buffer) => {
    if (!gzip.write(chunk)) await once(gzip, 'drain')
  }
  for (const entry of prefix) await write(tarEntry(entry))
  const head = Buffer.alloc(512)
  new Header({ path: big.path, type: 'File', size: big.size, mode: 0o644, mtime: new Date(946_684_800_000), uid: 0, gid: 0 }).encode(head)
  await write(head)
  const block = big.pattern ?? Buffer.alloc(1 << 20)
  for (let left = big.size; left > 0; left -= block.length) await write(left >= block.length ? block : block.subarray(0, left))
  await write(Buffer.alloc((512 - (big.size % 512)) % 512 + 1024))
  gzip.end()
  await once(out, 'close')
}

/** SHA-256 of `size` bytes repeating `pattern` (default zeros), as writeLargeBundle writes them. */
export function zeroSha256(size: number, pattern: Buffer = Buffer.alloc(1 << 20)): string {
  const hash = createHash('sha256')
  for (let left = size; left > 0; left -= pattern.length) hash.update(left >= pattern.length ? pattern : pattern.subarray(0, left))
  return hash.digest('hex')
}
