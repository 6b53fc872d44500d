/**
 * Content-addressed cache of compressed segments under `<cacheDir>/segments/`. A key names the
 * exact uncompressed bytes (headers, file digests, ranges), and compression is deterministic, so a
 * cached member is the member a cold build would write. Files are written to a temp name and
 * renamed, so a crash never leaves a partial member behind.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export class SegmentCache {
  readonly dir: string
  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'segments')
    mkdirSync(this.dir, { recursive: true })
  }

  private path(key: string): string {
    return join(this.dir, `${key}.gz`)
  }

  async get(key: string): Promise<Buffer | undefined> {
    return readFile(this.path(key)).catch(() => undefined)
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
