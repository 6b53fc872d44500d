/**
 * The append-only, hash-chained audit log: one JSON line `{timestamp, action, actor, metadata, prev}`
 * per event, where `prev` is the SHA-256 of the previous line's exact bytes (64 zeros for the first
 * line). Editing, inserting or deleting any line breaks the chain at the line after it.
 */
import { createHash } from 'node:crypto'
import { closeSync, createReadStream, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs'
import { hostname, userInfo } from 'node:os'
import { dirname } from 'node:path'
import { createInterface } from 'node:readline'
import { redactValue } from '../redact.js'

export const GENESIS = '0'.repeat(64)

export interface AuditEntry {
  timestamp: string
  action: string
  actor: string
  metadata: Record<string, unknown>
  prev: string
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

/** Who is acting: an explicit PX_ACTOR, the CI's user, else the local user at this host. */
export function currentActor(env: NodeJS.ProcessEnv = process.env): string {
  const ci = env.PX_ACTOR ?? env.GITHUB_ACTOR ?? env.GITLAB_USER_LOGIN
  if (ci) return ci
  let user = 'unknown'
  try {
    user = userInfo().username
  } catch {
    // No passwd entry (containers): keep "unknown".
  }
  return `${user}@${hostname()}`
}

export class AuditLog {
  private prev: string
  private constructor(readonly file: string, prev: string, private readonly actor: string) {
    this.prev = prev
  }

  /** Opens (creating) the log and picks up the chain from its last line. */
  static open(file: string, actor = currentActor()): AuditLog {
    mkdirSync(dirname(file), { recursive: true })
    return new AuditLog(file, existsSync(file) ? hashOfLastLine(file) : GENESIS, actor)
  }

  /** Appends synchronously with fsync: an audit line must survive a crash that follows it. */
  append(action: string, metadata: Record<string, unknown> = {}): AuditEntry {
    const entry: AuditEntry = { timestamp: new Date().toISOString(), action, actor: this.actor, metadata: redactValue(metadata), prev: this.prev }
    const line = JSON.stringify(entry)
    const fd = openSync(this.file, 'a', 0o644)
    try {
      writeSync(fd, line + '\n')
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    this.prev = sha256(line)
    return entry
  }
}

function hashOfLastLine(file: string): string {
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    if (size === 0) return GENESIS
    // Lines are small; read backwards in blocks until the start of the last line is found.
    let end = size
    let tail = Buffer.alloc(0)
    while (end > 0) {
      const start = Math.max(0, end - 65536)
      const block = Buffer.alloc(end - start)
      readSync(fd, block, 0, block.length, start)
      tail = Buffer.concat([block, tail])
      const trimmed = tail[tail.length - 1] === 0x0a ? tail.subarray(0, -1) : tail
      const nl = trimmed.lastIndexOf(0x0a)
      if (nl >= 0 || start === 0) return sha256(trimmed.subarray(nl + 1).toString('utf8'))
      end = start
    }
    return GENESIS
  } finally {
    closeSync(fd)
  }
}

export interface AuditVerification {
  ok: boolean
  lines: number
  /** 1-based line number of the first line whose `prev` does not match, or that is not JSON. */
  brokenAt?: number
  reason?: string
}

/** Streams the log and checks every link of the chain. */
export async function verifyAuditLog(file: string): Promise<AuditVerification> {
  let prev = GENESIS
  let n = 0
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })
  for await (const line of lines) {
    n++
    let entry: Partial<AuditEntry>
    try {
      entry = JSON.parse(line) as Partial<AuditEntry>
    } catch {
      lines.close()
      return { ok: false, lines: n, brokenAt: n, reason: 'the line is not valid JSON' }
    }
    if (entry.prev !== prev) {
      lines.close()
      return { ok: false, lines: n, brokenAt: n, reason: n === 1 ? 'the first line does not start the chain' : `prev does not match the SHA-256 of line ${n - 1} (that line, or this one, was edited, inserted or deleted)` }
    }
    prev = sha256(line)
  }
  return { ok: true, lines: n }
}
