/**
 * `pxp install FILE.pxp --sandbox URL --tenant ID [--token T] [--set K=V]... [--secret K=REF]...
 * [--values FILE] [--log-level L] [--yes] [--json] [--mode pxp|powerx-core]`: installs a bundle into
 * a sandbox tenant (or PowerX Core) and follows it to `running` or `failed`. Exit 0 running, 1
 * failed (and rolled back), 2 usage or missing answers.
 */
import { resolve } from 'node:path'
import type { CAC } from 'cac'
import { consola } from 'consola'
import type { SandboxConfig } from '../../config/types.js'
import { PxpError } from '../../errors.js'
import { redactText } from '../../redact.js'
import type { InstallOutcome, WizardQuestion } from '../../sandbox/client/index.js'
import { printJson } from '../output.js'
import type { CliCommand } from './index.js'

export interface InstallFlags {
  sandbox?: string
  tenant?: string
  token?: string
  set?: string | string[]
  secret?: string | string[]
  values?: string
  logLevel?: string
  yes?: boolean
  json?: boolean
  mode?: string
  trust?: string | string[]
  skipValidation?: boolean
  force?: boolean
  timeout?: number
  cwd?: string
  config?: string
}

/** Asks one wizard question with consola's prompt (only used on a TTY without --yes). */
export async function promptQuestion(q: WizardQuestion): Promise<string | undefined> {
  const label = `${q.key}${q.description ? ` — ${q.description}` : ''}${q.required ? '' : ' (optional)'}`
  if (q.kind === 'log_level') {
    return (await consola.prompt('Log level', { type: 'select', options: q.choices ?? [], initial: q.default, cancel: 'reject' })) as string
  }
  if (q.kind === 'secret') {
    return (await consola.prompt(`${label}: secret reference (env:NAME or file:/path; the value is never sent)`, { type: 'text', cancel: 'reject' })) as string
  }
  return (await consola.prompt(label, { type: 'text', default: q.default, placeholder: q.default, cancel: 'reject' })) as string
}

export function printOutcome(outcome: InstallOutcome, json: boolean): number {
  if (json) {
    printJson({
      ok: outcome.ok,
      status: outcome.status,
      installId: outcome.installId,
      entryUrl: outcome.entryUrl,
      logsUrl: outcome.logsUrl,
      ...(outcome.testUrl && { testUrl: outcome.testUrl }),
      ...(outcome.durationMs !== undefined && { durationMs: outcome.durationMs }),
      ...(!outcome.ok && { stage: outcome.stage, reason: outcome.reason, errorCode: outcome.errorCode, rolledBack: outcome.rolledBack }),
    })
  } else if (outcome.ok) {
    consola.success(redactText(`${outcome.pluginId} ${outcome.version} is running${outcome.durationMs !== undefined ? ` (installed in ${(outcome.durationMs / 1000).toFixed(1)} s)` : ''}`))
    consola.log(`  entry: ${outcome.entryUrl}`)
    if (outcome.testUrl && outcome.testUrl !== outcome.entryUrl) consola.log(`  test:  ${outcome.testUrl}`)
    consola.log(`  logs:  ${outcome.logsUrl}`)
  } else {
    consola.error(redactText(`Install ${outcome.status} at stage ${outcome.stage}: [${outcome.errorCode ?? 'error'}] ${outcome.reason ?? ''}`))
    consola.log(`  rolled back: ${outcome.rolledBack ? 'yes, nothing is left behind' : outcome.status === 'rejected' ? 'nothing was installed' : 'NO — see the sandbox audit trail'}`)
    if (outcome.logsUrl) consola.log(`  logs: ${outcome.logsUrl}`)
  }
  return outcome.ok ? 0 : 1
}

async function sandboxSection(flags: InstallFlags): Promise<SandboxConfig | undefined> {
  try {
    const { loadConfig } = await import('../../config/load.js')
    const { config } = await loadConfig({ cwd: resolve(flags.cwd ?? '.'), configFile: flags.config, command: 'install' })
    return config.sandbox
  } catch (error) {
    if (flags.config) throw error
    return undefined
  }
}

