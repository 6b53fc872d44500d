/**
 * Bundles for store tests: random bytes laid out the way `pxp build` lays them out
 * (`<out>/<id>/<version>/<os>-<arch>/<id>-<version>-<os>-<arch>.pxp` plus sidecars). An
 * EmittedArtifact is only a file and its sha256, so no build is needed to exercise a store.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createConsola } from 'consola'
import { PxpError } from '../../src/errors.js'
import { registerSecret } from '../../src/redact.js'
import type { EmittedArtifact, PluginContext, ResolvedConfig } from '../../src/plugin-api.js'

export interface FakeBundle {
  dir: string
  bundle: EmittedArtifact
  artifacts: EmittedArtifact[]
}

export async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Writes `size` random bytes in 1 MiB chunks (never the whole file in memory). */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const handle = await open(path, 'w')
  try {
    for (let written = 0; written < size; ) {
      const chunk = randomBytes(Math.min(1 << 20, size - written))
      await handle.write(chunk)
      written += chunk.length
    }
  } finally {
    await handle.close()
  }
}

export async function makeBundle(out: string, size: number, coordinates = { id: 'acme-tools', version: '1.2.0-rc.1', os: 'linux', arch: 'amd64' }): Promise<FakeBundle> {
  const { id, version, os, arch } = coordinates
  const dir = join(out, id, version, `${os}-${arch}`)
  await mkdir(dir, { recursive: true })
  const bundlePath = join(dir, `${id}-${version}-${os}-${arch}.pxp`)
  await writeRandomFile(bundlePath, size)
  await writeFile(join(dir, 'integrity.txt'), `${'a'.repeat(64)}  plugin.yaml\n`)
  await writeFile(join(dir, 'manifest.signature'), randomBytes(300).toString('base64') + '\n')
  await writeFile(join(dir, 'report.json'), JSON.stringify({ bundle: { size } }, null, 2) + '\n')
  const artifacts: EmittedArtifact[] = []
  for (const [fileName, kind] of [[`${id}-${version}-${os}-${arch}.pxp`, 'bundle'], ['integrity.txt', 'integrity'], ['manifest.signature', 'signature'], ['report.json', 'report']] as const) {
    const path = join(dir, fileName)
    const { size: fileSize } = await stat(path)
    artifacts.push({ kind, fileName, path, size: fileSize, sha256: await sha256Of(path) })
  }
  return { dir, bundle: artifacts[0]!, artifacts }
}

export interface RecordingContext extends PluginContext {
  lines: string[]
  metrics: Array<{ name: string; value: number; tags?: Record<string, string> }>
  audits: Array<{ action: string; metadata?: Record<string, unknown> }>
  warnings: Array<string | { code: string; message: string }>
  facts: Record<string, unknown>
}

/** The hook context as the host gives it, recording what plugins log, measure and audit. */
export function pluginContext(config: Partial<ResolvedConfig> & Pick<ResolvedConfig, 'artifactStore'>, cacheDir: string, signal: AbortSignal = new AbortController().signal): RecordingContext {
  const lines: string[] = []
  const logger = createConsola({ level: 5, reporters: [{ log: (entry) => lines.push(`${entry.type}: ${entry.args.map(String).join(' ')}`) }] })
  const ctx: RecordingContext = {
    lines, metrics: [], audits: [], warnings: [], facts: {},
    logger, signal, cacheDir, tmpDir: cacheDir, stagingDir: cacheDir,
    target: { os: 'linux', arch: 'amd64' },
    config: { root: cacheDir, raw: { upload: { progress: false } }, ...config } as ResolvedConfig,
    warn: (w) => ctx.warnings.push(w),
    error: (e) => {
      const err = typeof e === 'string' ? { code: 'PLUGIN_ERROR', message: e } : e
      throw new PxpError(err.code, err.message, { hint: 'hint' in err ? err.hint : undefined, exitCode: 'exitCode' in err ? err.exitCode : undefined })
    },
    audit: (action, metadata) => ctx.audits.push({ action, metadata }),
    metric: (name, value, tags) => ctx.metrics.push({ name, value, ...(tags ? { tags } : {}) }),
    report: (facts) => Object.assign(ctx.facts, facts),
    redact: (secret) => registerSecret(secret),
    addFile: () => { throw new Error('not in upload') },
    emitFile: () => { throw new Error('not in upload') },
  } as RecordingContext
  return ctx
}
