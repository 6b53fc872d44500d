/**
 * Remembers a value computed from a file's content (its SHA-256, "no secrets in it") keyed by what
 * `stat` says about the file, like git's index. An entry is trusted only when size, inode, mtime
 * and ctime (nanoseconds) all match and the file was last modified before the entry was recorded
 * (git's "racy clean" rule: an edit in the same instant as the recording is not trusted).
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync, type BigIntStats } from 'node:fs'
import { dirname, join } from 'node:path'

/** What stat says about a file, as the cache compares it. */
export interface StatSignature { sig: string; mtimeMs: number; size: number }

interface Entry { sig: string; value: string; recordedAt: number }

const RACY_MS = 1000

export class StatCache {
  private readonly file: string
  private entries: Record<string, Entry>
  private dirty = false

  constructor(cacheDir: string, name: string) {
    this.file = join(cacheDir, `${name}.json`)
    const mine = lastSaved.get(this.file)
    lastSaved.delete(this.file) // this instance owns (and changes) those entries now
    if (mine && StatCache.signature(this.file)?.sig === mine.sig) {
      this.entries = mine.entries
      return
    }
    try {
      this.entries = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, Entry>
    } catch {
      this.entries = {}
    }
  }

  /** The stat signature of a file, or undefined when it cannot be stat'ed. */
  static signature(path: string): StatSignature | undefined {
    try {
      return StatCache.signatureOf(statSync(path, { bigint: true }))
    } catch {
      return undefined
    }
  }

  /** The signature of stats a caller already has (a walk's lstat), so the file is not stat'ed again. */
  static signatureOf(s: BigIntStats): StatSignature {
    return { sig: `${s.size}:${s.ino}:${s.mtimeNs}:${s.ctimeNs}`, mtimeMs: Number(s.mtimeMs), size: Number(s.size) }
  }

  /** `now` lets a caller that already stat'ed the file (to remember it later) avoid a second stat. */
  get(key: string, path: string, now = StatCache.signature(path)): string | undefined {
    const entry = this.entries[key]
    if (!entry) return undefined
    if (!now || now.sig !== entry.sig || now.mtimeMs >= entry.recordedAt - RACY_MS) return undefined
    return entry.value
  }

  set(key: string, path: string, value: string, signature = StatCache.signature(path)): void {
    if (!signature) return
    this.entries[key] = { sig: signature.sig, value, recordedAt: Date.now() }
    this.dirty = true
  }

  /** A value keyed by content alone (the key already names the content, e.g. a digest of digests). */
  getByContent(key: string): string | undefined {
    const entry = this.entries[key]
    return entry?.sig === 'content' ? entry.value : undefined
  }

  setByContent(key: string, value: string): void {
    this.entries[key] = { sig: 'content', value, recordedAt: Date.now() }
    this.dirty = true
  }

  /** Writes the cache atomically; entries not touched in this run are dropped. */
  save(keep?: Set<string>): void {
    if (keep) {
      for (const key of Object.keys(this.entries)) {
        if (!keep.has(key)) {
          delete this.entries[key]
          this.dirty = true
        }
      }
    }
    if (this.dirty) {
      mkdirSync(dirname(this.file), { recursive: true })
      const tmp = `${this.file}.${process.pid}.tmp`
      writeFileSync(tmp, JSON.stringify(this.entries))
      renameSync(tmp, this.file)
      this.dirty = false
    }
    const sig = StatCache.signature(this.file)?.sig
    if (sig) lastSaved.set(this.file, { sig, entries: this.entries })
  }
}

/**
 * What this process last saved to each cache file, with the file's stat signature right after:
 * the next build in the same process (watch mode) takes the entries as they are instead of
 * parsing its own JSON again. Another writer changes the file's signature (a rename makes a new
 * inode), and then the file is read as usual.
 */
const lastSaved = new Map<string, { sig: string; entries: Record<string, Entry> }>()
