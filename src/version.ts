import { readFileSync } from 'node:fs'

// src/version.ts runs from src/ (jiti, vitest) and from dist/src/ (the shipped CLI): look upwards.
function readPackageVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'pxp' && pkg.version) return pkg.version
    } catch {
      // Not at this level.
    }
  }
  return '0.0.0'
}

export const toolName = 'pxp'
export const toolVersion: string = readPackageVersion()
