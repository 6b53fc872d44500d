/**
 * What every signer that holds a certificate chain checks before signing, whatever holds the key
 * (a local PEM, AWS KMS, a signing service): the chain in the order CMS wants it, the build-time
 * certificate policy (valid now, allowed to sign, warned about when expiring soon) and whether the
 * certificate carries the public key the signer will actually sign with.
 */
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import { PxpError } from '../errors.js'
import { assertCertificateValidAt, certificateInfo, isSelfIssued, signingUsageProblem } from './certs.js'

const DAY_MS = 86_400_000

/** Unique by fingerprint, signer first, self-signed roots after the signer dropped (trust never comes from the bundle). */
export function signerChain(certificates: readonly Uint8Array[]): Uint8Array[] {
  const seen = new Set<string>()
  return certificates.filter((der, index) => {
    const fingerprint = certificateInfo(der).fingerprint!
    if (seen.has(fingerprint) || (index > 0 && isSelfIssued(der))) return false
    seen.add(fingerprint)
    return true
  })
}

export interface CertificatePolicyOptions {
  /** The file the signer certificate came from, for messages. */
  file?: string
  /** Warn when a certificate of the chain expires within this many days. */
  warnDays: number
  now?: Date
}

/**
 * Throws CERT_EXPIRED / CERT_NOT_YET_VALID / CERT_USAGE; returns a CERT_EXPIRING warning for the
 * caller to record (`this.warn`) when the earliest expiry is within `warnDays`, else null.
 */
export function checkSigningCertificates(certificates: readonly Uint8Array[], options: CertificatePolicyOptions): { code: string; message: string } | null {
  const now = options.now ?? new Date()
  if (certificates.length === 0) throw new PxpError('CERT_INVALID', 'No signing certificate was given.', { exitCode: 2, file: options.file })
  for (const [index, der] of certificates.entries()) {
    assertCertificateValidAt(der, now, index === 0 ? 'The signing certificate' : 'An intermediate certificate', { file: index === 0 ? options.file : undefined })
  }
  const problem = signingUsageProblem(certificates[0]!)
  if (problem) {
    throw new PxpError('CERT_USAGE', `The certificate ${options.file ?? `"${certificateInfo(certificates[0]!).subject}"`} may not sign bundles: ${problem}.`, {
      file: options.file,
      exitCode: 2,
      hint: 'Use a certificate issued with keyUsage digitalSignature.',
    })
  }
  const expiries = certificates.map((der) => Date.parse(certificateInfo(der).not_after))
  const earliest = Math.min(...expiries)
  const daysLeft = (earliest - now.getTime()) / DAY_MS
  if (daysLeft > options.warnDays) return null
  const info = certificateInfo(certificates[expiries.indexOf(earliest)]!)
  return { code: 'CERT_EXPIRING', message: `The certificate "${info.subject}" expires on ${info.not_after} (in ${Math.max(0, Math.floor(daysLeft))} days); renew it.` }
}

/** The SubjectPublicKeyInfo (DER) of a certificate. */
export function certificatePublicKey(certDer: Uint8Array): KeyObject {
  return new X509Certificate(certDer).publicKey
}

/** A public key from SPKI DER (what KMS GetPublicKey returns), or null when the bytes are not one. */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject | null {
  try {
    return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
  } catch {
    return null
  }
}

/** Whether two public keys are the same key (compared on their normalised SPKI encoding). */
export function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return Buffer.compare(a.export({ type: 'spki', format: 'der' }), b.export({ type: 'spki', format: 'der' })) === 0
}
