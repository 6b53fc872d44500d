import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** Compile src/ and plugins/ to dist/ so tests drive the same JavaScript that `npm install` ships. */
export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' })
}
