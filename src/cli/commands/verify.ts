/**
 * `pxp verify FILE.pxp [--signature FILE] [--trust ROOTS.pem] [--allow-unsigned] [--json]`, also
 * reached as `pxp dist --verify FILE`. A thin shell over `verifyBundle`: resolve the trust roots,
 * verify, print, and exit 0 (verified), 1 (verification failed) or 2 (usage).
 */
import { delimiter, resolve } from 'node:path'
import type { CAC } from 'cac'
import { consola } from 'consola'
import { PxpError } from '../../errors.js'
import { redactText } from '../../redact.js'
import type { VerifyReport } from '../../verify/index.js'
import { printJson } from '../output.js'
import type { CliCommand } from './index.js'

export interface VerifyFlags {
  signature?: string
  trust?: string | string[]
  allowUnsigned?: boolean
  json?: boolean
  cwd?: string
  config?: string
}

/**
 * Trust roots, first source that has any: `--trust` (repeatable), `PX_TRUST_ROOTS` (paths separated
 * by `,` or the platform's path delimiter), the config's `trust`. Paths on the command line and in
 * the env resolve against the shell's working directory (as build's flags do); `--cwd` and
 * `--config` only locate the config.
 */
export async function resolveTrustRoots(flags: VerifyFlags, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const fromFlag = [flags.trust ?? []].flat().filter(Boolean).map((p) => resolve(String(p)))
  if (fromFlag.length > 0) return fromFlag
  const fromEnv = (env.PX_TRUST_ROOTS ?? '').split(new RegExp(`[,${delimiter}]`)).map((p) => p.trim()).filter(Boolean)
  if (fromEnv.length > 0) return fromEnv.map((p) => resolve(p))
  try {
    const { loadConfig } = await import('../../config/load.js')
    const { config } = await loadConfig({ cwd: resolve(flags.cwd ?? '.'), configFile: flags.config, command: 'verify', env })
    return config.trust
  } catch (error) {
    // No usable config is not fatal: with no roots a signed bundle fails closed (CERT_UNTRUSTED).
    if (flags.config) throw error
    return []
  }
}

export function verifyJson(report: VerifyReport): Record<string, unknown> {
  return { ok: report.ok, signed: report.signed, signer: report.signer ?? null, errors: report.errors }
}

/** The command's core, shared with `pxp dist --verify FILE`. Returns the exit code. */
export async function verifyCommand(file: string | undefined, flags: VerifyFlags): Promise<number> {
  if (!file) throw new PxpError('USAGE', 'No bundle given.', { exitCode: 2, hint: 'Run `pxp verify FILE.pxp`.' })
  const { verifyBundle } = await import('../../verify/index.js')
  const report = await verifyBundle(resolve(file), {
    trust: await resolveTrustRoots(flags),
    signature: flags.signature ? resolve(flags.signature) : undefined,
    allowUnsigned: flags.allowUnsigned === true,
  })
  if (flags.json) {
    printJson(verifyJson(report))
  } else if (report.ok) {
    const who = report.signer ? `signed by "${report.signer.subject}" (issuer "${report.signer.issuer}", valid until ${report.signer.notAfter})` : 'unsigned (allowed by --allow-unsigned)'
    consola.success(redactText(`${file} verified: ${report.files} files, ${who}.`))
  } else {
    for (const issue of report.errors) consola.error(redactText(`[${issue.code}] ${issue.path ? `${issue.path}: ` : ''}${issue.message}`))
    consola.error(`${file} failed verification (${report.errors.length} problem${report.errors.length === 1 ? '' : 's'}).`)
  }
  return report.ok ? 0 : 1
}

const command: CliCommand = {
  register(cli: CAC, setExit) {
    cli
      .command('verify [file]', 'Verify a .pxp bundle: paths, hashes, manifest, signature and chain')
      .option('--signature <file>', 'Detached signature to check instead of the embedded one')
      .option('--trust <pem>', 'Trust root PEM file (repeatable; default PX_TRUST_ROOTS, then the config)')
      .option('--allow-unsigned', 'Accept a bundle without a signature')
      .option('--cwd <dir>', 'Directory to look for the config in (for its `trust`)')
      .option('--config <file>', 'Config file whose `trust` to use')
      .option('--json', 'Print one JSON document on stdout')
      .example('pxp verify dist/com.example.crm/1.0.0/linux-amd64/com.example.crm-1.0.0-linux-amd64.pxp --trust root.pem')
      .action(async (file: string | undefined, flags: VerifyFlags) => {
        setExit(await verifyCommand(file, flags))
      })
  },
}
export default command
