/**
 * Where a run writes: everything goes to `<out>/.tmp/<runId>/` first and is renamed into
 * `<out>/<id>/<version>/<os>-<arch>/` only when complete, so a failed or interrupted run never
 * leaves a partial bundle at a final path and never removes the last good one.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileSystemHint, PxpError } from '../errors.js'

export function ensureWritableDir(dir: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true })
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new PxpError('OUTPUT_NOT_WRITABLE', `Cannot write the ${what} ${dir} (${code ?? 'error'}).`, {
      hint: `${fileSystemHint(code) ?? 'Choose another --out, or fix the directory.'} Nothing was changed in the previous outputs.`,
      cause: error,
    })
  }
}

export function finalDirOf(out: string, id: string, version: string, os: string, arch: string): string {
  return join(out, id, version, `${os}-${arch}`)
}

/**
 * Swaps a complete staging directory into place: the old directory is moved aside first and only
 * discarded after the new one is in, and a crash between the two renames is repaired by
 * `recoverInterruptedCommit` on the next run. Discarding is a rename into `<out>/.trash`: deleting
 * a large bundle that is on disk takes tens of milliseconds, which the next run spends on a spare
 * core while it starts (`emptyTrash`).
 */
export function commitDirectory(staging: string, final: string, out: string): void {
  mkdirSync(dirname(final), { recursive: true })
  const aside = `${final}.previous`
  if (existsSync(aside)) moveToTrash(aside, out)
  if (existsSync(final)) renameSync(final, aside)
  try {
    renameSync(staging, final)
  } catch (error) {
    if (existsSync(aside)) renameSync(aside, final)
    throw new PxpError('OUTPUT_NOT_WRITABLE', `Cannot move the new bundle into ${final}.`, { cause: error, hint: 'Check the permissions of the output directory.' })
  }
  if (existsSync(aside)) moveToTrash(aside, out)
}

const trashOf = (out: string) => join(out, '.trash')

function moveToTrash(path: string, out: string): void {
  try {
    mkdirSync(trashOf(out), { recursive: true })
    renameSync(path, join(trashOf(out), `${Date.now()}-${randomBytes(4).toString('hex')}`))
  } catch {
    // E.g. the bundle folder is another file system than <out>: delete it here instead.
    rmSync(path, { recursive: true, force: true })
  }
}

/**
 * Deletes what earlier runs discarded. Entries are removed one by one and the folder itself stays,
 * so a concurrent run can always move its own old bundle in; whatever cannot be removed now is
 * left for the next run.
 */
export async function emptyTrash(out: string): Promise<void> {
  let names: string[]
  try {
    names = readdirSync(trashOf(out))
  } catch {
    return
  }
  await Promise.all(names.map((name) => rm(join(trashOf(out), name), { recursive: true, force: true }).catch(() => {})))
}

/** Restores `<final>.previous` when a crash happened between moving it aside and moving the new one in. */
export function recoverInterruptedCommit(final: string, out: string): void {
  const aside = `${final}.previous`
  if (!existsSync(aside)) return
  if (existsSync(final)) moveToTrash(aside, out)
  else renameSync(aside, final)
}
