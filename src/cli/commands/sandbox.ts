/**
 * `pxp sandbox [--host 127.0.0.1] [--port N] [--data-dir DIR] [--limits FILE] [--config FILE]`:
 * runs the local sandbox server until SIGINT/SIGTERM. Without --config it runs the embedded
 * defaults (tenant `dev`, one token with every permission). `--install FILE.pxp` (repeatable)
 * installs bundles into it through the real client once it listens and prints their entry URLs.
 */
import { readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import semver from 'semver'
import type { CAC } from 'cac'
import { consola } from 'consola'
import { PxpError } from '../../errors.js'
import { redactText } from '../../redact.js'
import { resolveTrustRoots } from './verify.js'
import { printOutcome } from './install.js'
import type { CliCommand } from './index.js'

export interface SandboxFlags {
  host?: string
  port?: number | string
  dataDir?: string
  limits?: string
  config?: string
  trust?: string | string[]
  allowUnsigned?: boolean
  tenant?: string
  token?: string
  install?: string | string[]
  set?: string | string[]
  secret?: string | string[]
  values?: string
  logLevel?: string
  json?: boolean
}

const hostTarget = () => `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`

/**
 * `--install FILE.pxp`, or a build output directory (`playground/dist`): then the newest version of
 * each plugin built for this host (`<id>/<version>/<os>-<arch>/*.pxp`).
 */
export function bundlesIn(path: string): string[] {
  let stat
  try {
    stat = statSync(path)
  } catch {
    throw new PxpError('USAGE', `--install: ${path} does not exist.`, { exitCode: 2, hint: 'Build first (pxp build), then pass the .pxp or the output directory.' })
  }
  if (!stat.isDirectory()) return [path]
  const target = hostTarget()
  const found: string[] = []
  const ls = (dir: string) => {
    try {
      return readdirSync(dir).filter((n) => !n.startsWith('.'))
    } catch {
      return []
    }
  }
  for (const id of ls(path)) {
    const versions = ls(join(path, id)).filter((v) => semver.valid(v) && ls(join(path, id, v, target)).some((f) => f.endsWith('.pxp')))
    const newest = versions.sort(semver.rcompare)[0]
    if (newest) found.push(...ls(join(path, id, newest, target)).filter((f) => f.endsWith('.pxp')).map((f) => join(path, id, newest, target, f)))
  }
  if (found.length === 0) throw new PxpError('USAGE', `--install: no ${target} bundle under ${path}.`, { exitCode: 2, hint: `Build one for this host: pxp build --os ${target.split('-')[0]} --arch ${target.split('-')[1]}.` })
  return found
}

export async function sandboxCommand(flags: SandboxFlags): Promise<number> {
  const port = flags.port === undefined ? 7077 : Number(flags.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new PxpError('USAGE', `--port must be 0–65535 (got ${String(flags.port)}).`, { exitCode: 2 })
  const trust = flags.config ? [flags.trust ?? []].flat().filter(Boolean).map((p) => resolve(String(p))) : await resolveTrustRoots({ trust: flags.trust })
  const { loadSettings, startSandbox } = await import('../../sandbox/index.js')
  const { installBundle, mergeAnswers, parsePairs, readValuesFile } = await import('../../sandbox/client/index.js')
  const { settings, generatedToken, embeddedToken } = loadSettings({
    configFile: flags.config,
    limitsFile: flags.limits,
    dataDir: flags.dataDir,
    host: flags.host,
    port,
    trust,
    allowUnsigned: flags.allowUnsigned === true,
    tenant: flags.config ? undefined : flags.tenant,
  })
  const installs = [flags.install ?? []].flat().filter(Boolean).flatMap((f) => bundlesIn(resolve(String(f))))
  const answers = mergeAnswers(flags.values ? readValuesFile(resolve(flags.values)) : undefined, { env: parsePairs(flags.set, '--set'), secrets: parsePairs(flags.secret, '--secret'), ...(flags.logLevel && { log_level: flags.logLevel }) })
  const handle = await startSandbox(settings)
  const tenants = [...settings.tenants.keys()]
  // One machine-readable line on stdout (tests and scripts read it), the rest for humans on stderr.
  process.stdout.write(`PXP_SANDBOX_URL=${handle.url}\n`)
  consola.success(`pxp sandbox listening on ${handle.url} (core ${settings.coreVersion}; tenants ${tenants.join(', ')}; data ${settings.dataDir})`)
  if (generatedToken) process.stderr.write(`  token for tenant ${tenants[0]} (shown once; set PXP_SANDBOX_TOKEN to choose your own): ${generatedToken}\n`)
  if (handle.recovered.rolledBack.length || handle.recovered.restarted.length) {
    consola.info(`Recovered: ${handle.recovered.rolledBack.length} interrupted install(s) rolled back, ${handle.recovered.restarted.length} plugin(s) restarted.`)
  }

  let exitCode = 0
  let stopping: (() => void) | undefined
  const stopped = new Promise<void>((r) => (stopping = r))
  const onSignal = () => stopping?.()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  const token = flags.token ?? (flags.config ? process.env.PXP_SANDBOX_TOKEN : embeddedToken)
  const tenant = flags.tenant ?? tenants[0]!
  for (const file of installs) {
    try {
      const outcome = await installBundle({
        file,
        url: handle.url,
        tenant,
        token: token ?? '',
        answers,
        trust,
        progress: false,
        logger: { info: (m) => consola.info(redactText(m)), warn: (m) => consola.warn(redactText(m)) },
      })
      if (printOutcome(outcome, false) !== 0) exitCode = 1
      if (outcome.ok) process.stdout.write(`PXP_ENTRY_URL=${outcome.entryUrl}\n`)
    } catch (error) {
      exitCode = error instanceof PxpError ? error.exitCode : 1
      consola.error(redactText(error instanceof PxpError ? error.format() : String(error)))
    }
  }
  if (installs.length) consola.info('Serving until Ctrl-C.')
  await stopped
  consola.info('Stopping the sandbox and its plugins…')
  await handle.close()
  // Everything the sandbox owns is closed now. Whatever still holds the event loop (a stray socket
  // or timer) must not keep a stopped server alive: name it for whoever debugs it, then exit.
  setTimeout(() => {
    process.stderr.write(`pxp sandbox: still open after shutdown: ${process.getActiveResourcesInfo().join(', ') || 'nothing'}; exiting.\n`)
    process.exit(exitCode)
  }, 2000).unref()
  return exitCode
}

const command: CliCommand = {
  register(cli: CAC, setExit) {
    cli
      .command('sandbox', 'Run the local sandbox server (tenants, installs, plugin processes) until Ctrl-C')
      .option('--host <host>', 'Address to bind (default 127.0.0.1)')
      .option('--port <port>', 'Port (default 7077; 0 picks a free one)')
      .option('--data-dir <dir>', 'State directory (default .pxp-sandbox)')
      .option('--limits <file>', 'sandbox_limits.yaml')
      .option('--config <file>', 'sandbox.yaml (tenants, tokens, trust, webhooks); without it: tenant dev and one token')
      .option('--trust <pem>', 'Trust root PEM (repeatable; default PX_TRUST_ROOTS, then the pxp config)')
      .option('--allow-unsigned', 'Embedded mode: let tenant dev install unsigned bundles')
      .option('--tenant <id>', 'Embedded tenant id (default dev); with --config, the tenant for --install')
      .option('--token <token>', 'Token for --install with --config (default PXP_SANDBOX_TOKEN)')
      .option('--install <file>', 'Install this bundle once the server listens (repeatable)')
      .option('--set <key=value>', 'Wizard answer for --install (repeatable)')
      .option('--secret <key=ref>', 'Secret reference for --install (repeatable)')
      .option('--values <file>', 'YAML wizard answers for --install')
      .option('--log-level <level>', 'Log level answer for --install')
      .example('pxp sandbox --allow-unsigned --install playground/dist/com.powerx.plugins.hello/1.2.0/linux-amd64/com.powerx.plugins.hello-1.2.0-linux-amd64.pxp --set HELLO_BOARD_NAME=Demo')
      .action(async (flags: SandboxFlags) => {
        setExit(await sandboxCommand(flags))
      })
  },
}
export default command
