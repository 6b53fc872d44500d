/**
 * manifest.json against the rest of the bundle: format version, identity agreeing with plugin.yaml,
 * and every artefact's hash and size agreeing with the files actually present.
 */
import { createHash, type Hash } from 'node:crypto'
import { parse as parseYaml } from 'yaml'
import { DESCRIPTOR_FILE, FORMAT_VERSION, INTEGRITY_FILE, MANIFEST_FILE } from '../bundle/layout.js'
import { PxpError } from '../errors.js'

const invalid = (message: string, path = MANIFEST_FILE) => new PxpError('MANIFEST_INVALID', message, { path, hint: 'Rebuild the bundle with `pxp build`; manifest.json is generated.' })

type Json = Record<string, unknown>
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

export interface ArtefactSpec {
  name: string
  path: string
  hash: string
  size: number
}

/** A directory artefact hashed while its files stream by: relative path bytes, then content. */
export interface DirectoryArtefact extends ArtefactSpec {
  hasher: Hash
  total: number
}

export function parseManifest(bytes: Uint8Array): Json {
  let manifest: unknown
  try {
    manifest = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (cause) {
    throw invalid(`manifest.json is not valid JSON: ${(cause as Error).message}.`)
  }
  if (!isObject(manifest)) throw invalid('manifest.json is not a JSON object.')
  if (manifest.format_version !== FORMAT_VERSION) throw invalid(`manifest.json has format_version ${JSON.stringify(manifest.format_version)}; this pxp reads format ${FORMAT_VERSION}.`)
  if (!isObject(manifest.manifest)) throw invalid('manifest.json has no "manifest" object.')
  const integrity = manifest.integrity
  if (isObject(integrity) && integrity.file !== undefined && integrity.file !== INTEGRITY_FILE) throw invalid(`manifest.json names integrity file ${JSON.stringify(integrity.file)}, not ${INTEGRITY_FILE}.`)
  return manifest
}

export function parseDescriptor(bytes: Uint8Array): Json {
  let descriptor: unknown
  try {
    descriptor = parseYaml(Buffer.from(bytes).toString('utf8'))
  } catch (cause) {
    throw invalid(`plugin.yaml is not valid YAML: ${(cause as Error).message}.`, DESCRIPTOR_FILE)
  }
  if (!isObject(descriptor)) throw invalid('plugin.yaml is not a mapping.', DESCRIPTOR_FILE)
  return descriptor
}

/** Every `{path, hash, size_bytes}` under `artefacts` (values may be objects, arrays or null). */
export function artefactSpecs(manifest: Json): ArtefactSpec[] {
  const specs: ArtefactSpec[] = []
  const artefacts = manifest.artefacts
  if (artefacts === undefined || artefacts === null) return specs
  if (!isObject(artefacts)) throw invalid('manifest.json "artefacts" is not an object.')
  for (const [name, value] of Object.entries(artefacts)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === null || item === undefined) continue
      if (!isObject(item) || typeof item.path !== 'string' || typeof item.hash !== 'string' || typeof item.size_bytes !== 'number') {
        throw invalid(`manifest.json artefact "${name}" needs path, hash and size_bytes.`)
      }
      specs.push({ name, path: item.path.replace(/\/$/, ''), hash: item.hash, size: item.size_bytes })
    }
  }
  return specs
}

export function startDirectoryArtefact(spec: ArtefactSpec): DirectoryArtefact {
  return { ...spec, hasher: createHash('sha256'), total: 0 }
}

/** Problems between manifest.json, plugin.yaml and the files seen. */
export function checkConsistency(
  manifest: Json,
  descriptor: Json,
  specs: ArtefactSpec[],
  directories: Map<string, DirectoryArtefact>,
  files: { hashes: Map<string, string>; sizes: Map<string, number> },
): PxpError[] {
  const problems: PxpError[] = []
  const identity = manifest.manifest as Json
  for (const key of ['id', 'version'] as const) {
    if (typeof identity[key] !== 'string') problems.push(invalid(`manifest.json has no manifest.${key}.`))
    else if (identity[key] !== String(descriptor[key])) {
      problems.push(invalid(`manifest.json says ${key} "${identity[key]}" but plugin.yaml says "${String(descriptor[key])}".`))
    }
  }
  for (const spec of specs) {
    const directory = directories.get(spec.path)
    const [hash, size] = directory
      ? [directory.hasher.copy().digest('hex'), directory.total]
      : [files.hashes.get(spec.path), files.sizes.get(spec.path)]
    if (hash === undefined) {
      problems.push(invalid(`manifest.json artefact "${spec.name}" names ${spec.path}, which is not in the bundle.`))
    } else if (hash !== spec.hash.toLowerCase() || size !== spec.size) {
      problems.push(invalid(`manifest.json artefact "${spec.name}" (${spec.path}) does not match the bundle: hash/size ${spec.hash}/${spec.size} listed, ${hash}/${size} found.`))
    }
  }
  return problems
}
