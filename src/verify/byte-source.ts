/**
 * Pull-based reading of a decompressed stream: exact-size reads for headers and metadata, chunked
 * streaming for entry bodies. Only the bytes asked for (plus one upstream chunk) are ever held.
 */
export class ByteSource {
  #iterator: AsyncIterator<Buffer>
  /** Unconsumed upstream chunks, oldest first; joined only when an exact read needs it. */
  #pending: Buffer[] = []
  #pendingBytes = 0
  #done = false
  /** Every decompressed byte pulled so far. */
  consumed = 0

  constructor(stream: AsyncIterable<Buffer>, private readonly onChunk: (chunk: Buffer) => void = () => {}) {
    this.#iterator = stream[Symbol.asyncIterator]()
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false
    const next = await this.#iterator.next()
    if (next.done) {
      this.#done = true
      return false
    }
    this.consumed += next.value.length
    this.onChunk(next.value)
    this.#pending.push(next.value)
    this.#pendingBytes += next.value.length
    return true
  }

  #take(size: number): Buffer {
    const joined = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending)
    const out = joined.subarray(0, size)
    const rest = joined.subarray(size)
    this.#pending = rest.length > 0 ? [rest] : []
    this.#pendingBytes = rest.length
    return out
  }

  /** Exactly `size` bytes, or null at a clean end of stream; a partial read is `truncated`. */
  async read(size: number): Promise<Buffer | null> {
    while (this.#pendingBytes < size) {
      if (!(await this.#fill())) {
        if (this.#pendingBytes === 0) return null
        throw new TruncatedError()
      }
    }
    return this.#take(size)
  }

  /** `size` bytes as a sequence of chunks. */
  async *stream(size: number): AsyncGenerator<Buffer> {
    let left = size
    while (left > 0) {
      if (this.#pendingBytes === 0 && !(await this.#fill())) throw new TruncatedError()
      const first = this.#pending[0]!
      const take = Math.min(left, first.length)
      const out = first.subarray(0, take)
      if (take === first.length) this.#pending.shift()
      else this.#pending[0] = first.subarray(take)
      this.#pendingBytes -= take
      left -= take
      yield out
    }
  }

  /** Whether everything left in the stream is zero bytes (tar end-of-archive padding). */
  async restIsZero(): Promise<boolean> {
    do {
      if (this.#pending.some((chunk) => chunk.some((byte) => byte !== 0))) return false
      this.#pending = []
      this.#pendingBytes = 0
    } while (await this.#fill())
    return true
  }

  async close(): Promise<void> {
    await this.#iterator.return?.()
  }
}

export class TruncatedError extends Error {
  constructor() {
    super('the archive ends in the middle of an entry')
  }
}
