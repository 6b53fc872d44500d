/**
 * Content-addressed cache of compressed segments under `<cacheDir>/segments/`. A key names the
 * exact uncompressed bytes (headers, file digests, ranges), and compression is deterministic, so a
 * cached member is the member a cold build would write. Files are written to a temp name and
 * renamed, so a crash never leaves a partial member behind.
 *
 * Several builds may share one output directory, and each prunes what its own plugin and target
 * no longer use. A build therefore holds the members it cannot do without (a big file's pieces)
 * open from the moment it decides to reuse them: an open file stays readable after a concurrent
 * prune unlinks it.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readFdSync } from '../../src/plugin-api.js'

/** A cached member held open until it is copied. */
export interface OpenMember { fd: number; size: number }

export class SegmentCache {
  readonly dir: string
  /**
   * Why writing to the cache failed, if it did. The cache only saves time: a bundle whose members
   * could not be cached is still whole, so a failed write stops caching instead of the build.
   */
  writeError: NodeJS.ErrnoException | undefined
  private made = false
  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'segments')
    try {
      mkdirSync(this.dir, { recursive: true })
      this.made = true
    } catch (error) {
      this.writeError = error as NodeJS.ErrnoException
    }
  }

  private path(key: string): string {
    return join(this.dir, `${key}.gz`)
  }

  has(key: string): boolean {
    return existsSync(this.path(key))
  }

  /**
   * The member, read synchronously into `scratch` when it fits (a rebuild copies a hundred-odd
   * members in a row; blocking reads from the page cache beat thread-pool round trips, and one
   * reused buffer leaves no garbage). Undefined when it is gone.
   */
  read(key: string, scratch: Buffer): Buffer | undefined {
    const member = this.open(key)
    return member && this.readOpen(member, scratch)
  }

  /** Opens a member so that it stays readable whatever happens to the cache; undefined when it is not there. */
  open(key: string): OpenMember | undefined {
    let fd: number
    try {
      fd = openSync(this.path(key), 'r')
    } catch {
      return undefined // missing, or out of file descriptors: then it is made again
    }
    return { fd, size: fstatSync(fd).size }
  }

  /** Reads an opened member (into `scratch` when it fits) and closes it. */
  readOpen(member: OpenMember, scratch: Buffer): Buffer {
    const target = member.size <= scratch.length ? scratch : Buffer.allocUnsafe(member.size)
    try {
      return target.subarray(0, readFdSync(member.fd, target, 0, 0, member.size))
    } finally {
      this.close(member)
    }
  }

  close(member: OpenMember): void {
    if (member.fd < 0) return
    closeSync(member.fd)
    member.fd = -1
  }

  async put(key: string, member: Buffer): Promise<void> {
    if (this.writeError) return
    const tmp = `${this.path(key)}.${process.pid}.tmp`
    try {
      await writeFile(tmp, member)
      await rename(tmp, this.path(key))
    } catch (error) {
      this.writeError ??= error as NodeJS.ErrnoException
      rmSync(tmp, { force: true })
    }
  }

  /**
   * Records what this build of a plugin and target used (`owner`: `<id>-<os>-<arch>`) and drops
   * members that no plugin's and target's last build used, so plugins sharing an output directory
   * keep each other's members.
   */
  prune(owner: string, used: Set<string>): void {
    if (!this.made) return
    const keep = new Set<string>(used)
    try {
      writeFileSync(join(this.dir, `used-by-${owner}.json`), JSON.stringify([...used]))
    } catch (error) {
      this.writeError ??= error as NodeJS.ErrnoException // still prune: on a full disk that helps
    }
    let names: string[]
    try {
      names = readdirSync(this.dir)
    } catch {
      return // the cache is gone: nothing to prune
    }
    for (const name of names) {
      if (!name.startsWith('used-by-')) continue
      try {
        for (const key of JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as string[]) keep.add(key)
      } catch {
        // A torn index only means less is kept.
      }
    }
    for (const name of names) {
      if (name.endsWith('.gz') && !keep.has(name.slice(0, -3))) rmSync(join(this.dir, name), { force: true })
    }
  }
}
