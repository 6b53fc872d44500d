/**
 * Validation of the merged config. Each problem names the key path and the layer (file) the value
 * came from, so that a mistake inherited from a preset points at the preset, not the project.
 */
import { configError } from '../errors.js'
import type { ConfigLayer } from './types.js'

const OSES = ['linux', 'darwin', 'windows', 'freebsd']
const ARCHES = ['amd64', 'arm64', '386', 'arm', 'riscv64', 'ppc64le', 's390x', 'loong64']

type Check = (value: unknown) => string | null

const string: Check = (v) => (typeof v === 'string' && v.length > 0 ? null : 'must be a non-empty string')
const boolean: Check = (v) => (typeof v === 'boolean' ? null : 'must be true or false')
const positiveNumber: Check = (v) => (typeof v === 'number' && v > 0 && Number.isFinite(v) ? null : 'must be a positive number')
const stringList: Check = (v) => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? null : 'must be a list of strings')
const oneOf = (values: string[]): Check => (v) => (values.includes(v as string) ? null : `must be one of ${values.join(', ')} (got ${JSON.stringify(v)})`)
const list: Check = (v) => (Array.isArray(v) ? null : 'must be a list')

interface Problem { keyPath: string; message: string }

export function validateConfig(raw: Record<string, unknown>, layers: ConfigLayer[]): void {
  const problems: Problem[] = []
  const check = (keyPath: string, value: unknown, rule: Check) => {
    if (value === undefined) return
    const message = rule(value)
    if (message) problems.push({ keyPath, message })
  }
  check('root', raw.root, string)
  check('out', raw.out, string)

  const offline = raw.offline as Record<string, unknown> | undefined
  if (offline !== undefined && (typeof offline !== 'object' || offline === null)) problems.push({ keyPath: 'offline', message: 'must be an object' })
  else if (offline) {
    check('offline.targets', offline.targets, list)
    if (Array.isArray(offline.targets)) {
      offline.targets.forEach((t: any, i: number) => {
        if (typeof t !== 'object' || t === null) return problems.push({ keyPath: `offline.targets[${i}]`, message: 'must be { os, arch }' })
        check(`offline.targets[${i}].os`, t.os ?? null, oneOf(OSES))
        check(`offline.targets[${i}].arch`, t.arch ?? null, oneOf(ARCHES))
        check(`offline.targets[${i}].assets`, t.assets, stringList)
        check(`offline.targets[${i}].ignore`, t.ignore, stringList)
        check(`offline.targets[${i}].entry`, t.entry, string)
      })
    }
    check('offline.assets', offline.assets, stringList)
    check('offline.ignore', offline.ignore, stringList)
    check('offline.secretPatterns', offline.secretPatterns, stringList)
    check('offline.dereference', offline.dereference, boolean)
    check('offline.conventions', offline.conventions, oneOf(['warn', 'fail']))
    check('offline.certExpiryWarnDays', offline.certExpiryWarnDays, positiveNumber)
  }

  for (const section of ['signer', 'artifactStore'] as const) {
    const value = raw[section]
    if (value === undefined) continue
    const entries = Array.isArray(value) ? value : [value]
    entries.forEach((entry, i) => {
      const keyPath = Array.isArray(value) ? `${section}[${i}]` : section
      if (typeof entry !== 'object' || entry === null) problems.push({ keyPath, message: 'must be an object with a `type`' })
      else check(`${keyPath}.type`, (entry as { type?: unknown }).type ?? null, string)
    })
  }

  const sandbox = raw.sandbox as Record<string, unknown> | undefined
  if (sandbox) {
    check('sandbox.url', sandbox.url ?? null, string)
    check('sandbox.tenant', sandbox.tenant ?? null, string)
    check('sandbox.mode', sandbox.mode, oneOf(['pxp', 'powerx-core']))
    check('sandbox.logLevel', sandbox.logLevel, oneOf(['debug', 'info', 'warn', 'error']))
  }
  const limits = raw.limits as Record<string, unknown> | undefined
  if (limits) {
    for (const key of ['maxBundleBytes', 'maxBackendBytes', 'maxFrontendBytes']) check(`limits.${key}`, limits[key], positiveNumber)
    if (typeof limits.onExceed === 'object' && limits.onExceed !== null) {
      for (const [key, value] of Object.entries(limits.onExceed)) {
        if (!['bundle', 'backend', 'frontend'].includes(key)) problems.push({ keyPath: `limits.onExceed.${key}`, message: 'is not a budget (bundle, backend, frontend)' })
        else check(`limits.onExceed.${key}`, value, oneOf(['warn', 'fail']))
      }
    } else check('limits.onExceed', limits.onExceed, oneOf(['warn', 'fail']))
  }
  check('trust', raw.trust, stringList)
  check('plugins', raw.plugins, list)
  check('presets', raw.presets, list)
  // Secrets belong in env vars named by `*Env` keys; a literal one in a committed file is refused.
  findLiteralSecrets(raw, '', problems)

  if (problems.length === 0) return
  const lines = problems.map((p) => `  - ${p.keyPath} ${p.message} (in ${layerOf(p.keyPath, layers)})`)
  const first = problems[0]!
  throw configError('CONFIG_INVALID', `Invalid configuration:\n${lines.join('\n')}`, {
    keyPath: first.keyPath,
    file: layerOf(first.keyPath, layers),
    hint: 'Fix the keys listed above; docs/config.md lists every key with its type.',
    details: { problems: problems.map((p) => ({ ...p, source: layerOf(p.keyPath, layers) })) },
  })
}

const SECRET_KEYS = /^(secret|password|passphrase|token|secretAccessKey|accessKeySecret|privateKey)$/i

function findLiteralSecrets(value: unknown, path: string, problems: Problem[]): void {
  if (!value || typeof value !== 'object') return
  for (const [key, child] of Object.entries(value)) {
    if (key === 'plugins' || key === 'presets') continue
    const childPath = path ? (Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`) : key
    if (SECRET_KEYS.test(key) && typeof child === 'string') {
      problems.push({ keyPath: childPath, message: `is a literal secret; put it in an env var and reference it with \`${key}Env\`` })
    } else findLiteralSecrets(child, childPath, problems)
  }
}

/** The highest-priority layer that sets `keyPath` (or its nearest parent). */
export function layerOf(keyPath: string, layers: ConfigLayer[]): string {
  const segments = keyPath.replace(/\[(\d+)\]/g, '.$1').split('.')
  for (let depth = segments.length; depth > 0; depth--) {
    for (const layer of layers) {
      if (getPath(layer.config, segments.slice(0, depth)) !== undefined) return layer.source
    }
  }
  return layers[layers.length - 1]?.source ?? '<defaults>'
}

export function getPath(value: unknown, segments: string[]): unknown {
  let current = value
  for (const segment of segments) {
    if (current === null || typeof current !== 'object') return undefined
    current = (current as Record<string, unknown>)[segment]
  }
  return current
}
