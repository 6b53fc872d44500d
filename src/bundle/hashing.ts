/**
 * Streaming SHA-256 of bundle files. Artefact ("directory") hashes of pxp-format.md are SHA-256
 * over the artefact's files in sorted order, each contributing its path relative to the artefact
 * then its content; `hashGroup` computes that and every member file's own hash in one read.
 */
import { createHash, type Hash } from 'node:crypto'
import type { BundleFile, FileRole, IntegrityEntry } from '../plugin-api.js'
import { PxpError } from '../errors.js'
import { compareUtf8 } from './paths.js'
import { readChunks, readWholeSync, SMALL_FILE } from './read.js'
import { StatCache } from './stat-cache.js'

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

/**
 * One sequential read of the group: the artefact hash plus each member's integrity entry.
 * `known[i]` is a digest of file i that a stat-keyed cache vouches for (given `file.stat`): a
 * rebuild must read the whole group again for its artefact hash, but need not hash such a file
 * twice. A small file's stats are checked again after the read, so a file edited meanwhile fails
 * the build instead of leaving the artefact hash and the file's digest disagreeing.
 */
export async function hashGroup(group: ArtefactGroup, known: ReadonlyArray<string | undefined> = []): Promise<{ digest: ArtefactDigest; entries: IntegrityEntry[] }> {
  const resumed = resumePoint(group, known)
  const groupHash = resumed?.state.copy() ?? createHash('sha256')
  const entries: IntegrityEntry[] = resumed ? resumed.entries.map((e) => ({ ...e })) : []
  const points: ResumePoint[] = resumed ? resumed.points : []
  let total = resumed?.total ?? 0
  const prefix = group.path === '.' ? '' : group.path + '/'
  const scratch = Buffer.allocUnsafe(SMALL_FILE)
  for (let i = entries.length; i < group.files.length; i++) {
    const file = group.files[i]!
    groupHash.update(file.path.slice(prefix.length), 'utf8')
    // Most of an admin UI: blocking reads into one buffer, no generator round trips per file.
    const small = file.source !== undefined && file.size < SMALL_FILE
    const trusted = small && file.stat ? known[i] : undefined
    const fileHash = trusted ? undefined : createHash('sha256')
    let size = 0
    const take = (chunk: Buffer) => {
      fileHash?.update(chunk)
      groupHash.update(chunk)
      size += chunk.length
    }
    if (small) {
      const after = readWholeSync(file.source!, scratch, take)
      if (trusted && StatCache.signatureOf(after).sig !== file.stat!.sig) throw changedWhileHashing(file.path)
    } else {
      for await (const chunk of fileChunks(file)) take(chunk)
    }
    entries.push({ path: file.path, sha256: trusted ?? fileHash!.digest('hex'), size })
    total += size
    if (total - (points.at(-1)?.total ?? 0) >= POINT_EVERY) points.push({ index: i + 1, state: groupHash.copy(), total })
  }
  resumePoints.set(memoKey(group), { entries: entries.map((e) => ({ ...e })), points })
  return { digest: { path: group.path, hash: groupHash.digest('hex'), size_bytes: total, files: group.files.length }, entries }
}

/**
 * Hash states part-way through each artefact, kept from the previous build in this process
 * (`pxp build --watch`, a bundler's watch mode). The artefact digest is one SHA-256 over the
 * whole folder, so a change near its end would otherwise mean reading every file before it
 * again. A state is resumed only after files whose path and digest (vouched for by the
 * stat-keyed cache, as `known`) equal those it was computed over: it stands for content, not
 * for stats. A one-shot build starts empty and pays a few hash copies.
 */
interface ResumePoint { index: number; state: Hash; total: number }
const resumePoints = new Map<string, { entries: IntegrityEntry[]; points: ResumePoint[] }>()
/** Bytes between saved states: ~40 states for a 40 MiB admin UI. */
const POINT_EVERY = 1 << 20

const memoKey = (group: ArtefactGroup) => `${group.key}\0${group.path}`

function resumePoint(group: ArtefactGroup, known: ReadonlyArray<string | undefined>): (ResumePoint & { entries: IntegrityEntry[]; points: ResumePoint[] }) | undefined {
  const before = resumePoints.get(memoKey(group))
  if (!before) return undefined
  let same = 0
  while (same < group.files.length && same < before.entries.length && known[same] !== undefined && group.files[same]!.path === before.entries[same]!.path && known[same] === before.entries[same]!.sha256) same++
  const usable = before.points.filter((p) => p.index <= same)
  const point = usable.at(-1)
  return point && { ...point, entries: before.entries.slice(0, point.index), points: usable }
}

function changedWhileHashing(path: string): PxpError {
  return new PxpError('INPUT_CHANGED', `${path} changed while it was being hashed.`, {
    path,
    hint: 'Stop whatever is writing to the plugin tree (a watcher, a running build) and build again.',
  })
}
