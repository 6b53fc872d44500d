/**
 * The CLI is a thin shell over the programmatic API: parse flags with cac, call the API, print
 * human output on stderr (consola) or exactly one JSON document on stdout with `--json`, and map
 * errors to the exit codes of cli.md.
 */
import { cac, type CAC } from 'cac'
import { consola } from 'consola'
import { commands } from './commands/index.js'
import { failure } from './output.js'
import { PxpError } from '../errors.js'
import { hooksInFlight } from '../host/driver.js'
import { toolVersion } from '../version.js'

/** The cac instance with every command registered, not yet parsed (also read by src/docs-gen). */
export function createCli(setExit: (code: number) => void = () => {}): CAC {
  const cli = cac('pxp')
  for (const command of commands) command.register(cli, setExit)
  cli.help()
  cli.version(toolVersion)
  return cli
}

export async function main(argv: string[]): Promise<number> {
  // Human output goes to stderr (cli.md): stdout is reserved for `--json` documents.
  consola.options.stdout = process.stderr
  let exitCode = 0
  const cli = createCli((code) => {
    exitCode = code
  })
  const json = argv.includes('--json')
  // A hook that awaits a promise nothing can settle (no timer, socket or file left to wait on) lets
  // the event loop run dry mid-command, and Node would end the process silently (exit code 13).
  const drained = () => {
    const hooks = hooksInFlight()
    process.exitCode = failure(
      new PxpError('HOOK_NEVER_SETTLED', `${hooks.length ? `The run stopped inside ${hooks.join(', ')}` : 'pxp stopped'}: it awaits a promise that nothing is left to settle.`, {
        hint: hooks.length ? 'The plugin awaits something that never happens (a forgotten resolve, an event that was missed); fix the plugin.' : 'This is a bug in pxp; rerun with PXP_DEBUG=1 and report it.',
      }),
      json,
    )
  }
  process.once('exit', drained)
  try {
    cli.parse(['node', 'pxp', ...argv], { run: false })
    if (!cli.matchedCommand) {
      if (cli.options.help || cli.options.version) return 0
      const name = cli.args[0]
      throw new PxpError('USAGE', name ? `Unknown command "${name}".` : 'No command given.', {
        exitCode: 2,
        hint: 'Run `pxp --help` to list the commands.',
      })
    }
    if (cli.options.help) return 0
    await cli.runMatchedCommand()
    return exitCode
  } catch (error) {
    return failure(error, json)
  } finally {
    process.off('exit', drained)
  }
}
