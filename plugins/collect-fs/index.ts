/**
 * collect-fs: adds the plugin repository's payload to the bundle graph (pxp-format.md "What goes
 * in"): the fixed payload paths, the target's own `backend/bin/<os>-<arch>/` packed as
 * `backend/bin/`, the config's `assets`, minus `ignore`. It refuses secrets, symlinks (unless
 * dereferenced) and executables built for another platform, naming the file each time.
 */
import { realpath } from 'node:fs/promises'
import { join } from 'node:path'
import picomatch from 'picomatch'
import { glob } from 'tinyglobby'
import { definePlugin, PxpError, readChunks, StatCache, type PluginContext, type TargetConfig } from '../../src/plugin-api.js'
import { detectPlatforms } from './executable-format.js'
import { MARKER_OVERLAP, PEM_PRIVATE_KEY, secretNameMatcher } from './secrets.js'
import { walk, type FoundFile } from './walk.js'

const PAYLOAD = [
  'plugin.yaml', 'plugin.d', 'config', 'backend/bin', 'backend/etc', 'web-admin/.output', 'web-admin/i18n',
  'migrations', 'contracts', 'docs/contracts', 'extensions', 'skills', 'README.md', 'LICENSE',
]
const TARGET_DIR = /^backend\/bin\/((?:linux|darwin|windows|freebsd)-(?:amd64|arm64|386|arm|riscv64|ppc64le|s390x|loong64))(?:\/|$)/
const SCAN_CONCURRENCY = 4

export default definePlugin(() => ({
  name: 'collect-fs',
  async collect(this: PluginContext) {
    const { root, offline } = this.config
    const target = this.target
    const rootReal = await realpath(root)
    const ownTargetDir = `${target.os}-${target.arch}`
    const walkOptions = {
      dereference: offline.dereference,
      rootReal,
      // Other targets' binary folders are not this target's business.
      skipDir: (rel: string) => {
        const m = TARGET_DIR.exec(rel + '/')
        return m !== null && m[1] !== ownTargetDir
      },
    }
    const found: FoundFile[] = []
    for (const path of PAYLOAD) found.push(...walk(root, join(root, path), walkOptions))
    const assetGlobs = [...offline.assets, ...(target.assets ?? [])]
    if (assetGlobs.length > 0) {
      const matches = await glob(assetGlobs, { cwd: root, dot: true, onlyFiles: false, followSymbolicLinks: false, expandDirectories: false })
      for (const rel of matches.sort()) found.push(...walk(root, join(root, rel), walkOptions))
    }

    const ignored = picomatch([...offline.ignore, ...(target.ignore ?? [])].flatMap(expandDirGlob), { dot: true })
    const isSecretName = secretNameMatcher(offline.secretPatterns)
    const files = new Map<string, FoundFile>()
    for (const file of found) {
      const bundlePath = toBundlePath(file.rel, target)
      if (ignored(file.rel) || ignored(bundlePath)) continue
      const earlier = files.get(bundlePath)
      if (earlier?.source === file.source) continue // an asset glob matched a payload file again
      if (isSecretName(file.rel)) throw secretError(file.rel, 'its name marks it as a secret')
      if (earlier) {
        throw new PxpError('PATH_COLLISION', `"${bundlePath}" is added twice (from ${earlier.rel} and ${file.rel}).`, {
          path: bundlePath,
          hint: `Keep the file either in backend/bin/ (all targets) or in backend/bin/${ownTargetDir}/ (this target), not both.`,
        })
      }
      files.set(bundlePath, file)
    }

    // A file already inspected for this target and unchanged since (by stat) is not read again.
    const cache = process.env.PXP_NO_CACHE === '1' ? undefined : new StatCache(this.cacheDir, `inspected-${ownTargetDir}`)
    const verdict = `clean:${ownTargetDir}`
    const keep = new Set<string>()
    await mapLimit([...files.values()], SCAN_CONCURRENCY, async (file) => {
      const key = `${ownTargetDir}:${file.source}`
      keep.add(key)
      if (cache?.get(key, file.source, file.stat) === verdict) return
      await inspect(file, target)
      cache?.set(key, file.source, verdict, file.stat)
    })
    cache?.save(keep)
    for (const [bundlePath, file] of files) {
      this.addFile({ path: bundlePath, source: file.source, executable: file.executable, stat: file.stat })
    }
    this.report({ files: files.size, targetDir: `backend/bin/${ownTargetDir}` })
  },
}))

function toBundlePath(rel: string, target: TargetConfig): string {
  const prefix = `backend/bin/${target.os}-${target.arch}/`
  return rel.startsWith(prefix) ? `backend/bin/${rel.slice(prefix.length)}` : rel
}

/** `dir/` or a bare directory name in ignore means everything below it, like .gitignore. */
function expandDirGlob(pattern: string): string[] {
  const trimmed = pattern.replace(/\/+$/, '')
  return [trimmed, `${trimmed}/**`]
}

function secretError(rel: string, why: string): PxpError {
  return new PxpError('SECRET_IN_TREE', `Refusing to pack ${rel}: ${why}.`, {
    path: rel,
    hint: 'Remove it from the plugin tree (keys belong in a secret store), or exclude it with offline.ignore if it is not a secret.',
  })
}

/** One streaming read per file: the executable platform check on the head, the PEM scan on everything. */
async function inspect(file: FoundFile, target: TargetConfig): Promise<void> {
  let head = true
  let carry: Buffer = Buffer.alloc(0)
  for await (const chunk of readChunks(file.source, 0, Infinity, file.size)) {
    if (head) {
      head = false
      const platforms = detectPlatforms(chunk)
      if (platforms && !platforms.some((p) => p.os === target.os && p.arch === target.arch)) {
        const found = platforms.map((p) => `${p.format} ${p.os}/${p.arch}`).join(', ')
        throw new PxpError('PLATFORM_MISMATCH', `${file.rel} is a ${found} executable, but the target is ${target.os}/${target.arch}.`, {
          path: file.rel,
          hint: `Build it for ${target.os}/${target.arch} and put it under backend/bin/${target.os}-${target.arch}/.`,
        })
      }
    }
    // Search the chunk in place, and the seam with the previous chunk separately: concatenating
    // every chunk would allocate as much garbage as the file is large.
    const seam = carry.length ? Buffer.concat([carry, chunk.subarray(0, MARKER_OVERLAP)]) : undefined
    for (const window of seam ? [seam, chunk] : [chunk]) {
      if (window.indexOf('PRIVATE KEY-----') !== -1 && PEM_PRIVATE_KEY.test(window.toString('latin1'))) {
        throw secretError(file.rel, 'it contains a PEM private key block')
      }
    }
    // Copied: the chunk's buffer is reused by the next read.
    carry = Buffer.from(chunk.subarray(Math.max(0, chunk.length - MARKER_OVERLAP)))
  }
}

async function mapLimit<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!)
  })
  await Promise.all(workers)
}
