/**
 * `dist.log`: the structured run log, one JSON object per line. Every log line of the run goes here
 * (redacted), plus one `dist.target` record per target with pluginId, version, target, hash,
 * signer and artifactStore — what a release steward greps for.
 */
import { appendFileSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { redactText } from '../redact.js'

export class DistLog {
  constructor(readonly file: string, private readonly runId: string) {
    mkdirSync(dirname(file), { recursive: true })
  }

  write(record: Record<string, unknown>): void {
    const line = JSON.stringify({ ts: new Date().toISOString(), runId: this.runId, ...record }, errorReplacer)
    appendFileSync(this.file, redactText(line) + '\n')
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack }
  return value
}
