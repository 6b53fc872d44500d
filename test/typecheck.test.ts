import { spawnSync } from 'node:child_process'
import { expect, it } from 'vitest'
import { repoRoot } from './helpers/cli.js'

it('type-checks under strict TypeScript', () => {
  const run = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--noEmit'], { cwd: repoRoot, encoding: 'utf8' })
  expect(run.stdout + run.stderr).toBe('')
  expect(run.status).toBe(0)
}, 120_000)
