/**
 * Helpers every uploader needs around the artifact list: which order to send them in, which key
 * each one gets, and a streaming SHA-256 for files whose hash is not known yet.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import type { EmittedArtifact } from '../plugin-api.js'
import { PxpError } from '../errors.js'
import { bundleCoordinates, renderKey, type BundleCoordinates } from './key-template.js'

const ORDER: Record<EmittedArtifact['kind'], number> = { bundle: 0, integrity: 1, signature: 2, other: 3, report: 4 }

/** Bundle first (the part worth resuming), report.json last (it describes the others). */
export function uploadOrder(artifacts: readonly EmittedArtifact[]): EmittedArtifact[] {
  return [...artifacts].sort((a, b) => ORDER[a.kind] - ORDER[b.kind] || a.fileName.localeCompare(b.fileName))
}

/** Keys for every artifact; coordinates come from the bundle only when the template needs them. */
export function artifactKeys(artifacts: readonly EmittedArtifact[], template: string | undefined, prefix: string | undefined, target?: { os: string; arch: string }): Map<EmittedArtifact, string> {
  const needsCoordinates = template === undefined || /\{(id|version|os|arch)\}/.test(template)
  let coordinates: BundleCoordinates = { id: '', version: '', os: '', arch: '' }
  if (needsCoordinates) {
    const bundle = artifacts.find((a) => a.kind === 'bundle') ?? artifacts.find((a) => a.fileName.endsWith('.pxp'))
    if (!bundle) {
      throw new PxpError('STORE_KEY_UNRESOLVED', 'No bundle among the artifacts to upload, so the object key template cannot be filled in.', {
        hint: 'Upload a .pxp bundle together with its sidecars, or use a key template with only {file}.',
      })
    }
    coordinates = bundleCoordinates(bundle.path, target)
  }
  return new Map(artifacts.map((artifact) => [artifact, renderKey(template, { ...coordinates, file: artifact.fileName }, prefix)]))
}

export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { signal })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

const SIDECARS: Array<{ fileName: string; kind: EmittedArtifact['kind'] }> = [
  { fileName: 'integrity.txt', kind: 'integrity' },
  { fileName: 'manifest.signature', kind: 'signature' },
  { fileName: 'report.json', kind: 'report' },
]

/**
 * The artifacts of an existing bundle on disk: the `.pxp` plus whichever sidecars sit next to it
 * (pxp-format.md "Next to the bundle"), each hashed now — what is uploaded is what is on disk.
 */
export async function artifactsNextTo(bundlePath: string, signal?: AbortSignal): Promise<EmittedArtifact[]> {
  const dir = bundlePath.slice(0, bundlePath.length - basename(bundlePath).length)
  const candidates = [{ path: bundlePath, fileName: basename(bundlePath), kind: 'bundle' as const }, ...SIDECARS.map((s) => ({ ...s, path: dir + s.fileName }))]
  const artifacts: EmittedArtifact[] = []
  for (const candidate of candidates) {
    let size: number
    try {
      const info = await stat(candidate.path)
      if (!info.isFile()) continue
      size = info.size
    } catch (error) {
      if (candidate.kind === 'bundle') {
        throw new PxpError('UPLOAD_INPUT_MISSING', `No bundle at ${candidate.path}.`, { exitCode: 2, file: candidate.path, hint: 'Pass the path of a .pxp file made by pxp build.', cause: error })
      }
      continue
    }
    artifacts.push({ kind: candidate.kind, fileName: candidate.fileName, path: candidate.path, size, sha256: await sha256File(candidate.path, signal) })
  }
  return artifacts
}
