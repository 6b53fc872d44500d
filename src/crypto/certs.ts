/**
 * X.509 certificates as pxp handles them: DER bytes plus the few facts manifest.json and the
 * reports need. Parsing uses node:crypto's X509Certificate (OpenSSL underneath); extensions that it
 * does not expose (key usage) are read with pkijs.
 */
import { createHash, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import * as pkijs from 'pkijs'
import { PxpError } from '../errors.js'
import type { CertificateInfo } from '../plugin-api.js'
import { OID } from './oids.js'

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g

/** Every `CERTIFICATE` block of a PEM text, as DER, in file order. */
export function parsePemCertificates(pem: string, file = '<input>'): Uint8Array[] {
  const ders: Uint8Array[] = []
  for (const match of pem.matchAll(PEM_CERTIFICATE)) {
    const der = new Uint8Array(Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64'))
    try {
      new X509Certificate(der)
    } catch (cause) {
      throw new PxpError('CERT_INVALID', `${file} holds a CERTIFICATE block that is not a valid X.509 certificate.`, { file, cause, exitCode: 2 })
    }
    ders.push(der)
  }
  return ders
}

/** Reads a PEM file that must hold at least one certificate. */
export async function readCertificateFile(file: string): Promise<Uint8Array[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (cause) {
    throw new PxpError('CERT_INVALID', `Cannot read certificate file ${file}.`, { file, cause, exitCode: 2, hint: 'Check the path.' })
  }
  const ders = parsePemCertificates(text, file)
  if (ders.length === 0) {
    throw new PxpError('CERT_INVALID', `${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----).`, {
      file,
      exitCode: 2,
      hint: 'Pass a PEM certificate; convert DER with `openssl x509 -inform DER -in cert.der -out cert.pem`.',
    })
  }
  return ders
}

/** Reads several PEM files (trust roots, chains) into one list of DER certificates. */
export async function readCertificateFiles(files: readonly string[]): Promise<Uint8Array[]> {
  const all: Uint8Array[] = []
  for (const file of files) all.push(...(await readCertificateFile(file)))
  return all
}

/** Distinguished name on one line, in the order OpenSSL prints it (`C=…, O=…, CN=…`). */
function oneLineName(name: string): string {
  return name.split('\n').filter(Boolean).join(', ')
}

export function certificateInfo(der: Uint8Array): CertificateInfo {
  const cert = new X509Certificate(der)
  return {
    subject: oneLineName(cert.subject),
    issuer: oneLineName(cert.issuer),
    not_after: new Date(cert.validTo).toISOString(),
    not_before: new Date(cert.validFrom).toISOString(),
    fingerprint: createHash('sha256').update(der).digest('hex'),
  }
}

export function isSelfIssued(der: Uint8Array): boolean {
  const cert = new X509Certificate(der)
  return cert.subject === cert.issuer && cert.verify(cert.publicKey)
}

export interface SigningUsage {
  /** undefined when the certificate has no keyUsage extension (RFC 5280: no restriction). */
  digitalSignature?: boolean
  /** undefined when there is no extendedKeyUsage extension. */
  extendedKeyUsage?: string[]
}

export function signingUsage(der: Uint8Array): SigningUsage {
  const cert = pkijs.Certificate.fromBER(new Uint8Array(der))
  const usage: SigningUsage = {}
  for (const extension of cert.extensions ?? []) {
    if (extension.extnID === OID.keyUsage) {
      const bits = new Uint8Array((extension.parsedValue as { valueBlock: { valueHexView: Uint8Array } }).valueBlock.valueHexView)
      // Bit 0 of the BIT STRING (the high bit of the first byte) is digitalSignature.
      usage.digitalSignature = bits.length > 0 && (bits[0]! & 0x80) !== 0
    }
    if (extension.extnID === OID.extKeyUsage) {
      usage.extendedKeyUsage = (extension.parsedValue as { keyPurposes: string[] }).keyPurposes
    }
  }
  return usage
}

/**
 * Why a certificate may not sign bundles, or null. The keyUsage must allow digitalSignature when
 * present; an extendedKeyUsage, when present, must allow code signing, S/MIME or any purpose.
 */
export function signingUsageProblem(der: Uint8Array): string | null {
  const usage = signingUsage(der)
  if (usage.digitalSignature === false) return 'its keyUsage does not include digitalSignature'
  const eku = usage.extendedKeyUsage
  if (eku && !eku.some((p) => p === OID.codeSigning || p === OID.emailProtection || p === OID.anyExtendedKeyUsage)) {
    return 'its extendedKeyUsage allows neither codeSigning, emailProtection nor anyExtendedKeyUsage'
  }
  return null
}

/** Throws CERT_EXPIRED / CERT_NOT_YET_VALID when `at` is outside the certificate's validity. */
export function assertCertificateValidAt(der: Uint8Array, at: Date, what: string, options: { file?: string; moment?: string } = {}): void {
  const info = certificateInfo(der)
  const moment = options.moment ?? 'now'
  if (at.getTime() > Date.parse(info.not_after)) {
    throw new PxpError('CERT_EXPIRED', `${what} "${info.subject}" expired on ${info.not_after} (checked at ${moment}, ${at.toISOString()}).`, {
      file: options.file,
      hint: 'Renew the certificate (for development: `pxp keys dev --force`).',
    })
  }
  if (at.getTime() < Date.parse(info.not_before!)) {
    throw new PxpError('CERT_NOT_YET_VALID', `${what} "${info.subject}" is not valid before ${info.not_before} (checked at ${moment}, ${at.toISOString()}).`, {
      file: options.file,
      hint: 'Check the system clock, or wait until the certificate becomes valid.',
    })
  }
}

export function derToPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`
}
