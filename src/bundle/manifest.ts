/**
 * `manifest.json`: the pxp metadata of pxp-format.md. It is itself listed in integrity.txt and so
 * covered by the signature; it must therefore be fully known before signing, and it holds no
 * timestamps so unsigned builds stay byte-identical.
 */
import type { SignerIdentity, TargetConfig } from '../plugin-api.js'
import type { ValidDescriptor } from '../descriptor/types.js'
import { FORMAT_VERSION, INTEGRITY_FILE, MANIFEST_FILE, REPORT_FILE, SIGNATURE_FILE } from './layout.js'
import type { ArtefactDigest } from './hashing.js'

export const ARTEFACT_KEYS = ['backend_bundle', 'frontend_bundle', 'migrations', 'assets', 'extensions'] as const

export function buildManifest(input: {
  descriptor: ValidDescriptor
  target: TargetConfig
  artefacts: Record<string, ArtefactDigest>
  signer?: SignerIdentity
}): Record<string, unknown> {
  const { descriptor: d, target, artefacts, signer } = input
  const artefactBlock: Record<string, unknown> = {}
  for (const key of ARTEFACT_KEYS) {
    const a = artefacts[key]
    artefactBlock[key] = a ? { path: a.path, hash: a.hash, size_bytes: a.size_bytes } : null
  }
  return {
    format_version: FORMAT_VERSION,
    manifest: {
      id: d.id,
      name: d.name,
      version: d.version,
      runtime: { kind: d.runtimeKind, ...(d.entry && { entry: d.entry }) },
      permissions: d.permissions,
      targets: [{ os: target.os, arch: target.arch }],
    },
    artefacts: artefactBlock,
    integrity: { file: INTEGRITY_FILE, manifest_path: MANIFEST_FILE, algorithm: 'sha256' },
    signature: signer
      ? {
          file: SIGNATURE_FILE,
          algorithm: signer.algorithm,
          certificate_chain: signer.chain.map(({ subject, issuer, not_after, fingerprint }) => ({ subject, issuer, not_after, ...(fingerprint && { fingerprint }) })),
        }
      : null,
    encryption: { algorithm: 'none' },
    report: { path: REPORT_FILE },
    audit: { path: 'audit.log' },
  }
}

/** Canonical bytes: 2-space JSON with a final newline, so the same model always gives the same hash. */
export function serializeManifest(manifest: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8')
}
