/**
 * Persisted multipart-upload state, so an interrupted upload continues from the last acknowledged
 * part (`--resume`) instead of starting over. One JSON file per (store, object, content), written
 * atomically after every acknowledged part: a crash leaves either the previous or the next state,
 * never a torn file. The file holds no credentials (an UploadId alone grants nothing).
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

export interface CompletedPart {
  partNumber: number
  etag: string
  /** base64 SHA-256 of the part, as sent in x-amz-checksum-sha256. */
  checksumSha256?: string
  size: number
}

export interface MultipartState {
  version: 1
  storeId: string
  /** host[:port] only — never a URL with a query string. */
  endpointHost: string
  bucket: string
  key: string
  /** Of the whole file. */
  sha256: string
  size: number
  partSize: number
  uploadId: string
  createdAt: string
  parts: CompletedPart[]
}

/** `<cacheDir>/uploads/<store>-<sha256>-<hash of bucket/key>.json` */
export function resumeStatePath(cacheDir: string, storeId: string, sha256: string, bucket: string, key: string): string {
  const target = createHash('sha256').update(`${bucket}\0${key}`).digest('hex').slice(0, 12)
  const safeStore = storeId.replace(/[^A-Za-z0-9._-]/g, '_')
  return join(cacheDir, 'uploads', `${safeStore}-${sha256}-${target}.json`)
}

/** The saved state, or undefined when there is none or it is unreadable (then we start over). */
export async function loadResumeState(path: string): Promise<MultipartState | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    return undefined
  }
  try {
    const state = JSON.parse(text) as MultipartState
    if (state.version !== 1 || typeof state.uploadId !== 'string' || !Array.isArray(state.parts)) return undefined
    return state
  } catch {
    return undefined
  }
}

/** Does the saved state describe exactly this upload? Anything else is stale. */
export function stateMatches(state: MultipartState, expected: Omit<MultipartState, 'version' | 'uploadId' | 'createdAt' | 'parts'>): boolean {
  return state.storeId === expected.storeId && state.endpointHost === expected.endpointHost && state.bucket === expected.bucket
    && state.key === expected.key && state.sha256 === expected.sha256 && state.size === expected.size
    && state.partSize === expected.partSize
}

/** Serialises writes: parts finish concurrently, but the file must only ever move forward. */
export class ResumeStateWriter {
  private queue: Promise<void> = Promise.resolve()
  private readonly state: MultipartState
  private counter = 0

  constructor(readonly path: string, state: MultipartState) {
    this.state = { ...state, parts: [...state.parts] }
  }

  get parts(): readonly CompletedPart[] {
    return this.state.parts
  }

  save(): Promise<void> {
    const snapshot = JSON.stringify({ ...this.state, parts: [...this.state.parts].sort((a, b) => a.partNumber - b.partNumber) }, null, 2)
    const tmp = `${this.path}.${process.pid}.${this.counter++}.tmp`
    this.queue = this.queue.then(async () => {
      await mkdir(dirname(this.path), { recursive: true })
      await writeFile(tmp, snapshot)
      await rename(tmp, this.path)
    })
    return this.queue
  }

  addPart(part: CompletedPart): Promise<void> {
    this.state.parts = this.state.parts.filter((p) => p.partNumber !== part.partNumber)
    this.state.parts.push(part)
    return this.save()
  }

  async remove(): Promise<void> {
    await this.queue.catch(() => undefined)
    await rm(this.path, { force: true })
  }
}

export async function removeResumeState(path: string): Promise<void> {
  await rm(path, { force: true })
}
