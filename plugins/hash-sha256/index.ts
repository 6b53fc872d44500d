/**
 * hash-sha256: the default `hash` hook. Each artefact group is read once, sequentially, computing
 * every member's SHA-256 and the artefact digest together; groups and loose files run in parallel.
 * A stat-keyed cache remembers file digests, and artefact digests by the digests of their files,
 * so a rebuild reads only the groups in which something changed.
 */
import { createHash } from 'node:crypto'
import { definePlugin, hashFile, hashGroup, StatCache, type ArtefactDigest, type ArtefactGroup, type BundleFile, type IntegrityEntry } from '../../src/plugin-api.js'

export default definePlugin(() => ({
  name: 'hash-sha256',
  async hash(files, groups) {
    const target = `${this.target.os}-${this.target.arch}`
    const cache = process.env.PXP_NO_CACHE === '1' ? undefined : new StatCache(this.cacheDir, `hashes-${target}`)
    const keep = new Set<string>()
    // The stat signature is taken before reading (when the file was collected, or here), so an edit
    // during the read is never remembered as clean.
    const before = new Map<string, ReturnType<typeof StatCache.signature>>()
    const cachedEntry = (file: BundleFile): IntegrityEntry | undefined => {
      if (!cache || !file.source) return undefined
      keep.add(file.source)
      const signature = file.stat ?? StatCache.signature(file.source)
      before.set(file.source, signature)
      const sha256 = cache.get(file.source, file.source, signature)
      return sha256 ? { path: file.path, sha256, size: file.size } : undefined
    }
    const remember = (file: BundleFile, entry: IntegrityEntry) => {
      if (cache && file.source) cache.set(file.source, file.source, entry.sha256, before.get(file.source))
    }

    const hashOneGroup = async (group: ArtefactGroup) => {
      const known = group.files.map(cachedEntry)
      if (cache && known.every(Boolean)) {
        const entries = known as IntegrityEntry[]
        const digest = cache.getByContent(`group:${groupKey(group, entries)}`)
        if (digest) return { digest: JSON.parse(digest) as ArtefactDigest, entries }
      }
      // Files the cache vouches for are still read (the artefact hash covers them) but not hashed twice.
      const result = await hashGroup(group, known.map((k) => k?.sha256))
      group.files.forEach((f, i) => remember(f, result.entries[i]!))
      cache?.setByContent(`group:${groupKey(group, result.entries)}`, JSON.stringify(result.digest))
      return result
    }

    const grouped = new Set(groups.flatMap((g) => g.files.map((f) => f.path)))
    const loose = files.filter((f) => !grouped.has(f.path))
    const [groupResults, looseEntries] = await Promise.all([
      Promise.all(groups.map(hashOneGroup)),
      Promise.all(loose.map(async (f) => cachedEntry(f) ?? hashFile(f).then((e) => (remember(f, e), e)))),
    ])
    for (const [i, group] of groups.entries()) keep.add(`group:${groupKey(group, groupResults[i]!.entries)}`)
    cache?.save(keep)

    const entries: IntegrityEntry[] = [...looseEntries, ...groupResults.flatMap((r) => r.entries)]
    const artefacts: Record<string, ArtefactDigest> = {}
    groups.forEach((g, i) => (artefacts[g.key] = groupResults[i]!.digest))
    this.metric('offline.dist.hashed_bytes', entries.reduce((n, e) => n + e.size, 0))
    return { entries, artefacts }
  },
}))

/** An artefact digest depends only on its files' paths and contents, i.e. on their digests. */
function groupKey(group: ArtefactGroup, entries: IntegrityEntry[]): string {
  const h = createHash('sha256').update(group.key + '\0' + group.path + '\0')
  for (const e of entries) h.update(`${e.path}\0${e.sha256}\0`)
  return h.digest('hex')
}
