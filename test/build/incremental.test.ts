import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { hashGroup, StatCache, type ArtefactGroup } from '../../src/plugin-api.js'
import { SegmentCache } from '../../plugins/emit-pxp/segment-cache.js'
import { runCli } from '../helpers/cli.js'
import { BUNDLE, BUNDLE_DIR, copyPlayground, sha256File, tempDir, write } from '../helpers/fixtures.js'

const BUILD = ['build', '--no-upload', '--no-install', '--os', 'linux', '--arch', 'amd64', '--json']

/** A file of `size` bytes that deflate cannot shrink (like a Go binary), deterministic per seed. */
function noise(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out.writeUInt32LE(x >>> 0, i)
  }
  return out
}

describe('incremental builds', () => {
  it('reuse cached segments and produce exactly the bytes of a cold build', async () => {
    const root = copyPlayground()
    write(root, 'backend/bin/linux-amd64/engine.so.data', noise(9 * 1024 * 1024, 7))
    for (let i = 0; i < 40; i++) write(root, `web-admin/.output/public/chunks/chunk-${i}.js`, `export const c${i} = ${JSON.stringify('x'.repeat(2000 + i))}\n`)
    const out = tempDir()
    expect((await runCli([...BUILD, '--out', out], { cwd: root })).code).toBe(0)
    const cold = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8')).plugins['emit-pxp']
    expect(cold.reusedSegments).toBe(0)
    const coldBundle = sha256File(BUNDLE(out))

    // One small file changes.
    write(root, 'web-admin/.output/public/chunks/chunk-3.js', 'export const c3 = "changed"\n')
    expect((await runCli([...BUILD, '--out', out], { cwd: root })).code).toBe(0)
    const warm = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8')).plugins['emit-pxp']
    expect(warm.segments).toBe(cold.segments)
    // Only the leading files and the changed directory's segment are compressed again.
    expect(warm.compressedSegments).toBe(2)
    expect(warm.reusedSegments).toBe(cold.segments - 2)
    // The replaced bundle waits in <out>/.trash for the next run to delete it.
    const trashed = () => readdirSync(join(out, '.trash')).map((entry) => sha256File(join(out, '.trash', entry, basename(BUNDLE(out)))))
    expect(trashed()).toEqual([coldBundle])
    const warmBundle = sha256File(BUNDLE(out))

    // A cold build of the same tree, without any cache, gives the same bytes.
    const fresh = tempDir()
    expect((await runCli([...BUILD, '--out', fresh], { cwd: root, env: { PXP_NO_CACHE: '1' } })).code).toBe(0)
    expect(sha256File(BUNDLE(out))).toBe(sha256File(BUNDLE(fresh)))

    // One cached piece of the big file is lost: its pieces are read and checked as one stream, so
    // all nine are made again (nothing else: the tree did not change), and the bytes are still a cold build's.
    const segmentsDir = join(out, '.cache/segments')
    const piece = readdirSync(segmentsDir).find((n) => n.endsWith('.gz') && statSync(join(segmentsDir, n)).size > 1_000_000)!
    rmSync(join(segmentsDir, piece))
    expect((await runCli([...BUILD, '--out', out], { cwd: root })).code).toBe(0)
    const repaired = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8')).plugins['emit-pxp']
    expect(repaired.compressedSegments).toBe(9)
    expect(sha256File(BUNDLE(out))).toBe(sha256File(BUNDLE(fresh)))
    // That run deleted the cold bundle and discarded the warm one: one old bundle at most.
    expect(trashed()).toEqual([warmBundle])
  })

  it('stores incompressible segments instead of deflating them, and any gzip reader still reads the bundle', async () => {
    const root = copyPlayground()
    write(root, 'backend/bin/linux-amd64/engine.so.data', noise(6 * 1024 * 1024, 11))
    const out = tempDir()
    expect((await runCli([...BUILD, '--out', out], { cwd: root })).code).toBe(0)
    const size = readFileSync(BUNDLE(out)).length
    // Stored deflate blocks add a few bytes per 64 KiB; deflating noise would add about as much, slowly.
    expect(size).toBeGreaterThan(6 * 1024 * 1024)
    expect(size).toBeLessThan(6 * 1024 * 1024 + 64 * 1024)
    const { execFileSync } = await import('node:child_process')
    execFileSync('gzip', ['-t', BUNDLE(out)])
    expect(execFileSync('sh', ['-c', `gzip -dc "${BUNDLE(out)}" | tar -tf - | grep -c .`], { encoding: 'utf8' }).trim()).not.toBe('0')
  })

  it('never pairs a digest the cache vouches for with content edited after the file was stat\'ed', async () => {
    const source = join(tempDir(), 'app.js')
    writeFileSync(source, 'export const a = 1\n')
    const file = { path: 'web-admin/.output/app.js', source, mode: 0o644, role: 'frontend' as const, size: 19, stat: StatCache.signature(source)! }
    const group: ArtefactGroup = { key: 'frontend_bundle', path: 'web-admin', files: [file] }
    const first = await hashGroup(group)
    // Unchanged: the vouched-for digest stands in for hashing the file again, with the same result.
    expect(await hashGroup(group, [first.entries[0]!.sha256])).toEqual(first)
    // Edited after the walk's stat (same size): the stale digest is refused, not paired with new content.
    writeFileSync(source, 'export const a = 2\n')
    await expect(hashGroup(group, [first.entries[0]!.sha256])).rejects.toMatchObject({ code: 'INPUT_CHANGED', path: file.path, message: 'web-admin/.output/app.js changed while it was being hashed.' })
    // Nothing vouched for: the new content is simply hashed.
    expect((await hashGroup(group)).entries[0]!.sha256).toBe(createHash('sha256').update('export const a = 2\n').digest('hex'))
  })

  it('resumes an artefact digest after the unchanged files of the previous build in this process', async () => {
    const root = tempDir()
    const names = Array.from({ length: 12 }, (_, i) => `a${String(i).padStart(2, '0')}.js`)
    const contents = names.map((_, i) => noise(200 * 1024, 100 + i))
    const source = (name: string) => join(root, name)
    names.forEach((name, i) => writeFileSync(source(name), contents[i]!))
    const groupOf = () => ({ key: 'assets', path: '.', files: names.map((name) => ({ path: name, source: source(name), mode: 0o644, role: 'asset' as const, size: 200 * 1024, stat: StatCache.signature(source(name))! })) })
    // The artefact digest of pxp-format.md, computed independently: path bytes then content, in order.
    const reference = () => names.reduce((h, name, i) => h.update(name).update(contents[i]!), createHash('sha256')).digest('hex')

    const first = await hashGroup(groupOf())
    expect(first.digest.hash).toBe(reference())

    // The last file changes; the stat cache vouches for the other eleven digests.
    contents[11] = noise(200 * 1024, 999)
    writeFileSync(source(names[11]!), contents[11])
    const known = first.entries.map((e, i) => (i === 11 ? undefined : e.sha256))
    // Files before the resume point are not read again: with the first one gone, the build still passes.
    rmSync(source(names[0]!))
    const second = await hashGroup(groupOf(), known)
    expect(second.digest.hash).toBe(reference())
    expect(second.entries[11]!.sha256).toBe(createHash('sha256').update(contents[11]!).digest('hex'))
    expect(second.entries.slice(0, 11)).toEqual(first.entries.slice(0, 11))

    // When the first file is not vouched for, there is nothing to resume: it is read (and is gone).
    await expect(hashGroup(groupOf(), [undefined, ...known.slice(1)])).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('reads a stat cache file again when another process replaced it since this one saved it', () => {
    const dir = tempDir()
    const source = join(dir, 'app.js')
    writeFileSync(source, 'export const a = 1\n')
    const signature = StatCache.signature(source)!
    // Recorded well after the file's mtime, so the racy-clean rule trusts the entry.
    const recordedAt = signature.mtimeMs + 5000
    const mine = new StatCache(dir, 'hashes')
    mine.setByContent('k', 'mine')
    mine.save()
    expect(new StatCache(dir, 'hashes').getByContent('k')).toBe('mine')
    new StatCache(dir, 'hashes').save() // unchanged: this process still knows the file as it left it

    // Another build (another process) writes the same cache file.
    writeFileSync(join(dir, 'hashes.json.other.tmp'), JSON.stringify({ k: { sig: 'content', value: 'theirs', recordedAt }, [source]: { sig: signature.sig, value: 'digest', recordedAt } }))
    renameSync(join(dir, 'hashes.json.other.tmp'), join(dir, 'hashes.json'))
    const next = new StatCache(dir, 'hashes')
    expect(next.getByContent('k')).toBe('theirs')
    expect(next.get(source, source)).toBe('digest')
  })

  it('keeps the cached segments of every plugin that shares an output directory', async () => {
    const hello = copyPlayground()
    const other = copyPlayground()
    write(other, 'plugin.yaml', readFileSync(join(other, 'plugin.yaml'), 'utf8').replace(/^id: .*$/m, 'id: com.powerx.plugins.other'))
    // Different binaries: each plugin has members the other does not use.
    write(hello, 'backend/bin/linux-amd64/engine.so.data', noise(3 * 1024 * 1024, 1))
    write(other, 'backend/bin/linux-amd64/engine.so.data', noise(3 * 1024 * 1024, 2))
    const out = tempDir()
    expect((await runCli([...BUILD, '--out', out], { cwd: hello })).code).toBe(0)
    expect((await runCli([...BUILD, '--out', out], { cwd: other })).code).toBe(0)
    // The other plugin's build pruned the cache; hello's unchanged tree still finds every member
    // (but the leading files', when a signature with a new signing time is among them).
    expect((await runCli([...BUILD, '--out', out], { cwd: hello })).code).toBe(0)
    const emit = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8')).plugins['emit-pxp']
    expect(emit.segments).toBeGreaterThan(2)
    expect(emit.compressedSegments).toBeLessThanOrEqual(1)
    expect(emit.reusedSegments + emit.compressedSegments).toBe(emit.segments)
  })

  it('lets concurrent builds that prune each other\'s segments finish with the bytes of cold builds', async () => {
    // Two versions of one plugin into one output directory: each build's prune drops what the
    // other is copying, since both keep the list of the same plugin and target.
    const trees = ['1.2.0', '1.3.0'].map((version) => {
      const root = copyPlayground()
      write(root, 'plugin.yaml', readFileSync(join(root, 'plugin.yaml'), 'utf8').replace(/^version: .*$/m, `version: ${version}`))
      return { root, version }
    })
    const out = tempDir()
    for (let round = 0; round < 4; round++) {
      // Each round one tree keeps its big binary (its pieces come from the cache) and the other gets a new one.
      write(trees[round % 2]!.root, 'backend/bin/linux-amd64/engine.so.data', noise(4 * 1024 * 1024, 100 + round))
      const runs = await Promise.all(trees.map((t) => runCli([...BUILD, '--out', out], { cwd: t.root })))
      expect(runs.map((r) => r.code)).toEqual([0, 0])
    }
    for (const tree of trees) {
      const cold = tempDir()
      expect((await runCli([...BUILD, '--out', cold], { cwd: tree.root, env: { PXP_NO_CACHE: '1' } })).code).toBe(0)
      expect(sha256File(BUNDLE(out, 'linux-amd64', 'com.powerx.plugins.hello', tree.version))).toBe(sha256File(BUNDLE(cold, 'linux-amd64', 'com.powerx.plugins.hello', tree.version)))
    }
  })

  it('builds the bytes of a cold build, with a warning naming it, when the segment cache cannot be written', async () => {
    const root = copyPlayground()
    const out = tempDir()
    // Something left a file where the cache directory goes (a root-owned or read-only cache behaves alike).
    write(out, '.cache/segments', 'not a directory\n')
    const run = await runCli([...BUILD, '--out', out], { cwd: root })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toMatch(/Could not write the segment cache .*\.cache\/segments \(E(EXIST|NOTDIR)\): the bundle is complete/)
    const fresh = tempDir()
    expect((await runCli([...BUILD, '--out', fresh], { cwd: root, env: { PXP_NO_CACHE: '1' } })).code).toBe(0)
    expect(sha256File(BUNDLE(out))).toBe(sha256File(BUNDLE(fresh)))

    // The same once the directory exists but a write into it fails: caching stops, the build goes on.
    const cache = new SegmentCache(tempDir())
    rmSync(cache.dir, { recursive: true })
    await cache.put('k1', Buffer.from('a gzip member'))
    expect(cache.writeError?.code).toBe('ENOENT')
    expect(() => cache.prune('com.example.hello-linux-amd64', new Set(['k1']))).not.toThrow()
  })

  it('replaces the bundle and deletes the old one at once when <out>/.trash cannot be made', async () => {
    const root = copyPlayground()
    const out = tempDir()
    write(out, '.trash', 'a file where the trash folder goes\n')
    expect((await runCli([...BUILD, '--out', out], { cwd: root })).code).toBe(0)
    write(root, 'README.md', '# second build\n')
    const second = await runCli([...BUILD, '--out', out], { cwd: root })
    expect(second.code, second.stderr).toBe(0)
    expect(sha256File(BUNDLE(out))).toBe(second.json.targets[0].sha256)
    expect(readdirSync(join(BUNDLE_DIR(out), '..'))).toEqual(['linux-amd64']) // no linux-amd64.previous left
    expect(readFileSync(join(out, '.trash'), 'utf8')).toBe('a file where the trash folder goes\n')
  })

  it('keeps a cached member it opened readable when a concurrent prune deletes it', () => {
    const cache = new SegmentCache(tempDir())
    const member = Buffer.from('a gzip member')
    writeFileSync(join(cache.dir, 'k1.gz'), member)
    const held = cache.open('k1')!
    cache.prune('com.example.other-linux-amd64', new Set()) // another build, using nothing of ours
    expect(cache.has('k1')).toBe(false)
    expect(Buffer.from(cache.readOpen(held, Buffer.alloc(64)))).toEqual(member)
    expect(cache.open('k1')).toBeUndefined()
  })
})
