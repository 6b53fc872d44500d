/**
 * `pxp doctor`: loads the config the way `pxp build` does, then checks every part a build depends
 * on (plugin.yaml, output directory, signer, artifact stores, sandbox, telemetry, alerts) with
 * short timeouts. One line per check: `✔/⚠/✖ name — detail — fix`.
 */
import { loadConfig } from '../config/load.js'
import { toPxpError } from '../errors.js'
import { runChecks, type CheckResult } from './checks.js'

export type { CheckResult, CheckStatus } from './checks.js'

export interface DoctorOptions {
  cwd?: string
  configFile?: string
  envName?: string
  env?: NodeJS.ProcessEnv
  /** Per-check network timeout (default 3000 ms). */
  timeoutMs?: number
  now?: Date
}

export interface DoctorReport {
  ok: boolean
  /** false when the config itself could not be loaded (exit code 2). */
  configValid: boolean
  configFile: string | null
  checks: CheckResult[]
}

export async function doctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const env = options.env ?? process.env
  let loaded
  try {
    loaded = await loadConfig({ cwd: options.cwd, configFile: options.configFile, envName: options.envName, env, command: 'build' })
  } catch (error) {
    const e = toPxpError(error)
    const where = [e.file, e.keyPath].filter(Boolean).join(' ')
    return {
      ok: false,
      configValid: false,
      configFile: e.file ?? null,
      checks: [{ name: 'config', status: 'fail', detail: `${e.code}: ${e.message}${where && !e.message.includes(where) ? ` (${where})` : ''}`, fix: e.hint ?? 'Fix px-plugin.config.ts.' }],
    }
  }
  const { config } = loaded
  const layers = config.layers.filter((l) => !l.source.startsWith('<')).length
  const configCheck: CheckResult = {
    name: 'config',
    status: 'ok',
    detail: config.configFile ? `${config.configFile} is valid (${layers} file layer${layers === 1 ? '' : 's'}, root ${config.root})` : `no config file: zero-config defaults (root ${config.root})`,
  }
  const checks = [configCheck, ...(await runChecks(config, { timeoutMs: options.timeoutMs ?? 3_000, env, now: options.now ?? new Date() }))]
  return { ok: checks.every((c) => c.status !== 'fail'), configValid: true, configFile: config.configFile ?? null, checks }
}

const SYMBOLS = { ok: '✔', warn: '⚠', fail: '✖', skip: '·' } as const

export function formatCheck(check: CheckResult): string {
  return `${SYMBOLS[check.status]} ${check.name} — ${check.detail}${check.fix && check.status !== 'ok' ? ` — ${check.fix}` : ''}`
}

export function exitCodeOf(report: DoctorReport): 0 | 1 | 2 {
  if (!report.configValid) return 2
  return report.ok ? 0 : 1
}
