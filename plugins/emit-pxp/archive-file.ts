/**
 * The bundle file while it is written. Members are hashed on the main thread while the thread pool
 * is still writing earlier ones, and the file is flushed to disk in the background as it grows, so
 * the closing fsync waits for the last few megabytes instead of the whole bundle. A rebuild that
 * copies a hundred cached megabytes spends its time hashing, not waiting on writes.
 */
import { createHash } from 'node:crypto'
import { closeSync, fdatasync, fsync, openSync, write } from 'node:fs'
import { promisify } from 'node:util'
import { fileSystemHint, PxpError } from '../../src/plugin-api.js'

const writeAsync = promisify(write)
const fdatasyncAsync = promisify(fdatasync)
const fsyncAsync = promisify(fsync)

/** Writes allowed in flight; also the number of reusable read buffers. */
const IN_FLIGHT = 4
const SCRATCH_SIZE = 2 << 20
/** Start a background flush after this much unflushed data. */
const FLUSH_EVERY = 16 << 20

export class ArchiveFile {
  private readonly fd: number
  private readonly hash = createHash('sha256')
  private readonly pending: Promise<void>[] = []
  private readonly scratch = Array.from({ length: IN_FLIGHT }, () => ({ buffer: Buffer.allocUnsafe(SCRATCH_SIZE), written: Promise.resolve() }))
  private turn = 0
  private size = 0
  private unflushed = 0
  private flushing: Promise<void> | undefined
  private flushError: unknown

  constructor(private readonly path: string) {
    try {
      this.fd = openSync(path, 'w', 0o644)
    } catch (error) {
      throw this.failed(error)
    }
  }

  /** Appends a member; resolves once there is room for another write. Do not change it afterwards. */
  async append(member: Buffer): Promise<void> {
    this.start(member)
    await this.makeRoom()
  }

  /**
   * Appends what `fill` reads into a reusable buffer (or returns in a buffer of its own); false,
   * and nothing appended, when `fill` finds nothing.
   */
  async appendFrom(fill: (scratch: Buffer) => Buffer | undefined): Promise<boolean> {
    const slot = this.scratch[this.turn++ % IN_FLIGHT]!
    await slot.written
    const member = fill(slot.buffer)
    if (!member) return false
    slot.written = this.start(member)
    await this.makeRoom()
    return true
  }

  private async makeRoom(): Promise<void> {
    if (this.pending.length <= IN_FLIGHT) return
    try {
      await this.pending.shift()
    } catch (error) {
      throw this.failed(error)
    }
  }

  /** Waits for every write, makes the file durable and returns its digest and size. */
  async finish(): Promise<{ sha256: string; size: number }> {
    try {
      for (let next = this.pending.shift(); next; next = this.pending.shift()) await next
      await this.flushing
      // Linux reports a writeback error to one sync call only: the background flush may have seen it.
      if (this.flushError) throw this.flushError
      await fsyncAsync(this.fd)
    } catch (error) {
      throw this.failed(error)
    }
    return { sha256: this.hash.digest('hex'), size: this.size }
  }

  /** A full disk or a file-size limit is the output's problem, said with the bundle's path. */
  private failed(error: unknown): unknown {
    const code = (error as NodeJS.ErrnoException).code
    const hint = fileSystemHint(code)
    if (!hint) return error
    return new PxpError('OUTPUT_NOT_WRITABLE', `Cannot write the bundle ${this.path} (${code}).`, { path: this.path, hint: `${hint} The previous bundle is untouched.`, cause: error })
  }

  /** Closes the file once nothing is still writing to it (also after a failure). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pending, this.flushing])
    closeSync(this.fd)
  }

  private start(member: Buffer): Promise<void> {
    const position = this.size
    this.hash.update(member)
    this.size += member.length
    const written = writeFully(this.fd, member, position)
    written.catch(() => {}) // awaited through `pending`; must not also count as unhandled
    this.pending.push(written)
    this.unflushed += member.length
    if (this.unflushed >= FLUSH_EVERY && !this.flushing) {
      this.unflushed = 0
      this.flushing = fdatasyncAsync(this.fd).then(
        () => void (this.flushing = undefined),
        (error: unknown) => void ((this.flushError ??= error), (this.flushing = undefined)),
      )
    }
    return written.catch(() => {})
  }
}

async function writeFully(fd: number, buffer: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buffer.length; ) {
    const { bytesWritten } = await writeAsync(fd, buffer, done, buffer.length - done, position + done)
    done += bytesWritten
  }
}
