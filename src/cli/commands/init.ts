/**
 * `pxp init [--cwd DIR] [--yes] [--force] [--preset NAME] [--json]`: reads an existing plugin
 * repository (src/scaffold/detect.ts) and writes a typed px-plugin.config.ts. Asks on a TTY;
 * `--yes` (or no TTY) takes the detected defaults. The written config is loaded once before
 * reporting success, so `pxp build` works right after.
 */
import { rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { CAC } from 'cac'
import { consola } from 'consola'
import { PxpError } from '../../errors.js'
import type { DetectedLayout } from '../../scaffold/detect.js'
import type { InitAnswers } from '../../scaffold/config-template.js'
import { printJson, displayPath } from '../output.js'
import type { CliCommand } from './index.js'

interface InitFlags {
  cwd?: string
  yes?: boolean
  force?: boolean
  preset?: string
  devKeys?: boolean
  json?: boolean
}

const PRESETS = ['powerx-intranet', 'aws', 'aliyun'] as const
const COMMON_TARGETS = ['linux-amd64', 'linux-arm64', 'darwin-arm64', 'darwin-amd64', 'windows-amd64']

export interface InitResult {
  configFile: string
  layout: DetectedLayout
  answers: InitAnswers
}

export async function init(flags: InitFlags, interactive: boolean): Promise<InitResult> {
  const root = resolve(flags.cwd ?? '.')
  const { detectLayout } = await import('../../scaffold/detect.js')
  const layout = await detectLayout(root)
  if (layout.existingConfig && !flags.force) {
    throw new PxpError('CONFIG_EXISTS', `${layout.existingConfig} already exists.`, {
      exitCode: 2,
      file: layout.existingConfig,
      hint: 'Edit it, add plugins with `pxp add`, or rerun with --force to replace it.',
    })
  }
  if (flags.preset !== undefined && !(PRESETS as readonly string[]).includes(flags.preset)) {
    throw new PxpError('USAGE', `Unknown --preset "${flags.preset}".`, { exitCode: 2, hint: `Use one of ${PRESETS.join(', ')} (or add a team preset later with \`pxp add\`).` })
  }
  const answers: InitAnswers = {
    targets: layout.targets,
    preset: flags.preset as InitAnswers['preset'],
    devSigning: flags.devKeys === true,
  }
  if (interactive) await ask(layout, answers, flags)

  const configFile = join(root, 'px-plugin.config.ts')
  if (layout.existingConfig && layout.existingConfig !== configFile) await rm(layout.existingConfig)
  const { configTemplate } = await import('../../scaffold/config-template.js')
  await writeFile(configFile, configTemplate(layout, answers))
  try {
    const { loadConfig } = await import('../../config/load.js')
    await loadConfig({ cwd: root, env: { ...process.env, PX_OFFLINE_IMPORT: '1' } })
  } catch (error) {
    // A config pxp itself cannot load is a bug here, not the user's; leave the file for the report.
    throw new PxpError('INIT_FAILED', `The written ${configFile} does not load: ${(error as Error).message}`, { cause: error, file: configFile, hint: 'Please report this with the file attached.' })
  }
  return { configFile, layout, answers }
}

async function ask(layout: DetectedLayout, answers: InitAnswers, flags: InitFlags): Promise<void> {
  const detected = layout.targets.map((t) => `${t.os}-${t.arch}`)
  const options = [...new Set([...detected, ...COMMON_TARGETS])]
  const targets = (await consola.prompt(`Targets (found: ${detected.join(', ')} from ${layout.targetsFrom})`, {
    type: 'multiselect',
    options,
    initial: detected,
    required: true,
    cancel: 'reject',
  })) as unknown as Array<string | { value: string }>
  answers.targets = targets.map((t) => (typeof t === 'string' ? t : t.value)).map((t) => {
    const [os, arch] = t.split('-')
    return { os: os!, arch: arch! }
  })
  if (flags.preset === undefined) {
    const preset = (await consola.prompt('Preset (signer, store and sandbox defaults)', {
      type: 'select',
      options: ['none', ...PRESETS],
      initial: 'none',
      cancel: 'reject',
    })) as unknown as string
    answers.preset = preset === 'none' ? undefined : (preset as InitAnswers['preset'])
  }
  if (!answers.preset && flags.devKeys === undefined) {
    answers.devSigning = (await consola.prompt('Sign local builds with development keys (pxp keys dev)?', { type: 'confirm', initial: false, cancel: 'reject' })) as unknown as boolean
  }
}

const command: CliCommand = {
  register(cli: CAC, setExit) {
    cli
      .command('init', 'Write px-plugin.config.ts for an existing plugin repository (detects targets, admin UI, contracts)')
      .option('--cwd <dir>', 'Plugin repository (default: current directory)')
      .option('--yes', 'Take the detected defaults without asking')
      .option('--force', 'Replace an existing config file')
      .option('--preset <name>', 'Start from a built-in preset: powerx-intranet, aws or aliyun')
      .option('--dev-keys', 'Sign with the development keys of `pxp keys dev`')
      .option('--json', 'Print one JSON document on stdout')
      .example('pxp init --yes')
      .action(async (flags: InitFlags) => {
        const interactive = !flags.yes && !flags.json && Boolean(process.stdin.isTTY && process.stderr.isTTY)
        if (!interactive && !flags.yes && !flags.json) consola.info('No terminal to ask on: using the detected defaults (--yes).')
        const result = await init(flags, interactive)
        const targets = result.answers.targets.map((t) => `${t.os}-${t.arch}`)
        if (flags.json) {
          printJson({ ok: true, configFile: result.configFile, targets, preset: result.answers.preset ?? null, adminUi: result.layout.adminUi ?? null, contracts: result.layout.contracts, assets: result.layout.assets })
        } else {
          consola.success(`Wrote ${displayPath(result.configFile)} (targets ${targets.join(', ')}${result.answers.preset ? `, preset ${result.answers.preset}` : ''}).`)
          consola.info('Next: `pxp build`. Add plugins or presets with `pxp add <name>`.')
        }
        setExit(0)
      })
  },
}
export default command

