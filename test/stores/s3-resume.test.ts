/**
 * Resume and memory, with real processes: an uploader killed with SIGKILL mid-upload, then
 * `pxp upload --resume` sending only the parts the store does not have; and a several-hundred-MB
 * bundle uploaded by a child process whose peak RSS stays far below the bundle size.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { pxpBin, runCli } from '../helpers/cli.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../helpers/s3-server.js'
import { makeBundle, type FakeBundle } from '../helpers/store-fixtures.js'
import { directClient, storedSha256 } from './s3-helpers.js'

const MiB = 1024 * 1024
const childScript = fileURLToPath(new URL('./fixtures/upload-child.mjs', import.meta.url))
const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
const credentials = { PX_ARTIFACT_STORE_ACCESS_KEY: 'S3RVER', PX_ARTIFACT_STORE_SECRET: 'S3RVER' }

let s3: S3Server
let proxy: FaultProxy
let work: string

beforeAll(async () => {
  s3 = await startS3Server()
  proxy = await startFaultProxy({ upstreamPort: s3.port, credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey } })
  work = await mkdtemp(join(tmpdir(), 'pxp-resume-test-'))
})

afterAll(async () => {
  await proxy?.close()
  await s3?.close()
  await rm(work, { recursive: true, force: true })
})

beforeEach(() => {
  proxy.rule = () => undefined
  proxy.log.length = 0
})

const storeEntry = () => ({ type: 's3', bucket: s3.bucket, partSizeMB: 5, concurrency: 2, retries: 3, retryBaseDelayMs: 20, retryMaxDelayMs: 200, idleTimeoutMs: 10_000 })

/**
 * Until the default preset names the built-in uploaders, a project lists them itself; once it
 * does, listing them again would run each twice.
 */
function uploaderPlugins(): string[] {
  const preset = readFileSync(join(repoRoot, 'presets/default/index.ts'), 'utf8')
  return preset.includes('uploader-s3') ? [] : [join(repoRoot, 'dist/plugins/uploader-s3/index.js')]
}

async function project(name: string, size: number): Promise<{ dir: string; fake: FakeBundle; cacheDir: string }> {
  const dir = join(work, name)
  const fake = await makeBundle(join(dir, 'dist'), size)
  await writeFile(join(dir, 'px-plugin.config.json'), JSON.stringify({ artifactStore: storeEntry(), plugins: uploaderPlugins() }, null, 2))
  return { dir, fake, cacheDir: join(dir, 'dist', '.cache') }
}

interface ChildOutcome { code: number | null; signal: NodeJS.Signals | null; result?: any }

function runChild(job: Record<string, unknown>, onSpawn?: (kill: () => void) => void): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, JSON.stringify(job)], { env: { ...process.env, ...credentials }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.resume()
    const guard = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(guard)
      let result: unknown
      try {
        result = stdout.trim() ? JSON.parse(stdout.trim().split('\n').pop()!) : undefined
      } catch {
        result = undefined
      }
      resolve({ code, signal, result })
    })
    onSpawn?.(() => child.kill('SIGKILL'))
  })
}

async function savedState(cacheDir: string): Promise<{ uploadId: string; parts: Array<{ partNumber: number }> } | undefined> {
  const dir = join(cacheDir, 'uploads')
  if (!existsSync(dir)) return undefined
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json'))
  if (files.length !== 1) return undefined
  try {
    return JSON.parse(await readFile(join(dir, files[0]!), 'utf8'))
  } catch {
    return undefined
  }
}

/** Starts an upload in a child, lets `keep` parts through, holds the rest, then SIGKILLs it. */
async function killMidUpload(dir: string, fake: FakeBundle, cacheDir: string, keep: number) {
  proxy.rule = (r) => (r.operation === 'UploadPart' && r.partNumber! > keep ? { kind: 'hang' } : undefined)
  let kill!: () => void
  const outcome = runChild({ plugin: 'uploader-s3', store: { ...storeEntry(), endpoint: proxy.url }, artifacts: fake.artifacts, cacheDir, resume: false }, (k) => (kill = k))
  let state: Awaited<ReturnType<typeof savedState>>
  const deadline = Date.now() + 30_000
  while (!((state = await savedState(cacheDir)) && state.parts.length === keep)) {
    if (Date.now() > deadline) throw new Error('the child never stored the expected parts')
    await new Promise((r) => setTimeout(r, 25))
  }
  kill()
  const { signal } = await outcome
  expect(signal).toBe('SIGKILL')
  proxy.rule = () => undefined
  return state!
}

