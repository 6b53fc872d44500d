import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
export const pxpBin = fileURLToPath(new URL('../../bin/pxp.mjs', import.meta.url))

export interface CliRun {
  code: number
  stdout: string
  stderr: string
  /** Parsed stdout when `--json` was passed. */
  json?: any
}

/** Runs the shipped CLI as a real child process. */
/** The environment of a user's shell: without the variables vitest sets (consola hides info lines under test). */
export function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', CI: '1' }
  for (const key of Object.keys(env)) if (key.startsWith('VITEST') || key === 'TEST' || key === 'NODE_ENV') delete env[key]
  return { ...env, ...extra }
}

export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; fileSizeLimitKiB?: number } = {}): Promise<CliRun> {
  // A real kernel limit (RLIMIT_FSIZE: writes past it fail with EFBIG) stands in for a full disk.
  const command = options.fileSizeLimitKiB ? ['bash', '-c', `ulimit -f ${options.fileSizeLimitKiB} && exec "$0" "$@"`, process.execPath] : [process.execPath]
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, [...command.slice(1), pxpBin, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: userEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      let json: unknown
      if (args.includes('--json')) {
        try {
          json = JSON.parse(stdout)
        } catch {
          json = undefined
        }
      }
      resolve({ code: code ?? -1, stdout, stderr, json })
    })
    child.stdin.end(options.input ?? '')
  })
}
