/**
 * `pxp build` and its documented alias `pxp dist` (`px-plugin dist --target offline`).
 */
import { resolve } from 'node:path'
import type { CAC } from 'cac'
import type { BuildOptions, BuildResult } from '../../pipeline/run.js'
import type { WatchEvent } from '../../pipeline/watch.js'
import { PxpError } from '../../errors.js'
import type { UserConfig } from '../../config/types.js'
import { consola } from 'consola'
import { displayPath, failure, printJson, printJsonLine } from '../output.js'
import { verifyCommand } from './verify.js'
import { uploadOverrides } from '../../transfer/options.js'
import type { CliCommand } from './index.js'

export interface BuildFlags {
  cwd?: string
  config?: string
  out?: string
  target?: string
  os?: string
  arch?: string
  sign?: string
  key?: string
  chain?: string
  kmsKeyId?: string
  kmsRegion?: string
  upload?: boolean
  install?: boolean
  resume?: boolean
  approval?: string
  env?: string
  json?: boolean
  verify?: string
  watch?: boolean
}

/** Flags that set config keys become the highest config layer; paths resolve against the shell's cwd. */
export function flagsToOverrides(flags: BuildFlags): UserConfig {
  const overrides: UserConfig = {}
  if (flags.out) overrides.out = resolve(flags.out)
  if (flags.sign || flags.key) {
    if (!flags.sign || !flags.key) throw new PxpError('USAGE', '--sign and --key go together.', { exitCode: 2, hint: 'Pass --sign CERT.pem --key KEY.pem [--chain CHAIN.pem].' })
    overrides.signer = { type: 'pem', cert: resolve(flags.sign), key: resolve(flags.key), ...(flags.chain && { chain: resolve(flags.chain) }) }
  }
  if (flags.kmsKeyId || flags.kmsRegion) {
    if (!flags.kmsKeyId || !flags.kmsRegion) throw new PxpError('USAGE', '--kms-key-id and --kms-region go together.', { exitCode: 2 })
    overrides.signer = { type: 'kms', keyId: flags.kmsKeyId, region: flags.kmsRegion }
  }
  // Run-wide upload options (resume, progress off under --json) travel in the config's `upload` section.
  Object.assign(overrides, uploadOverrides({ resume: flags.resume, json: flags.json }))
  return overrides
}

export function buildJson(result: BuildResult): Record<string, unknown> {
  return {
    ok: result.ok,
    targets: result.targets.map((t) => ({
      os: t.target.os,
      arch: t.target.arch,
      pxp: t.bundle?.path ?? null,
      sha256: t.bundle?.sha256 ?? null,
      size: t.bundle?.size ?? null,
      integrity: t.artifacts.find((a) => a.kind === 'integrity')?.path ?? null,
      signature: t.artifacts.find((a) => a.kind === 'signature')?.path ?? null,
      report: t.artifacts.find((a) => a.kind === 'report')?.path ?? null,
      uploads: t.uploads,
      install: t.install ?? null,
    })),
    ...(result.errors.length > 0 && { errors: result.errors.map((e) => ({ target: e.target, ...e.error.toJSON() })) }),
  }
}

/** A flag given twice arrives as an array from cac; like other CLIs, the last one wins. */
export function lastValues<T extends object>(flags: T): T {
  return Object.fromEntries(Object.entries(flags).map(([k, v]) => [k, Array.isArray(v) && k !== '--' ? v[v.length - 1] : v])) as T
}

function buildOptions(flags: BuildFlags): BuildOptions {
  return {
    cwd: flags.cwd ? resolve(flags.cwd) : process.cwd(),
    configFile: flags.config,
    overrides: flagsToOverrides(flags),
    os: flags.os,
    arch: flags.arch,
    upload: flags.upload !== false,
    install: flags.install !== false,
    approval: flags.approval,
    resume: flags.resume === true,
    envName: flags.env,
  }
}

/** The exit code of a finished build, printing its errors the cli.md way. */
function report(result: BuildResult, json: boolean): number {
  if (result.ok) return 0
  if (!json) for (const { target, error } of result.errors) failure(Object.assign(error, { message: `${target}: ${error.message}` }), false)
  return result.errors[0]!.error.exitCode
}

async function runBuild(input: BuildFlags): Promise<number> {
  const flags = lastValues(input)
  if (flags.target && flags.target !== 'offline') {
    throw new PxpError('USAGE', `Unknown --target "${flags.target}".`, { exitCode: 2, hint: 'The only target is "offline".' })
  }
  if (flags.watch) return runWatch(flags)
  const controller = new AbortController()
  const onSigint = () => controller.abort(new PxpError('INTERRUPTED', 'Interrupted (Ctrl-C).', { hint: 'Outputs from earlier runs are untouched.' }))
  process.once('SIGINT', onSigint)
  try {
    const { build } = await import('../../pipeline/run.js')
    const result = await build({ ...buildOptions(flags), signal: controller.signal })
    if (flags.json) printJson(buildJson(result))
    return report(result, flags.json === true)
  } finally {
    process.off('SIGINT', onSigint)
  }
}

