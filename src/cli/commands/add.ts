/**
 * `pxp add <plugin|preset> [--cwd DIR] [--no-install] [--as plugin|preset] [--json]`: edits
 * px-plugin.config.ts in place, keeping comments and formatting (src/scaffold/add.ts).
 */
import { resolve } from 'node:path'
import type { CAC } from 'cac'
import { consola } from 'consola'
import { PxpError } from '../../errors.js'
import { printJson, displayPath } from '../output.js'
import type { CliCommand } from './index.js'

interface AddFlags {
  cwd?: string
  install?: boolean
  as?: string
  json?: boolean
}

const command: CliCommand = {
  register(cli: CAC, setExit) {
    cli
      .command('add [name]', 'Add a preset (aws, powerx-intranet, aliyun, a package or file) or a plugin to px-plugin.config.ts')
      .option('--cwd <dir>', 'Project directory (default: current directory)')
      .option('--no-install', 'Do not install a missing npm package')
      .option('--as <kind>', 'Treat a package or file as a "plugin" or a "preset" instead of looking at its export')
      .option('--json', 'Print one JSON document on stdout')
      .example('pxp add aws')
      .example('pxp add signer-kms')
      .example('pxp add pxp-plugin-banner')
      .action(async (name: string | undefined, flags: AddFlags) => {
        if (flags.as !== undefined && flags.as !== 'plugin' && flags.as !== 'preset') {
          throw new PxpError('USAGE', `--as must be "plugin" or "preset", got "${flags.as}".`, { exitCode: 2 })
        }
        const { addToConfig } = await import('../../scaffold/add.js')
        const result = await addToConfig({ cwd: resolve(flags.cwd ?? '.'), name: name ?? '', install: flags.install !== false, as: flags.as as 'plugin' | 'preset' | undefined })
        if (flags.json) printJson({ ok: true, ...result })
        else {
          const file = displayPath(result.configFile)
          if (result.change === 'unchanged') consola.info(`${name} is already in ${file}; nothing changed.`)
          else consola.success(`${result.created ? 'Created' : 'Updated'} ${file}: ${result.change}${result.installed ? ` (installed ${name})` : ''}.`)
        }
        setExit(0)
      })
  },
}
export default command
