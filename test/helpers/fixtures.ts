import { cpSync, mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll } from 'vitest'
import { repoRoot } from './cli.js'

const made: string[] = []
afterAll(() => {
  if (process.env.PXP_KEEP_TMP) return
  for (const dir of made) rmSync(dir, { recursive: true, force: true })
})

/** A fresh temp directory removed after the test file. */
export function tempDir(prefix = 'pxp-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

/** A copy of playground/ (modes preserved) in a temp directory, without build outputs. */
export function copyPlayground(into = tempDir('pxp-playground-')): string {
  cpSync(join(repoRoot, 'playground'), into, { recursive: true, filter: (src) => !src.includes(`${join(repoRoot, 'playground', 'dist')}`) })
  return into
}

export function write(root: string, rel: string, content: string | Buffer, mode?: number): string {
  const file = join(root, rel)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, content, mode === undefined ? undefined : { mode })
  return file
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

export const BUNDLE_DIR = (out: string, target = 'linux-amd64', id = 'com.powerx.plugins.hello', version = '1.2.0') => join(out, id, version, target)
export const BUNDLE = (out: string, target = 'linux-amd64', id = 'com.powerx.plugins.hello', version = '1.2.0') =>
  join(BUNDLE_DIR(out, target, id, version), `${id}-${version}-${target}.pxp`)
