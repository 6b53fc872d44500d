/**
 * `pxp doctor [--cwd DIR] [--config FILE] [--env NAME] [--timeout MS] [--json]`: checks config,
 * signer, stores, sandbox, telemetry and alerts; one line per check with the fix. Exit 0 when no
 * check failed (warnings allowed), 1 when one did, 2 when the config itself is invalid.
 */
import { resolve } from 'node:path'
import type { CAC } from 'cac'
import { PxpError } from '../../errors.js'
import { redactText } from '../../redact.js'
import { printJson } from '../output.js'
import { lastValues } from './build.js'
import type { CliCommand } from './index.js'

interface DoctorFlags {
  cwd?: string
  config?: string
  env?: string
  timeout?: string | number
  json?: boolean
}

const command: CliCommand = {
  register(cli: CAC, setExit) {
    cli
      .command('doctor', 'Check config, signer, stores, sandbox, telemetry and alerts; one line per check with the fix')
      .option('--cwd <dir>', 'Plugin repository (default: current directory)')
      .option('--config <file>', 'Config file (default: px-plugin.config.ts in --cwd)')
      .option('--env <name>', 'Config environment for $env keys (default: NODE_ENV or production)')
      .option('--timeout <ms>', 'Network timeout per check (default 3000)')
      .option('--json', 'Print one JSON document on stdout')
      .example('pxp doctor')
      .example('pxp doctor --json')
      .action(async (input: DoctorFlags) => {
        const flags = lastValues(input)
        const timeoutMs = flags.timeout === undefined ? 3_000 : Number(flags.timeout)
        if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new PxpError('USAGE', `--timeout must be a positive number of milliseconds, got ${flags.timeout}.`, { exitCode: 2 })
        const { doctor, exitCodeOf, formatCheck } = await import('../../doctor/index.js')
        const report = await doctor({ cwd: flags.cwd ? resolve(flags.cwd) : process.cwd(), configFile: flags.config, envName: flags.env, timeoutMs })
        if (flags.json) printJson(report)
        else {
          for (const check of report.checks) process.stderr.write(redactText(formatCheck(check)) + '\n')
          const failed = report.checks.filter((c) => c.status === 'fail').length
          const warned = report.checks.filter((c) => c.status === 'warn').length
          process.stderr.write(redactText(failed ? `\n${failed} problem${failed === 1 ? '' : 's'} to fix${warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}.\n` : `\nAll checks passed${warned ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}.\n`))
        }
        setExit(exitCodeOf(report))
      })
  },
}
export default command
