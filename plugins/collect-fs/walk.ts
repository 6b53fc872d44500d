/**
 * Walks the plugin root for the payload paths of pxp-format.md. Symlinks are refused unless the
 * config dereferences them, and a target outside the root is refused always.
 */
import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { relative, sep } from 'node:path'
import { PxpError, StatCache, type StatSignature } from '../../src/plugin-api.js'

export interface FoundFile {
  /** Path relative to the plugin root, `/`-separated. */
  rel: string
  /** The file to read (the symlink target when dereferenced). */
  source: string
  executable: boolean
  /** Size when walked (a hint for reading; the hash stage has the last word). */
  size: number
  /** The walk's stat of `source`, which every stat-keyed cache of the build reuses. */
  stat: StatSignature
}

/**
 * Synchronous on purpose: a walk is thousands of tiny metadata calls in sequence, and each async
 * one is a thread-pool round trip that costs more than the call.
 */
export function walk(root: string, start: string, options: { dereference: boolean; rootReal: string; skipDir?: (rel: string) => boolean }): FoundFile[] {
  const out: FoundFile[] = []
  // Real paths of the directories on the current descent: a dereferenced link back into one of
  // them would recurse forever.
  const ancestors = new Set<string>(start === root ? [] : [options.rootReal])
  const visit = (abs: string, rel: string): void => {
    const info = lstatSync(abs, { bigint: true })
    if (info.isSymbolicLink()) {
      if (!options.dereference) {
        throw new PxpError('SYMLINK_REFUSED', `${rel} is a symlink; bundles hold only regular files and directories.`, {
          path: rel,
          hint: 'Replace it with a copy, exclude it with offline.ignore, or set offline.dereference: true to store its target.',
        })
      }
      const target = realpathOrNull(abs)
      if (!target || !(target === options.rootReal || target.startsWith(options.rootReal + sep))) {
        throw new PxpError('SYMLINK_OUTSIDE_ROOT', `${rel} is a symlink to ${target ?? 'a missing file'}, outside the plugin root.`, {
          path: rel,
          hint: 'Copy the file into the plugin repository; links may only point inside it.',
        })
      }
      const targetInfo = statSync(target, { bigint: true })
      if (targetInfo.isDirectory()) return visitDir(abs, rel)
      out.push({ rel, source: target, executable: (targetInfo.mode & 0o100n) !== 0n, size: Number(targetInfo.size), stat: StatCache.signatureOf(targetInfo) })
      return
    }
    if (info.isDirectory()) return visitDir(abs, rel)
    if (!info.isFile()) {
      throw new PxpError('SPECIAL_FILE', `${rel} is not a regular file (socket, FIFO or device).`, { path: rel, hint: 'Remove it or exclude it with offline.ignore.' })
    }
    out.push({ rel, source: abs, executable: (info.mode & 0o100n) !== 0n, size: Number(info.size), stat: StatCache.signatureOf(info) })
  }
  const visitDir = (abs: string, rel: string): void => {
    if (options.skipDir?.(rel)) return
    // Only a dereferenced link can lead back into an ancestor; without them there is nothing to track.
    const real = options.dereference ? realpathSync(abs) : undefined
    if (real !== undefined && ancestors.has(real)) {
      throw new PxpError('SYMLINK_LOOP', `${rel} links back to a directory that contains it.`, { path: rel, hint: 'Remove the link, or exclude it with offline.ignore.' })
    }
    if (real !== undefined) ancestors.add(real)
    try {
      for (const name of readdirSync(abs)) visit(abs + sep + name, rel === '' ? name : `${rel}/${name}`)
    } finally {
      if (real !== undefined) ancestors.delete(real)
    }
  }
  try {
    visit(start, relative(root, start).split(sep).join('/'))
  } catch (error) {
    if (!((error as NodeJS.ErrnoException).code === 'ENOENT' && (error as NodeJS.ErrnoException).path === start)) throw error
  }
  return out
}

function realpathOrNull(path: string): string | null {
  try {
    return realpathSync(path)
  } catch {
    return null
  }
}
