import { closeSync, fsyncSync, openSync, renameSync, writeSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

/** Write to a temp file, fsync, rename over the target, fsync the directory: all or nothing. */
export function writeFileAtomic(file: string, content: string): void {
  mkdirSync(dirname(file), { recursive: true })
  const tmp = `${file}.tmp-${process.pid}`
  const fd = openSync(tmp, 'w', 0o600)
  try {
    writeSync(fd, content)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
  try {
    const dfd = openSync(dirname(file), 'r')
    try {
      fsyncSync(dfd)
    } finally {
      closeSync(dfd)
    }
  } catch {
    // Directory fsync is not supported everywhere; the rename is still atomic.
  }
}

/** Appends one line and fsyncs it. */
export function appendLineSync(file: string, line: string): void {
  mkdirSync(dirname(file), { recursive: true })
  const fd = openSync(file, 'a', 0o600)
  try {
    writeSync(fd, line.endsWith('\n') ? line : line + '\n')
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
