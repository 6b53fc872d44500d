/**
 * `pxp upload FILE.pxp [--resume] [--json]`: sends an existing bundle and its sidecars
 * (integrity.txt, manifest.signature, report.json next to it) to the configured artifact store(s).
 */
import { resolve } from 'node:path'
import type { CAC } from 'cac'
import { PxpError } from '../../errors.js'
import { failure, printJson } from '../output.js'
import type { CliCommand } from './index.js'

export interface UploadFlags {
  cwd?: string
  config?: string
  resume?: boolean
  env?: string
  json?: boolean
}

async function runUpload(file: string | undefined, flags: UploadFlags): Promise<number> {
  if (!file) throw new PxpError('USAGE', 'pxp upload needs the .pxp file to upload.', { exitCode: 2, hint: 'Run `pxp upload dist/<id>/<version>/<os>-<arch>/<id>-<version>-<os>-<arch>.pxp`.' })
  const controller = new AbortController()
  const onSignal = () => controller.abort(new PxpError('INTERRUPTED', 'Upload interrupted.', { hint: 'Run the same command with --resume to continue from the last stored part.' }))
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const { upload } = await import('../../transfer/upload-run.js')
    const result = await upload({
      cwd: flags.cwd ? resolve(flags.cwd) : process.cwd(),
      configFile: flags.config,
      envName: flags.env,
      bundle: resolve(file),
      resume: flags.resume === true,
      ...(flags.json ? { progress: false as const } : {}),
      signal: controller.signal,
    })
    if (flags.json) {
      printJson({ ok: true, pxp: result.bundle.path, sha256: result.bundle.sha256, size: result.bundle.size, uploads: result.uploads })
    } else {
      const { consola } = await import('consola')
      for (const receipt of result.uploads) {
        consola.success(`${receipt.fileName ?? receipt.key} → ${receipt.url}${receipt.skipped ? ' (already there)' : ''}${receipt.resumedParts ? ` (resumed, ${receipt.resumedParts} parts reused)` : ''}`)
      }
    }
    return 0
  } catch (error) {
    return failure(error, flags.json === true)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

const command: CliCommand = {
  register(cli: CAC, setExit) {
    cli
      .command('upload [file]', 'Upload a .pxp bundle and its sidecars to the configured artifact store(s)')
      .option('--cwd <dir>', 'Plugin repository with the config (default: current directory)')
      .option('--config <file>', 'Config file (default: px-plugin.config.ts in --cwd)')
      .option('--resume', 'Continue an interrupted multipart upload from its last stored part')
      .option('--env <name>', 'Config environment for $env keys (default: NODE_ENV or production)')
      .option('--json', 'Print one JSON document on stdout')
      .example('pxp upload dist/acme/1.2.0/linux-amd64/acme-1.2.0-linux-amd64.pxp')
      .example('pxp upload dist/acme/1.2.0/linux-amd64/acme-1.2.0-linux-amd64.pxp --resume --json')
      .action(async (file: string | undefined, flags: UploadFlags) => {
        setExit(await runUpload(file, flags))
      })
  },
}
export default command