export async function installCommand(file: string | undefined, flags: InstallFlags): Promise<number> {
  if (!file) throw new PxpError('USAGE', 'No bundle given.', { exitCode: 2, hint: 'Run `pxp install FILE.pxp --sandbox URL --tenant ID`.' })
  const section = await sandboxSection(flags)
  const url = flags.sandbox ?? section?.url
  const tenant = flags.tenant ?? section?.tenant
  const mode = (flags.mode ?? section?.mode ?? 'pxp') as string
  if (!url) throw new PxpError('USAGE', 'No sandbox URL.', { exitCode: 2, hint: 'Pass --sandbox http://127.0.0.1:PORT or set sandbox.url in the config.' })
  if (!tenant) throw new PxpError('USAGE', 'No tenant.', { exitCode: 2, hint: 'Pass --tenant ID or set sandbox.tenant in the config.' })
  if (mode !== 'pxp' && mode !== 'powerx-core') throw new PxpError('USAGE', `--mode must be pxp or powerx-core (got "${mode}").`, { exitCode: 2 })
  const token = flags.token ?? process.env.PXP_SANDBOX_TOKEN ?? (section?.tokenEnv ? process.env[section.tokenEnv] : undefined)
  if (!token) throw new PxpError('SANDBOX_TOKEN_MISSING', 'No sandbox token.', { exitCode: 2, hint: `Pass --token, export PXP_SANDBOX_TOKEN${section?.tokenEnv ? ` or ${section.tokenEnv}` : ''}.` })
  const { installBundle, mergeAnswers, parsePairs, readValuesFile } = await import('../../sandbox/client/index.js')
  const answers = mergeAnswers(
    { env: section?.values ?? {}, secrets: section?.secrets ?? {}, ...(section?.logLevel && { log_level: section.logLevel }) },
    flags.values ? readValuesFile(resolve(flags.values)) : undefined,
    { env: parsePairs(flags.set, '--set'), secrets: parsePairs(flags.secret, '--secret'), ...(flags.logLevel && { log_level: flags.logLevel }) },
  )
  const interactive = Boolean(process.stdin.isTTY) && flags.yes !== true && flags.json !== true
  const outcome = await installBundle({
    file: resolve(file),
    url,
    tenant,
    token,
    mode,
    answers,
    prompt: interactive ? promptQuestion : undefined,
    trust: [flags.trust ?? []].flat().filter(Boolean).map((p) => resolve(String(p))),
    skipValidation: flags.skipValidation === true,
    force: flags.force === true,
    progress: flags.json !== true,
    timeoutMs: flags.timeout ? Number(flags.timeout) * 1000 : undefined,
    logger: flags.json ? undefined : { info: (m) => consola.info(redactText(m)), warn: (m) => consola.warn(redactText(m)) },
  })
  return printOutcome(outcome, flags.json === true)
}

const command: CliCommand = {
  register(cli: CAC, setExit) {
    cli
      .command('install [file]', 'Install a .pxp bundle into a sandbox tenant (or PowerX Core) and follow it to running')
      .option('--sandbox <url>', 'Sandbox URL (default: the config\'s sandbox.url)')
      .option('--tenant <id>', 'Tenant to install into (default: sandbox.tenant)')
      .option('--token <token>', 'Bearer token (default: PXP_SANDBOX_TOKEN, then the env var named by sandbox.tokenEnv)')
      .option('--set <key=value>', 'Answer a wizard question (repeatable)')
      .option('--secret <key=ref>', 'Secret as a reference env:NAME or file:/path (repeatable); the value is never sent')
      .option('--values <file>', 'YAML answers: { env: {...}, secrets: {...}, log_level }')
      .option('--log-level <level>', 'debug, info, warn or error')
      .option('--yes', 'Never prompt; fail listing missing answers instead')
      .option('--mode <mode>', 'pxp (the pxp sandbox, default) or powerx-core (PowerX Core admin API)')
      .option('--trust <pem>', 'Trust roots for the local pre-validation (repeatable)')
      .option('--skip-validation', 'Upload even if remote validation reports problems (the sandbox still refuses and rolls back)')
      .option('--force', 'Send force=true')
      .option('--timeout <seconds>', 'How long to follow the install (default 300)')
      .option('--cwd <dir>', 'Where to look for the config')
      .option('--config <file>', 'Config file whose sandbox section supplies defaults')
      .option('--json', 'Print one JSON document on stdout')
      .example('pxp install dist/com.example.crm/1.0.0/linux-amd64/com.example.crm-1.0.0-linux-amd64.pxp --sandbox http://127.0.0.1:7077 --tenant dev --set BOARD=Demo')
      .action(async (file: string | undefined, flags: InstallFlags) => {
        setExit(await installCommand(file, flags))
      })
  },
}
export default command
