/**
 * Reads an existing PowerX plugin repository and says what `pxp init` should put in the config:
 * the descriptor, backend binaries per target, the admin UI output, contracts and extra files.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { detectPlatforms } from '../../plugins/collect-fs/executable-format.js'
import { configError } from '../errors.js'
import { hostTarget } from '../config/platform.js'
import type { TargetConfig } from '../config/types.js'

export interface DetectedLayout {
  root: string
  descriptor: { id?: string; version?: string; name?: string; entry?: string; staticDir?: string }
  /** Targets found, and how. */
  targets: TargetConfig[]
  targetsFrom: 'backend/bin/<os>-<arch>' | 'backend/bin executable' | 'host'
  /** The admin UI's static output (relative), whether it exists, and a bundler config if one was seen. */
  adminUi?: { dir: string; built: boolean; bundler?: 'vite' | 'webpack' | 'rollup' | 'esbuild' | 'nuxt' }
  /** Contract files/dirs found (relative). */
  contracts: string[]
  /** Paths outside pxp's default payload that the bundle needs: become `offline.assets`. */
  assets: string[]
  /** An existing config file, if any. */
  existingConfig?: string
}

/** Directories and files pxp packs without configuration (plugins/collect-fs PAYLOAD). */
export const DEFAULT_PAYLOAD = [
  'plugin.yaml', 'plugin.d', 'config', 'backend/bin', 'backend/etc', 'web-admin/.output', 'web-admin/i18n',
  'migrations', 'contracts', 'docs/contracts', 'extensions', 'skills', 'README.md', 'LICENSE',
]
const inPayload = (rel: string) => DEFAULT_PAYLOAD.some((p) => rel === p || rel.startsWith(p + '/'))

const TARGET_DIR = /^(linux|darwin|windows|freebsd)-(amd64|arm64|386|arm|riscv64|ppc64le|s390x|loong64)$/
const CONFIG_NAMES = ['px-plugin.config.ts', 'px-plugin.config.mts', 'px-plugin.config.js', 'px-plugin.config.mjs', 'px-plugin.config.json']

export async function detectLayout(root: string): Promise<DetectedLayout> {
  const descriptorFile = join(root, 'plugin.yaml')
  if (!existsSync(descriptorFile)) {
    throw configError('DESCRIPTOR_MISSING', `No plugin.yaml in ${root}: pxp init works in an existing PowerX plugin repository.`, {
      file: descriptorFile,
      hint: 'Run it in the repository that holds plugin.yaml (or pass --cwd DIR).',
    })
  }
  let doc: Record<string, any> = {}
  try {
    doc = (parseYaml(readFileSync(descriptorFile, 'utf8')) ?? {}) as Record<string, any>
  } catch (error) {
    throw configError('DESCRIPTOR_MALFORMED', `plugin.yaml is not valid YAML: ${(error as Error).message.split('\n')[0]}`, { file: descriptorFile, hint: 'Fix the syntax first.' })
  }
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined)
  const descriptor = {
    id: str(doc.id),
    version: doc.version === undefined ? undefined : String(doc.version),
    name: str(doc.name),
    entry: str(doc.runtime?.entry) ?? str(doc.backend?.entry),
    staticDir: str(doc.frontend?.admin?.static_dir)?.replace(/^\.\//, '').replace(/\/+$/, ''),
  }

  // Targets: backend/bin/<os>-<arch>/ folders, else the platform of the entry executable, else the host.
  let targets: TargetConfig[] = []
  let targetsFrom: DetectedLayout['targetsFrom'] = 'host'
  const binDir = join(root, 'backend', 'bin')
  if (existsSync(binDir)) {
    targets = readdirSync(binDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && TARGET_DIR.test(e.name))
      .map((e) => e.name.split('-'))
      .map(([os, arch]) => ({ os: os!, arch: arch! }))
      .sort((a, b) => `${a.os}-${a.arch}`.localeCompare(`${b.os}-${b.arch}`))
    if (targets.length > 0) targetsFrom = 'backend/bin/<os>-<arch>'
  }
  if (targets.length === 0 && descriptor.entry && existsSync(join(root, descriptor.entry))) {
    const platforms = await platformsOf(join(root, descriptor.entry))
    if (platforms.length > 0) {
      targets = platforms
      targetsFrom = 'backend/bin executable'
    }
  }
  if (targets.length === 0) targets = [hostTarget()]

  const assets: string[] = []
  let adminUi: DetectedLayout['adminUi']
  const staticDir = descriptor.staticDir ?? (existsSync(join(root, 'web-admin/.output/public')) ? 'web-admin/.output/public' : undefined)
  if (staticDir) {
    adminUi = { dir: staticDir, built: existsSync(join(root, staticDir)), bundler: bundlerOf(root) }
    if (!inPayload(staticDir)) assets.push(staticDir)
  }

  const contracts: string[] = []
  for (const candidate of ['contracts', 'docs/contracts', 'api/contracts', 'api/openapi.yaml', 'api/openapi.json', 'openapi.yaml', 'openapi.json']) {
    if (!existsSync(join(root, candidate))) continue
    contracts.push(candidate)
    if (!inPayload(candidate)) assets.push(candidate)
  }

  return {
    root,
    descriptor,
    targets,
    targetsFrom,
    adminUi,
    contracts,
    assets,
    existingConfig: CONFIG_NAMES.map((n) => join(root, n)).find((f) => existsSync(f)),
  }
}

async function platformsOf(file: string): Promise<TargetConfig[]> {
  if (!statSync(file).isFile()) return []
  const handle = await open(file, 'r')
  try {
    const head = Buffer.alloc(4096)
    const { bytesRead } = await handle.read(head, 0, head.length, 0)
    return (detectPlatforms(head.subarray(0, bytesRead)) ?? []).filter((p) => !/-/.test(p.arch)).map(({ os, arch }) => ({ os, arch }))
  } finally {
    await handle.close()
  }
}

function bundlerOf(root: string): NonNullable<DetectedLayout['adminUi']>['bundler'] {
  for (const dir of ['web-admin', '.']) {
    const has = (names: string[]) => names.some((n) => existsSync(join(root, dir, n)))
    if (has(['nuxt.config.ts', 'nuxt.config.js'])) return 'nuxt'
    if (has(['vite.config.ts', 'vite.config.js', 'vite.config.mts', 'vite.config.mjs'])) return 'vite'
    if (has(['webpack.config.js', 'webpack.config.ts', 'webpack.config.cjs'])) return 'webpack'
    if (has(['rollup.config.js', 'rollup.config.mjs', 'rollup.config.ts'])) return 'rollup'
  }
  return undefined
}
