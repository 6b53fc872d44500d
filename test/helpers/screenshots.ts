import { mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './cli.js'

/**
 * Where a test saves a screenshot: docs/images/ with PXP_UPDATE_SCREENSHOTS=1 (to refresh the
 * documentation's pictures), else a temp directory, so `npm test` leaves the tree clean.
 */
export function screenshotPath(name: string): string {
  const dir = process.env.PXP_UPDATE_SCREENSHOTS === '1' ? join(repoRoot, 'docs', 'images') : join(tmpdir(), 'pxp-screenshots')
  mkdirSync(dir, { recursive: true })
  return join(dir, name)
}
