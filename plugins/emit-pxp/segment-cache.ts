/**
 * Content-addressed cache of compressed segments under `<cacheDir>/segments/`. A key names the
 * exact uncompressed bytes (headers, file digests, ranges), and compression is deterministic, so a
 * cached member is the member a cold build would write. Files are written to a temp name and
 * renamed, so a crash never leaves a partial member behind.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readIntoSync } from '../../src/plugin-api.js'

export class SegmentCache {
  readonly dir: string
  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'segments')
    mkdirSync(this.dir, { recursive: true })
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
    const path = this.path(key)
    const size = statSync(path, { throwIfNoEntry: false })?.size
    if (size === undefined) return undefined
    const target = size <= scratch.length ? scratch : Buffer.allocUnsafe(size)
    try {
      return readIntoSync(path, target, 0, 0, size) === size ? target.subarray(0, size) : undefined
    } catch {
      return undefined // removed between the stat and the read
    }
  }

  async put(key: string, member: Buffer): Promise<void> {
    const tmp = `${this.path(key)}.${process.pid}.tmp`
    await writeFile(tmp, member)
    await rename(tmp, this.path(key))
  }

  /** Records what this target's build used and drops members no target's last build used. */
  prune(target: string, used: Set<string>): void {
    writeFileSync(join(this.dir, `used-${target}.json`), JSON.stringify([...used]))
    const keep = new Set<string>()
    for (const name of readdirSync(this.dir)) {
      if (!name.startsWith('used-')) continue
      try {
        for (const key of JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as string[]) keep.add(key)
      } catch {
        // A torn index only means less is kept.
      }
    }
    for (const name of readdirSync(this.dir)) {
      if (name.endsWith('.gz') && !keep.has(name.slice(0, -3))) rmSync(join(this.dir, name), { force: true })
    }
  }
}
