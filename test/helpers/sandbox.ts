/**
 * Helpers for the sandbox suites: the real server as a child process (`pxp sandbox --port 0`),
 * playground variants built with the real CLI, and crafted bad bundles.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { runCli, pxpBin } from './cli.js'
import { BUNDLE, copyPlayground, tempDir, write } from './fixtures.js'

/** The sandbox runs bundles built for the host (the playground ships linux-amd64 and linux-arm64). */
export const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64'
export const HOST_TARGET = `linux-${HOST_ARCH}`

export interface SandboxProc {
  url: string
  proc: ChildProcess
  dataDir: string
  output(): string
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>
  kill9(): Promise<void>
}

export async function startSandboxProc(args: string[], options: { dataDir?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<SandboxProc> {
  const dataDir = options.dataDir ?? tempDir('pxp-sbx-data-')
  const proc = spawn(process.execPath, [pxpBin, 'sandbox', '--port', '0', '--data-dir', dataDir, ...args], {
    // An empty directory: the repository's own px-plugin.config.ts (its DEV trust roots) must not
    // leak into tests, whose outcome would then depend on whether `pxp keys dev` ran before.
    cwd: options.cwd ?? tempDir('pxp-sbx-cwd-'),
    env: { ...process.env, NO_COLOR: '1', CI: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sandbox did not start:\n${out}`)), options.timeoutMs ?? 30_000)
    const check = () => {
      const m = /PXP_SANDBOX_URL=(\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    proc.stdout!.on('data', check)
    proc.stderr!.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`sandbox exited with ${code}:\n${out}`))
    })
  })
  return {
    url,
    proc,
    dataDir,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode
      proc.kill('SIGTERM')
      return exited
    },
    async kill9() {
      proc.kill('SIGKILL')
      await exited
    },
  }
}

/** Builds a bundle of `dir` with the real CLI; returns its path. */
export async function buildBundle(dir: string, extra: string[] = [], id = 'com.powerx.plugins.hello', version = '1.2.0'): Promise<string> {
  const out = tempDir('pxp-sbx-out-')
  const run = await runCli(['build', '--cwd', dir, '--out', out, '--os', 'linux', '--arch', HOST_ARCH, '--no-upload', '--no-install', '--json', ...extra])
  if (run.code !== 0) throw new Error(`build failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
  return BUNDLE(out, HOST_TARGET, id, version)
}

/** A playground copy changed by `edit(dir)`. */
export function variant(edit: (dir: string) => void): string {
  const dir = copyPlayground()
  edit(dir)
  return dir
}

export const plugin = (dir: string) => join(dir, `backend/bin/${HOST_TARGET}/plugin`)

/** Rewrites plugin.yaml with `fn(text)`. */
export function editDescriptor(dir: string, fn: (text: string) => string): void {
  const file = join(dir, 'plugin.yaml')
  writeFileSync(file, fn(readFileSync(file, 'utf8')))
}

/** Replaces the backend with a script (kept executable). */
export function backend(dir: string, script: string): void {
  write(dir, `backend/bin/${HOST_TARGET}/plugin`, `#!/usr/bin/env node\n${script}\n`, 0o755)
}

/** Flips bytes of one payload file inside a built bundle (same length, so only the hash breaks). */
export function tamper(bundle: string, find: string, replace: string): string {
  const tar = gunzipSync(readFileSync(bundle))
  const at = tar.indexOf(Buffer.from(find))
  if (at < 0 || find.length !== replace.length) throw new Error('tamper: pattern not found')
  Buffer.from(replace).copy(tar, at)
  const out = join(tempDir('pxp-sbx-tampered-'), 'tampered.pxp')
  writeFileSync(out, gzipSync(tar))
  return out
}

/** Every file under `dir` (relative paths). */
export function listFiles(dir: string, base = dir): string[] {
  const out: string[] = []
  let entries: string[] = []
  try {
    entries = readdirSync(dir)
  } catch {
    return out
  }
  for (const name of entries) {
    const full = join(dir, name)
    if (statSync(full).isDirectory()) out.push(...listFiles(full, base))
    else out.push(full.slice(base.length + 1))
  }
  return out
}

/** Every file's text under `dir` joined (to grep for secrets). */
export function allText(dir: string): string {
  return listFiles(dir).map((f) => {
    try {
      return readFileSync(join(dir, f), 'latin1')
    } catch {
      return ''
    }
  }).join('\n')
}

export async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = await fn()
    if (value !== undefined && value !== false) return value as T
    await new Promise((r) => setTimeout(r, stepMs))
  }
  throw new Error(`waitFor: timed out after ${timeoutMs} ms`)
}

export async function getJson(url: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers: { accept: 'application/json', ...(token && { authorization: `Bearer ${token}` }) } })
  const text = await res.text()
  let body: any
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }
  return { status: res.status, body }
}
