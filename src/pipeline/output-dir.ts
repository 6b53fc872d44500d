/**
 * Where a run writes: everything goes to `<out>/.tmp/<runId>/` first and is renamed into
 * `<out>/<id>/<version>/<os>-<arch>/` only when complete, so a failed or interrupted run never
 * leaves a partial bundle at a final path and never removes the last good one.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { PxpError } from '../errors.js'

export function ensureWritableDir(dir: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true })
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new PxpError('OUTPUT_NOT_WRITABLE', `Cannot write the ${what} ${dir} (${code ?? 'error'}).`, {
      hint: 'Choose another --out, or fix the directory permissions; nothing was changed in the previous outputs.',
      cause: error,
    })
  }
}

export function finalDirOf(out: string, id: string, version: string, os: string, arch: string): string {
  return join(out, id, version, `${os}-${arch}`)
}

/**
 * Swaps a complete staging directory into place: the old directory is moved aside first and only
 * deleted after the new one is in, and a crash between the two renames is repaired by
 * `recoverInterruptedCommit` on the next run.
 */
export function commitDirectory(staging: string, final: string): void {
  mkdirSync(dirname(final), { recursive: true })
  const aside = `${final}.previous`
  rmSync(aside, { recursive: true, force: true })
  if (existsSync(final)) renameSync(final, aside)
  try {
    renameSync(staging, final)
  } catch (error) {
    if (existsSync(aside)) renameSync(aside, final)
    throw new PxpError('OUTPUT_NOT_WRITABLE', `Cannot move the new bundle into ${final}.`, { cause: error, hint: 'Check the permissions of the output directory.' })
  }
  rmSync(aside, { recursive: true, force: true })
}

/** Restores `<final>.previous` when a crash happened between moving it aside and moving the new one in. */
export function recoverInterruptedCommit(final: string): void {
  const aside = `${final}.previous`
  if (!existsSync(aside)) return
  if (existsSync(final)) rmSync(aside, { recursive: true, force: true })
  else renameSync(aside, final)
}
