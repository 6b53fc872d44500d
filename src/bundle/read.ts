/**
 * Reading files without needless allocation or round trips. fs streams allocate a fresh buffer for
 * every read, and on a 200 MB bundle the garbage outruns the collector by tens of megabytes; these
 * helpers reuse one buffer (or read straight into the caller's), so memory stays flat.
 *
 * Small files (most of an admin UI) are read with blocking calls: an async open, read and close
 * are three thread-pool round trips, which cost far more than reading a few kilobytes from the
 * page cache, and thousands of them in a row left the process mostly idle.
 */
import { closeSync, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs'
import { open } from 'node:fs/promises'

const CHUNK = 1 << 20
/** Files (and ranges) below this size are read synchronously. */
export const SMALL_FILE = 256 * 1024

/**
 * Yields views of one reused buffer: each chunk is valid only until the next one is requested,
 * so consumers must use it synchronously (hash it, scan it) or copy it. `sizeHint` is the size
 * stat reported; a small file gets a buffer of its size instead of a megabyte.
 */
export async function* readChunks(path: string, start = 0, end = Infinity, sizeHint?: number): AsyncGenerator<Buffer> {
  if (sizeHint !== undefined && sizeHint < SMALL_FILE) {
    // +1: a file that grew since stat still reads to its end, in more than one chunk.
    const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(sizeHint, end) - start + 1))
    const fd = openSync(path, 'r')
    try {
      for (let position = start; position < end; ) {
        const bytesRead = readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position)
        if (bytesRead === 0) return
        position += bytesRead
        yield buffer.subarray(0, bytesRead)
      }
    } finally {
      closeSync(fd)
    }
    return
  }
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
  if (length < SMALL_FILE) return readIntoSync(path, target, offset, start, length)
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

/**
 * Reads a whole (small) file with blocking calls, handing each chunk of `scratch` to `onChunk`
 * (valid only during the call). Returns the open file's stats taken after the last read, so the
 * caller can tell whether the file changed while it was being read.
 */
export function readWholeSync(path: string, scratch: Buffer, onChunk: (chunk: Buffer) => void): BigIntStats {
  const fd = openSync(path, 'r')
  try {
    for (let position = 0, bytesRead; (bytesRead = readSync(fd, scratch, 0, scratch.length, position)) > 0; position += bytesRead) {
      onChunk(scratch.subarray(0, bytesRead))
    }
    return fstatSync(fd, { bigint: true })
  } finally {
    closeSync(fd)
  }
}

/** `readInto` with blocking calls, for callers that read many small or page-cached files in a row. */
export function readIntoSync(path: string, target: Buffer, offset: number, start: number, length: number): number {
  const fd = openSync(path, 'r')
  try {
    return readFdSync(fd, target, offset, start, length)
  } finally {
    closeSync(fd)
  }
}

/** `readIntoSync` on a file the caller holds open. */
export function readFdSync(fd: number, target: Buffer, offset: number, start: number, length: number): number {
  let done = 0
  while (done < length) {
    const bytesRead = readSync(fd, target, offset + done, length - done, start + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}
