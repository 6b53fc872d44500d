/**
 * Streaming SHA-256 of bundle files. Artefact ("directory") hashes of pxp-format.md are SHA-256
 * over the artefact's files in sorted order, each contributing its path relative to the artefact
 * then its content; `hashGroup` computes that and every member file's own hash in one read.
 */
import { createHash } from 'node:crypto'
import type { BundleFile, FileRole, IntegrityEntry } from '../plugin-api.js'
import { compareUtf8 } from './paths.js'
import { readChunks } from './read.js'

export interface ArtefactGroup {
  /** manifest.json key: backend_bundle, frontend_bundle, migrations, assets, extensions. */
  key: string
  /** Artefact path in the bundle ('.' for the root). */
  path: string
  files: BundleFile[]
}

export interface ArtefactDigest { path: string; hash: string; size_bytes: number; files: number }

const GROUP_OF: Partial<Record<FileRole, { key: string; path: string }>> = {
  backend: { key: 'backend_bundle', path: 'backend' },
  frontend: { key: 'frontend_bundle', path: 'web-admin' },
  migrations: { key: 'migrations', path: 'migrations' },
  extensions: { key: 'extensions', path: 'extensions' },
}
const ASSETS = { key: 'assets', path: '.' }

/** Splits payload files into the manifest's artefacts; the descriptor and generated files belong to none. */
export function artefactGroups(files: readonly BundleFile[]): ArtefactGroup[] {
  const groups = new Map<string, ArtefactGroup>()
  for (const file of files) {
    if (file.role === 'descriptor' || file.role === 'generated') continue
    const spec = GROUP_OF[file.role] ?? ASSETS
    let group = groups.get(spec.key)
    if (!group) groups.set(spec.key, (group = { ...spec, files: [] }))
    group.files.push(file)
  }
  for (const group of groups.values()) group.files.sort((a, b) => compareUtf8(a.path, b.path))
  return [...groups.values()]
}

/** The file's bytes in chunks; a chunk is only valid until the next one is requested (see readChunks). */
export async function* fileChunks(file: BundleFile): AsyncGenerator<Buffer> {
  if (file.content) {
    yield Buffer.from(file.content.buffer, file.content.byteOffset, file.content.byteLength)
    return
  }
  yield* readChunks(file.source!, 0, Infinity, file.size)
}

export async function hashFile(file: BundleFile): Promise<IntegrityEntry> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of fileChunks(file)) {
    hash.update(chunk)
    size += chunk.length
  }
  return { path: file.path, sha256: hash.digest('hex'), size }
}

/** One sequential read of the group: the artefact hash plus each member's integrity entry. */
export async function hashGroup(group: ArtefactGroup): Promise<{ digest: ArtefactDigest; entries: IntegrityEntry[] }> {
  const groupHash = createHash('sha256')
  const entries: IntegrityEntry[] = []
  let total = 0
  const prefix = group.path === '.' ? '' : group.path + '/'
  for (const file of group.files) {
    groupHash.update(file.path.slice(prefix.length), 'utf8')
    const fileHash = createHash('sha256')
    let size = 0
    for await (const chunk of fileChunks(file)) {
      fileHash.update(chunk)
      groupHash.update(chunk)
      size += chunk.length
    }
    total += size
    entries.push({ path: file.path, sha256: fileHash.digest('hex'), size })
  }
  return { digest: { path: group.path, hash: groupHash.digest('hex'), size_bytes: total, files: group.files.length }, entries }
}
