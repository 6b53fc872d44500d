/**
 * hash-sha256: the default `hash` hook. Each artefact group is read once, sequentially, computing
 * every member's SHA-256 and the artefact digest together; groups and loose files run in parallel.
 */
import { definePlugin, hashFile, hashGroup, type ArtefactDigest, type IntegrityEntry } from '../../src/plugin-api.js'

export default definePlugin(() => ({
  name: 'hash-sha256',
  async hash(files, groups) {
    const grouped = new Set(groups.flatMap((g) => g.files.map((f) => f.path)))
    const loose = files.filter((f) => !grouped.has(f.path))
    const [groupResults, looseEntries] = await Promise.all([Promise.all(groups.map(hashGroup)), Promise.all(loose.map(hashFile))])
    const entries: IntegrityEntry[] = [...looseEntries, ...groupResults.flatMap((r) => r.entries)]
    const artefacts: Record<string, ArtefactDigest> = {}
    groups.forEach((g, i) => (artefacts[g.key] = groupResults[i]!.digest))
    this.metric('offline.dist.hashed_bytes', entries.reduce((n, e) => n + e.size, 0))
    return { entries, artefacts }
  },
}))
