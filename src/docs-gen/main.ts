/** `npm run docs:gen`: writes the generated references under docs/reference/. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { REFERENCE_FILES } from './index.js'

const repo = fileURLToPath(new URL('../../../', import.meta.url)) // dist/src/docs-gen → repo
for (const [file, generate] of Object.entries(REFERENCE_FILES)) {
  const path = join(repo, file)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, generate())
  process.stderr.write(`wrote ${file}\n`)
}
