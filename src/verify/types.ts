import type { Limits } from './limits.js'

export interface VerifyOptions {
  /** PEM files of trust roots (each may hold several certificates). */
  trust?: string[]
  /** Trust roots already in DER form (the sandbox keeps them in memory). */
  trustDer?: Uint8Array[]
  /** Accept a bundle without any signature; a signature that is present must still verify. */
  allowUnsigned?: boolean
  /** A detached sidecar (`manifest.signature`: base64 of DER, or raw DER) used instead of the embedded one. */
  signature?: string
  limits?: Partial<Limits>
  /** The verification time; defaults to the current time. */
  now?: Date
  /**
   * Extract into this directory during the same pass. Only entries that pass are written, never
   * outside it; the directory must be empty or absent. When the bundle fails, everything written
   * is removed again.
   */
  extractTo?: string
}

export interface VerifyIssue {
  code: string
  path?: string
  message: string
}

export interface VerifyReport {
  /** True only when every check passed (fail closed). */
  ok: boolean
  signed: boolean
  signer?: { subject: string; issuer: string; notAfter: string }
  errors: VerifyIssue[]
  manifest?: Record<string, unknown>
  descriptor?: Record<string, unknown>
  /** Regular files in the archive, generated root files included. */
  files?: number
  /** SHA-256 of the bundle file as stored. */
  bundleSha256: string
}
