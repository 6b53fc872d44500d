/**
 * Writing verified entries during the verification pass. A file is written to a private temporary
 * directory and renamed into place only once its hash matched, so nothing unverified ever appears
 * under its final name; names were already checked by the verifier and are re-checked against the
 * resolved root here, so nothing lands outside it.
 */
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { mkdir, open, readdir, realpath, rename, rm, type FileHandle } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { PxpError } from '../errors.js'

export class Extractor {
  #temp: string
  #count = 0

  private constructor(readonly root: string) {
    this.#temp = join(root, `.pxp-extract-${randomBytes(6).toString('hex')}`)
  }

  /** The target must be absent or empty: anything already there could redirect writes. */
  static async create(target: string): Promise<Extractor> {
    await mkdir(target, { recursive: true })
    if ((await readdir(target)).length > 0) {
      throw new PxpError('USAGE', `The extraction directory ${target} is not empty.`, { file: target, exitCode: 2, hint: 'Extract into a new or empty directory.' })
    }
    const extractor = new Extractor(await realpath(target))
    await mkdir(extractor.#temp, { mode: 0o700 })
    return extractor
  }

  #resolve(path: string): string {
    const target = join(this.root, ...path.split('/'))
    if (!target.startsWith(this.root + sep)) throw new PxpError('PATH_UNSAFE', `"${path}" would be written outside the extraction directory.`, { path })
    return target
  }

  async begin(path: string, mode: number): Promise<PendingFile> {
    const target = this.#resolve(path)
    const temp = join(this.#temp, String(this.#count++))
    // O_EXCL: never follow or reuse something that is already there.
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode & 0o111 ? 0o755 : 0o644)
    return new PendingFile(handle, temp, target, this.root)
  }

  async directory(path: string): Promise<void> {
    await mkdir(this.#resolve(path), { recursive: true, mode: 0o755 })
  }

  /** Removes the temporary area; with `discard`, everything written as well. */
  async finish(discard: boolean): Promise<void> {
    await rm(this.#temp, { recursive: true, force: true })
    if (discard) {
      for (const name of await readdir(this.root)) await rm(join(this.root, name), { recursive: true, force: true })
    }
  }
}

export class PendingFile {
  constructor(
    private readonly handle: FileHandle,
    private readonly temp: string,
    private readonly target: string,
    private readonly root: string,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    await this.handle.write(chunk)
  }

  async commit(): Promise<void> {
    await this.handle.close()
    const parent = this.target.slice(0, this.target.lastIndexOf(sep))
    if (parent !== this.root) await mkdir(parent, { recursive: true, mode: 0o755 })
    await rename(this.temp, this.target)
  }

  async abandon(): Promise<void> {
    await this.handle.close().catch(() => {})
    await rm(this.temp, { force: true })
  }
}
