/**
 * `pxp audit verify [FILE]`: walks the audit log's hash chain and names the first broken line.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { CAC } from 'cac'
import { consola } from 'consola'
import { PxpError } from '../../errors.js'
import { printJson } from '../output.js'
import type { CliCommand } from './index.js'

interface AuditFlags { cwd?: string; config?: string; json?: boolean }

async function auditVerify(action: string | undefined, file: string | undefined, flags: AuditFlags): Promise<number> {
  if (action !== 'verify') {
    throw new PxpError('USAGE', action ? `Unknown audit action "${action}".` : 'Missing audit action.', { exitCode: 2, hint: 'Use `pxp audit verify [FILE]`.' })
  }
  const cwd = resolve(flags.cwd ?? process.cwd())
  const { loadConfig } = await import('../../config/load.js')
  const { verifyAuditLog } = await import('../../report/audit-log.js')
  const path = file ? resolve(file) : join((await loadConfig({ cwd, configFile: flags.config })).config.out, 'audit.log')
  if (!existsSync(path)) throw new PxpError('AUDIT_LOG_NOT_FOUND', `No audit log at ${path}.`, { exitCode: 2, hint: 'Pass the file, or run in the project whose builds wrote it.' })
  const result = await verifyAuditLog(path)
  if (flags.json) printJson({ ok: result.ok, file: path, lines: result.lines, ...(result.brokenAt && { brokenAt: result.brokenAt, reason: result.reason }) })
  else if (result.ok) consola.success(`${path}: ${result.lines} lines, hash chain intact`)
  else consola.error(`[AUDIT_CHAIN_BROKEN] ${path}: line ${result.brokenAt}: ${result.reason}\n  → Compare with a copy of the log (it is append-only); everything from line ${result.brokenAt} on is suspect.`)
  return result.ok ? 0 : 1
}

const command: CliCommand = {
  register(cli: CAC, setExit) {
    cli
      .command('audit [action] [file]', "Check the audit log's hash chain (pxp audit verify [FILE])")
      .option('--cwd <dir>', 'Project whose <out>/audit.log to check when FILE is omitted')
      .option('--config <file>', 'Config file')
      .option('--json', 'Print one JSON document on stdout')
      .example('pxp audit verify dist/audit.log')
      .action(async (action: string | undefined, file: string | undefined, flags: AuditFlags) => setExit(await auditVerify(action, file, flags)))
  },
}
export default command
