/**
 * Reading files without allocating per chunk. fs streams allocate a fresh buffer for every read,
 * and on a 200 MB bundle the garbage outruns the collector by tens of megabytes; these helpers
 * reuse one buffer (or read straight into the caller's), so memory stays flat.
 */
import { open } from 'node:fs/promises'

const CHUNK = 1 << 20

/**
 * Yields views of one reused buffer: each chunk is valid only until the next one is requested,
 * so consumers must use it synchronously (hash it, scan it) or copy it.
 */
export async function* readChunks(path: string, start = 0, end = Infinity): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.allocUnsafe(CHUNK)
    let position = start
    while (position < end) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, end - position), position)
      if (bytesRead === 0) return
      position += bytesRead
      yield buffer.subarray(0, bytesRead)
    }
  } finally {
    await handle.close()
  }
}

/** Reads `length` bytes at `start` of the file into `target` at `offset`; returns how many were read. */
export async function readInto(path: string, target: Buffer, offset: number, start: number, length: number): Promise<number> {
  const handle = await open(path, 'r')
  try {
    let done = 0
    while (done < length) {
      const { bytesRead } = await handle.read(target, offset + done, length - done, start + done)
      if (bytesRead === 0) break
      done += bytesRead
    }
    return done
  } finally {
    await handle.close()
  }
}