describe('resume after the uploader was killed', () => {
  it('pxp upload --resume sends only the parts the killed run had not stored', async () => {
    const { dir, fake, cacheDir } = await project('resume', 38 * MiB) // 8 parts of 5 MiB
    const state = await killMidUpload(dir, fake, cacheDir, 3)
    expect(state.parts.map((p) => p.partNumber).sort()).toEqual([1, 2, 3])
    const mark = proxy.log.length

    const run = await runCli(['upload', fake.bundle.path, '--resume', '--json', '--cwd', dir], { env: { ...credentials, PX_ARTIFACT_STORE_ENDPOINT: proxy.url } })
    expect(run.code, run.stderr).toBe(0)
    const bundleReceipt = run.json.uploads.find((u: { fileName: string }) => u.fileName === fake.bundle.fileName)
    expect(bundleReceipt).toMatchObject({ sha256: fake.bundle.sha256, size: 38 * MiB, resumedParts: 3 })

    const after = proxy.log.slice(mark)
    const bundleRequests = after.filter((e) => e.path.endsWith('.pxp'))
    expect(bundleRequests.filter((e) => e.operation === 'CreateMultipartUpload')).toHaveLength(0)
    const resent = bundleRequests.filter((e) => e.operation === 'UploadPart').map((e) => e.partNumber!).sort((a, b) => a - b)
    expect(resent).toEqual([4, 5, 6, 7, 8])
    expect(bundleRequests.filter((e) => e.operation === 'UploadPart').every((e) => e.uploadId === state.uploadId)).toBe(true)
    expect(bundleRequests.find((e) => e.operation === 'CompleteMultipartUpload')?.uploadId).toBe(state.uploadId)

    const client = directClient(s3.endpoint)
    expect(await storedSha256(client, s3.bucket, bundleReceipt.key)).toBe(fake.bundle.sha256)
    client.destroy()
    expect(await savedState(cacheDir)).toBeUndefined()
  })

  it('without --resume an interrupted upload starts over', async () => {
    const { dir, fake, cacheDir } = await project('restart', 16 * MiB) // 4 parts
    const state = await killMidUpload(dir, fake, cacheDir, 2)
    const mark = proxy.log.length
    const run = await runCli(['upload', fake.bundle.path, '--json', '--cwd', dir], { env: { ...credentials, PX_ARTIFACT_STORE_ENDPOINT: proxy.url } })
    expect(run.code, run.stderr).toBe(0)
    const bundleRequests = proxy.log.slice(mark).filter((e) => e.path.endsWith('.pxp'))
    expect(bundleRequests.filter((e) => e.operation === 'CreateMultipartUpload')).toHaveLength(1)
    expect(bundleRequests.filter((e) => e.operation === 'UploadPart').map((e) => e.partNumber).sort()).toEqual([1, 2, 3, 4])
    expect(bundleRequests.filter((e) => e.operation === 'UploadPart').every((e) => e.uploadId !== state.uploadId)).toBe(true)
    const client = directClient(s3.endpoint)
    expect(await storedSha256(client, s3.bucket, run.json.uploads[0].key)).toBe(fake.bundle.sha256)
    client.destroy()
  })
})

describe('Ctrl-C', () => {
  it('stops a running pxp upload promptly, keeps the stored parts and points at --resume', async () => {
    const { dir, fake, cacheDir } = await project('sigint', 21 * MiB) // 5 parts
    proxy.rule = (r) => (r.operation === 'UploadPart' && r.partNumber! > 2 ? { kind: 'hang' } : undefined)
    const child = spawn(process.execPath, [pxpBin, 'upload', fake.bundle.path, '--cwd', dir, '--json'], {
      env: { ...process.env, ...credentials, PX_ARTIFACT_STORE_ENDPOINT: proxy.url, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.resume()
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const deadline = Date.now() + 30_000
    while ((await savedState(cacheDir))?.parts.length !== 2) {
      if (Date.now() > deadline) throw new Error('parts 1-2 were never stored')
      await new Promise((r) => setTimeout(r, 25))
    }
    const interrupted = Date.now()
    child.kill('SIGINT')
    const code = await exited
    expect(Date.now() - interrupted).toBeLessThan(5_000)
    expect(code).toBe(1)
    const result = JSON.parse(stdout)
    expect(result.ok).toBe(false)
    expect(result.error.hint).toContain('--resume')
    expect((await savedState(cacheDir))?.parts.map((p) => p.partNumber).sort()).toEqual([1, 2])
  })
})

describe('large bundles', () => {
  it('uploads a 360 MB bundle with flat memory and the stored object hashes to the bundle', async () => {
    const size = 360 * MiB
    const fake = await makeBundle(join(work, 'large'), size)
    const { code, result } = await runChild({
      plugin: 'uploader-s3',
      store: { ...storeEntry(), endpoint: proxy.url, partSizeMB: 8, concurrency: 4 },
      artifacts: [fake.bundle],
      cacheDir: join(work, 'large-cache'),
    })
    expect(code, JSON.stringify(result?.error)).toBe(0)
    expect(result.ok).toBe(true)
    const peakMB = result.maxRSSKB / 1024
    // Buffers are concurrency × part size (32 MB); the rest is Node and the SDK.
    expect(peakMB).toBeLessThan(250)
    expect(proxy.log.filter((e) => e.operation === 'UploadPart')).toHaveLength(45)
    const client = directClient(s3.endpoint)
    expect(await storedSha256(client, s3.bucket, result.receipts[0].key)).toBe(fake.bundle.sha256)
    client.destroy()
    console.info(`360 MB upload: peak RSS ${peakMB.toFixed(0)} MB`)
    await rm(join(work, 'large'), { recursive: true, force: true })
  }, 120_000)
})
