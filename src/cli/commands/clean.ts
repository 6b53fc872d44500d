/**
 * `pxp clean [--dry-run]`: removes the staging of earlier runs (kept after failures for forensics
 * and `--resume`), the caches and `.trash` (bundles a rebuild replaced). Current bundles, reports
 * and the logs are never touched.
 */
import { rmSync } from 'node:fs'
import { resolve } from 'node:path'
import type { CAC } from 'cac'
import { consola } from 'consola'
import { cleanTargets } from '../../pipeline/staging.js'
import { printJson } from '../output.js'
import type { CliCommand } from './index.js'

interface CleanFlags { cwd?: string; config?: string; out?: string; dryRun?: boolean; json?: boolean }

async function clean(flags: CleanFlags): Promise<number> {
  const { loadConfig } = await import('../../config/load.js')
  const { config } = await loadConfig({ cwd: resolve(flags.cwd ?? process.cwd()), configFile: flags.config, overrides: flags.out ? { out: resolve(flags.out) } : {} })
  const items = cleanTargets(config.out)
  if (!flags.dryRun) for (const item of items) rmSync(item.path, { recursive: true, force: true })
  if (flags.json) printJson({ ok: true, dryRun: Boolean(flags.dryRun), removed: items })
  else if (items.length === 0) consola.info(`Nothing to clean in ${config.out}`)
  else for (const item of items) consola.info(`${flags.dryRun ? 'Would remove' : 'Removed'} ${item.path} (${(item.bytes / 1024 / 1024).toFixed(1)} MiB)`)
  return 0
}

const command: CliCommand = {
  register(cli: CAC, setExit) {
    cli
      .command('clean', 'Remove staging of earlier runs, caches and replaced bundles from the output directory')
      .option('--cwd <dir>', 'Project directory')
      .option('--config <file>', 'Config file')
      .option('--out <dir>', 'Output directory (default: from the config)')
      .option('--dry-run', 'Only list what would be removed')
      .option('--json', 'Print one JSON document on stdout')
      .example('pxp clean --dry-run')
      .action(async (flags: CleanFlags) => setExit(await clean(flags)))
  },
}
export default command