/**
 * `--watch`: builds, then rebuilds on every change until Ctrl-C. With `--json`, one JSON document
 * per build, each on one line. Ends with the exit code of the last build.
 */
async function runWatch(flags: BuildFlags): Promise<number> {
  if (flags.resume) throw new PxpError('USAGE', '--resume and --watch do not go together.', { exitCode: 2, hint: '--resume continues one interrupted run: run it without --watch.' })
  const { watch } = await import('../../pipeline/watch.js')
  const json = flags.json === true
  const options = buildOptions(flags)
  let code = 0
  const watcher = watch({
    ...options,
    onStart({ changed }) {
      if (changed.length > 0 && !json) consola.info(`Changed: ${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ` and ${changed.length - 3} more` : ''}; rebuilding`)
    },
    onBuild(event: WatchEvent) {
      if (event.error) {
        code = event.error.exitCode
        if (json) printJsonLine({ ok: false, error: event.error.toJSON(), changed: event.changed, durationMs: event.durationMs })
        else failure(event.error, false)
      } else {
        const result = event.result!
        if (json) printJsonLine({ ...buildJson(result), changed: event.changed, durationMs: event.durationMs })
        code = report(result, json)
      }
      if (!json) consola.info(`${code === 0 ? 'Built' : 'Failed'} in ${event.durationMs} ms. Watching ${displayPath(options.cwd!)} for changes (Ctrl-C to stop).`)
    },
  })
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      done()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  await watcher.close()
  if (!json) consola.info('Stopped watching.')
  return watcher.last ? code : 130
}

const command: CliCommand = {
  register(cli: CAC, setExit) {
    for (const name of ['build', 'dist']) {
      const command = cli
        .command(name, name === 'build' ? 'Build the offline .pxp bundle(s) of a PowerX plugin' : 'Alias of build (px-plugin dist --target offline)')
        .option('--cwd <dir>', 'Plugin repository (default: current directory)')
        .option('--config <file>', 'Config file (default: px-plugin.config.ts in --cwd)')
        .option('--out <dir>', 'Output directory (default: <root>/dist)')
        .option('--target <target>', 'Build target; only "offline"')
        .option('--os <os>', 'Only this OS (Go name: linux, darwin, windows)')
        .option('--arch <arch>', 'Only this architecture (Go name: amd64, arm64)')
        .option('--sign <cert>', 'Sign with this PEM certificate (with --key)')
        .option('--key <key>', 'PEM/PKCS#12 private key for --sign')
        .option('--chain <chain>', 'PEM intermediates to embed')
        .option('--kms-key-id <id>', 'Sign with this KMS key (id, ARN or alias)')
        .option('--kms-region <region>', 'Region of the KMS key')
        .option('--no-upload', 'Skip the upload step')
        .option('--no-install', 'Skip the install step')
        .option('--resume', 'Continue an interrupted run')
        .option('--approval <ref>', 'Approval reference for an unsigned build (PX_CLI_SIGNING=0)')
        .option('--env <name>', 'Config environment for $env keys (default: NODE_ENV or production)')
        .option('--watch', 'Rebuild whenever the plugin tree or the config changes (Ctrl-C to stop)')
        .option('--json', 'Print one JSON document on stdout (with --watch: one line per build)')
        .example(`pxp ${name}`)
        .example(`pxp ${name} --os linux --arch arm64 --sign cert.pem --key key.pem --json`)
        .example('PX_CLI_SIGNING=0 pxp build --approval CHG-1234 --no-upload')
        .example(`pxp ${name} --watch --no-upload`)
      if (name === 'dist') {
        command
          .option('--verify <file>', 'Verify a bundle instead of building (same as pxp verify)')
          .option('--signature <file>', 'With --verify: a detached manifest.signature sidecar')
          .option('--trust <pem>', 'With --verify: trust roots (PEM)')
          .option('--allow-unsigned', 'With --verify: accept an unsigned bundle')
          .example('pxp dist --verify plugin.pxp --trust root.pem')
      }
      command.action(async (flags: BuildFlags & Record<string, unknown>) => {
        if (flags.verify) return setExit(await verifyCommand(lastValues(flags).verify, flags))
        setExit(await runBuild(flags))
      })
    }
  },
}
export default command

