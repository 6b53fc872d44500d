/**
 * Runs plugin processes: `runtime.entry` through `sh -c 'ulimit -n N; exec entry args'` in its own
 * process group, with the resolved env only (never the sandbox's own environment, which holds
 * tokens), a loopback port injected, stdout/stderr captured to a per-plugin log (JSON lines with
 * the level parsed from the plugin's own JSON output), memory enforced by an RSS watchdog reading
 * /proc/<pid>/status (`ulimit -v` breaks V8 and Go runtimes that reserve address space), and health
 * polled until `health_timeout`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs'
import { request } from 'node:http'
import { createServer, connect } from 'node:net'
import { dirname } from 'node:path'
import { createInterface } from 'node:readline'
import { redactText } from '../redact.js'

export class RunnerFault extends Error {
  constructor(readonly code: string, message: string) {
    super(message)
  }
}

/** A port nobody listens on right now (the plugin binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const
const normLevel = (value: unknown): string | undefined => {
  const v = String(value ?? '').toLowerCase()
  if (v.startsWith('debug') || v === 'trace') return 'debug'
  if (v.startsWith('info')) return 'info'
  if (v.startsWith('warn')) return 'warn'
  if (v.startsWith('err') || v === 'fatal' || v === 'panic') return 'error'
  return undefined
}

export const levelRank = (level: string): number => Math.max(0, (LEVELS as readonly string[]).indexOf(level))

/** Appends JSON lines `{ts, stream, level, msg}` to a plugin's log file, secrets masked. */
export class PluginLog {
  private readonly out: WriteStream
  private closing?: Promise<void>
  constructor(readonly file: string, private readonly secrets: string[]) {
    mkdirSync(dirname(file), { recursive: true })
    this.out = createWriteStream(file, { flags: 'a', mode: 0o600 })
  }
  private mask(text: string): string {
    let out = text
    for (const s of this.secrets) if (s.length >= 4) out = out.split(s).join('***')
    return redactText(out)
  }
  line(stream: string, raw: string, fallbackLevel: string): void {
    if (this.closing) return
    const text = this.mask(raw)
    let level = fallbackLevel
    let msg = text
    if (text.startsWith('{')) {
      try {
        const parsed = JSON.parse(text) as Record<string, unknown>
        level = normLevel(parsed.level ?? parsed.severity ?? parsed.lvl) ?? fallbackLevel
        msg = typeof parsed.msg === 'string' ? parsed.msg : typeof parsed.message === 'string' ? parsed.message : text
      } catch {
        // Not JSON after all: keep the raw line.
      }
    }
    this.out.write(JSON.stringify({ ts: new Date().toISOString(), stream, level, msg, ...(msg !== text && { raw: text }) }) + '\n')
  }
  attach(child: ChildProcess, stream: string): void {
    if (child.stdout) createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (l) => this.line(stream === 'app' ? 'stdout' : stream, l, 'info'))
    if (child.stderr) createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (l) => this.line(stream === 'app' ? 'stderr' : stream, l, 'error'))
  }
  /** Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => this.out.end(() => resolve()))
    return this.closing
  }
}

/** Resident set size in MB, or undefined when the process is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]
    return kb === undefined ? 0 : Number(kb) / 1024
  } catch {
    return undefined
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Kills a process group started by the runner (also after a sandbox restart, by recorded pid). */
export function killGroup(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // Already gone.
    }
  }
}

/** Base environment for plugin processes: enough to find interpreters, nothing of the sandbox's own. */
export function baseEnv(home: string): Record<string, string> {
  const env: Record<string, string> = { HOME: home, PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' }
  for (const key of ['LANG', 'TZ', 'TMPDIR']) if (process.env[key]) env[key] = process.env[key]!
  return env
}

const shell = (openFiles: number) => `ulimit -n ${Math.max(16, Math.floor(openFiles))} || exit 97; exec "$0" "$@"`

export interface StartSpec {
  key: string
  cwd: string
  entry: string
  args: string[]
  env: Record<string, string>
  port: number
  healthPath?: string
  healthTimeoutMs: number
  healthRequestTimeoutMs: number
  memoryMb: number
  openFiles: number
  log: PluginLog
  signal?: AbortSignal
  /** Called when a process that was declared running exits (crash or watchdog kill). */
  onExit?: (info: { code: number | null; signal: string | null; reason?: string }) => void
}

interface Running {
  child: ChildProcess
  pid: number
  exited: Promise<{ code: number | null; signal: string | null }>
  watchdog: NodeJS.Timeout
  killedFor?: string
  stopping: boolean
  log: PluginLog
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(t)
      resolve()
    }, { once: true })
  })

function probe(port: number, path: string | undefined, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (!path) {
      const socket = connect(port, '127.0.0.1')
      socket.setTimeout(timeoutMs, () => {
        socket.destroy()
        resolve(false)
      })
      socket.on('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
      return
    }
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume()
      resolve((res.statusCode ?? 500) < 400)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
    req.end()
  })
}

export class Runner {
  private readonly running = new Map<string, Running>()

  has(key: string): boolean {
    return this.running.has(key)
  }
  pid(key: string): number | undefined {
    return this.running.get(key)?.pid
  }

