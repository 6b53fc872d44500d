/**
 * Object keys for stores. The default layout mirrors the output directory of pxp-format.md
 * (`<id>/<version>/<os>-<arch>/<file>`), so a bucket listing reads like `dist/`.
 */
import { basename, dirname } from 'node:path'
import { PxpError } from '../errors.js'

export const DEFAULT_KEY_TEMPLATE = '{id}/{version}/{os}-{arch}/{file}'

export interface KeyVars {
  id: string
  version: string
  os: string
  arch: string
  file: string
}

const PLACEHOLDER = /\{([a-zA-Z]+)\}/g

/** Renders `template` (and joins `prefix`) into a clean key: no leading slash, no empty or `..` segment. */
export function renderKey(template: string | undefined, vars: KeyVars, prefix?: string): string {
  const rendered = (template ?? DEFAULT_KEY_TEMPLATE).replace(PLACEHOLDER, (whole, name: string) => {
    if (!(name in vars)) {
      throw new PxpError('STORE_KEY_TEMPLATE', `Unknown placeholder ${whole} in the object key template "${template}".`, {
        exitCode: 2,
        keyPath: 'artifactStore.key',
        hint: 'Use only {id}, {version}, {os}, {arch} and {file}.',
      })
    }
    return vars[name as keyof KeyVars]
  })
  const joined = [prefix ?? '', rendered].join('/')
  const segments = joined.split('/').filter((segment) => segment.length > 0)
  if (segments.some((segment) => segment === '..' || segment === '.')) {
    throw new PxpError('STORE_KEY_TEMPLATE', `The object key "${joined}" contains a "." or ".." segment.`, {
      exitCode: 2,
      keyPath: 'artifactStore.key',
      hint: 'Keys are plain `/`-separated names; remove the dot segments from prefix/key.',
    })
  }
  // A template without {file} would send every artifact to the same key.
  if (!(template ?? DEFAULT_KEY_TEMPLATE).includes('{file}')) segments.push(vars.file)
  return segments.join('/')
}

export interface BundleCoordinates {
  id: string
  version: string
  os: string
  arch: string
}

const SEMVER_TAIL = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/

/**
 * Recovers id/version/os/arch from a bundle path. The emitter writes
 * `<out>/<id>/<version>/<os>-<arch>/<id>-<version>-<os>-<arch>.pxp`, which is unambiguous; a bundle
 * moved elsewhere is parsed from its name, splitting id from version at the semver boundary.
 */
export function bundleCoordinates(bundlePath: string, target?: { os: string; arch: string }): BundleCoordinates {
  const file = basename(bundlePath)
  const dir = dirname(bundlePath)
  const osArch = basename(dir)
  const version = basename(dirname(dir))
  const id = basename(dirname(dirname(dir)))
  if (file === `${id}-${version}-${osArch}.pxp`) {
    const dash = osArch.indexOf('-')
    if (dash > 0) return { id, version, os: osArch.slice(0, dash), arch: osArch.slice(dash + 1) }
  }
  const stem = file.replace(/\.pxp$/, '')
  const match = target
    ? stem.endsWith(`-${target.os}-${target.arch}`) ? [stem, stem.slice(0, -(target.os.length + target.arch.length + 2)), target.os, target.arch] : null
    : /^(.+)-([a-z0-9]+)-([a-z0-9]+)$/.exec(stem)
  if (match) {
    const idVersion = match[1]!
    for (let i = idVersion.indexOf('-'); i > 0; i = idVersion.indexOf('-', i + 1)) {
      const candidate = idVersion.slice(i + 1)
      if (SEMVER_TAIL.test(candidate)) return { id: idVersion.slice(0, i), version: candidate, os: match[2]!, arch: match[3]! }
    }
  }
  throw new PxpError('STORE_KEY_UNRESOLVED', `Cannot tell the plugin id, version, os and arch from the bundle name "${file}".`, {
    file: bundlePath,
    hint: 'Keep the name `<id>-<version>-<os>-<arch>.pxp` that pxp build gives it, or set artifactStore.key without placeholders other than {file}.',
  })
}
