import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/**
 * Compile src/, plugins/ and presets/ to dist/ so tests drive the same JavaScript that
 * `npm install` ships. tsc emits even when it finds type errors; those fail test/typecheck.test.ts
 * instead of every suite at once.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const run = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' })
  if (run.status !== 0 && run.status !== 2) throw new Error(`tsc could not run:\n${run.stdout}${run.stderr}`)
}