  /** Spawns and waits until healthy; throws RunnerFault (and leaves nothing running) otherwise. */
  async start(spec: StartSpec): Promise<{ pid: number }> {
    if (this.running.has(spec.key)) await this.stop(spec.key)
    const child = spawn('/bin/sh', ['-c', shell(spec.openFiles), spec.entry, ...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve))
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
    if (child.pid === undefined) throw new RunnerFault('process_start_failed', `Cannot start ${spec.entry}: ${(await spawnError).message}`)
    spec.log.attach(child, 'app')
    const entry: Running = { child, pid: child.pid, exited, stopping: false, log: spec.log, watchdog: setInterval(() => {}, 1 << 30) }
    clearInterval(entry.watchdog)
    entry.watchdog = setInterval(() => {
      const rss = rssMb(entry.pid)
      if (rss !== undefined && rss > spec.memoryMb && !entry.killedFor) {
        entry.killedFor = `memory_limit_exceeded: resident memory ${Math.round(rss)} MB is above the limit of ${spec.memoryMb} MB`
        spec.log.line('sandbox', `killed: ${entry.killedFor}`, 'error')
        killGroup(entry.pid)
      }
    }, 100)
    this.running.set(spec.key, entry)
    let healthy = false
    void exited.then((info) => {
      clearInterval(entry.watchdog)
      if (this.running.get(spec.key) === entry) this.running.delete(spec.key)
      spec.log.line('sandbox', `process exited (code ${info.code}, signal ${info.signal})`, info.code === 0 ? 'info' : 'warn')
      // Let the pipes drain the last lines, then release the log file.
      setTimeout(() => void spec.log.close(), 200).unref()
      if (healthy && !entry.stopping) spec.onExit?.({ ...info, reason: entry.killedFor })
    })

    const deadline = Date.now() + spec.healthTimeoutMs
    let exitInfo: { code: number | null; signal: string | null } | undefined
    void exited.then((info) => (exitInfo = info))
    const fault = (): RunnerFault | undefined => {
      if (entry.killedFor) return new RunnerFault('memory_limit_exceeded', entry.killedFor)
      if (exitInfo) {
        if (exitInfo.code === 97) return new RunnerFault('process_start_failed', `Cannot apply the open-files limit (${spec.openFiles}).`)
        if (exitInfo.code === 127 || exitInfo.code === 126) return new RunnerFault('process_start_failed', `The entry ${spec.entry} cannot be executed (exit ${exitInfo.code}).`)
        return new RunnerFault('process_start_failed', `The plugin process exited before it became healthy (exit code ${exitInfo.code ?? 'none'}${exitInfo.signal ? `, signal ${exitInfo.signal}` : ''}).`)
      }
      if (spec.signal?.aborted) return new RunnerFault('timeout', 'The install timed out while waiting for the plugin to become healthy.')
      return undefined
    }
    try {
      while (true) {
        const f = fault()
        if (f) throw f
        if (Date.now() > deadline) throw new RunnerFault('healthcheck_failed', `The plugin did not answer ${spec.healthPath ?? 'on its port'} within ${spec.healthTimeoutMs} ms (health_timeout).`)
        if (await probe(spec.port, spec.healthPath, spec.healthRequestTimeoutMs)) break
        await sleep(150, spec.signal)
      }
      // A short settling window: a process that dies or blows its memory right after answering is not running.
      await sleep(300, spec.signal)
      const f = fault()
      if (f) throw f
      healthy = true
      return { pid: entry.pid }
    } catch (error) {
      await this.stop(spec.key, 2000)
      throw error
    }
  }

  /** SIGTERM the group, SIGKILL after `graceMs`. */
  async stop(key: string, graceMs = 5000): Promise<void> {
    const entry = this.running.get(key)
    if (!entry) return
    entry.stopping = true
    killGroup(entry.pid, 'SIGTERM')
    const timer = setTimeout(() => killGroup(entry.pid, 'SIGKILL'), graceMs)
    await entry.exited
    clearTimeout(timer)
    killGroup(entry.pid, 'SIGKILL') // anything the plugin left in its group
    this.running.delete(key)
  }

  async stopAll(graceMs = 5000): Promise<void> {
    await Promise.all([...this.running.keys()].map((k) => this.stop(k, graceMs)))
  }
}

export interface MigrationSpec {
  cwd: string
  entry: string
  args: string[]
  env: Record<string, string>
  timeoutMs: number
  openFiles: number
  log: PluginLog
  signal?: AbortSignal
  /** The process group's pid, recorded so a crash recovery can kill a migration left running. */
  onSpawn?: (pid: number) => void
}

export async function runMigration(spec: MigrationSpec): Promise<void> {
  const child = spawn('/bin/sh', ['-c', shell(spec.openFiles), spec.entry, ...spec.args], { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  spec.log.attach(child, 'migrate')
  if (child.pid) spec.onSpawn?.(child.pid)
  const result = await new Promise<{ code: number | null; signal: string | null; timedOut: boolean; error?: Error }>((resolve) => {
    let timedOut = false
    const kill = () => {
      timedOut = true
      if (child.pid) killGroup(child.pid)
    }
    const timer = setTimeout(kill, spec.timeoutMs)
    spec.signal?.addEventListener('abort', kill, { once: true })
    child.once('error', (error) => resolve({ code: null, signal: null, timedOut: false, error }))
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, timedOut })
    })
  })
  if (result.error) throw new RunnerFault('migration_failed', `Cannot run the migration entry: ${result.error.message}`)
  if (result.timedOut) throw new RunnerFault('timeout', `The migration did not finish within ${spec.timeoutMs} ms.`)
  if (result.code !== 0) throw new RunnerFault('migration_failed', `The migration exited with code ${result.code ?? 'none'}${result.signal ? ` (signal ${result.signal})` : ''}.`)
}
