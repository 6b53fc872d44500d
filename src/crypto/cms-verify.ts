/**
 * Verification of a detached CMS SignedData (pxp-format.md "Verification"). pkijs parses the
 * structure and builds the certificate path to a trust root; the signature arithmetic itself is
 * done by node:crypto (OpenSSL). Every check fails closed: anything not positively accepted is an
 * error with one of the format's codes.
 *
 * Usage problems (keyUsage without digitalSignature, an extendedKeyUsage that excludes signing) are
 * reported as SIGNATURE_INVALID: the signature was made with a key that may not make it.
 */
import { createHash, createPublicKey, verify as nodeVerify, X509Certificate } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { PxpError } from '../errors.js'
import type { CertificateInfo, SignatureAlgorithm } from '../plugin-api.js'
import { assertCertificateValidAt, certificateInfo, signingUsageProblem } from './certs.js'
import { pkijsReady } from './engine.js'
import { ALLOWED_CERT_SIGNATURES, OID, WEAK_DIGESTS } from './oids.js'

export interface VerifyDetachedInput {
  /** DER ContentInfo(SignedData). */
  cms: Uint8Array
  /** The detached content (integrity.txt bytes). */
  content: Uint8Array
  /** DER trust roots; the signer must chain to one of them. */
  trustRoots: Uint8Array[]
  now?: Date
}

export interface VerifiedSignature {
  signer: CertificateInfo
  /** Leaf first, up to and including the trust root. */
  chain: CertificateInfo[]
  signingTime: Date
  algorithm: SignatureAlgorithm
}

/** Clock skew tolerated between the signer's signingTime and our `now`. */
const FUTURE_SKEW_MS = 5 * 60_000

const invalid = (message: string, hint?: string) => new PxpError('SIGNATURE_INVALID', message, { path: 'manifest.signature', hint })
const notAllowed = (message: string) =>
  new PxpError('ALGORITHM_NOT_ALLOWED', message, { path: 'manifest.signature', hint: 'Sign with SHA-256 and RSA ≥ 2048 or ECDSA P-256 (`pxp build --sign … --key …`).' })

function parseSignedData(cms: Uint8Array): pkijs.SignedData {
  try {
    const asn1 = asn1js.fromBER(new Uint8Array(cms).buffer as ArrayBuffer)
    if (asn1.offset === -1 || asn1.offset !== cms.byteLength) throw new Error('not a single DER value')
    const contentInfo = new pkijs.ContentInfo({ schema: asn1.result })
    if (contentInfo.contentType !== OID.signedData) throw new Error(`content type ${contentInfo.contentType} is not signedData`)
    return new pkijs.SignedData({ schema: contentInfo.content })
  } catch (cause) {
    throw new PxpError('SIGNATURE_INVALID', `The signature is not a DER CMS SignedData: ${(cause as Error).message}.`, { path: 'manifest.signature', cause })
  }
}

function attributeValue(signerInfo: pkijs.SignerInfo, type: string): unknown {
  const matches = signerInfo.signedAttrs?.attributes.filter((a) => a.type === type) ?? []
  if (matches.length !== 1 || matches[0]!.values.length !== 1) {
    throw invalid(`The signature's signed attributes must hold exactly one ${type === OID.signingTime ? 'signingTime' : type === OID.messageDigest ? 'messageDigest' : 'contentType'}.`)
  }
  return matches[0]!.values[0]
}

function findSignerCertificate(signedData: pkijs.SignedData, signerInfo: pkijs.SignerInfo): pkijs.Certificate {
  const certificates = (signedData.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate)
  const sid = signerInfo.sid
  const found = certificates.find((cert) => {
    if (sid instanceof pkijs.IssuerAndSerialNumber) return cert.issuer.isEqual(sid.issuer) && cert.serialNumber.isEqual(sid.serialNumber)
    // [0] SubjectKeyIdentifier: compare with the certificate's SKI extension.
    const ski = cert.extensions?.find((e) => e.extnID === '2.5.29.14')?.parsedValue as asn1js.OctetString | undefined
    const wanted = (sid as { valueBlock?: { valueHexView?: Uint8Array } }).valueBlock?.valueHexView
    return !!ski && !!wanted && Buffer.compare(Buffer.from(ski.valueBlock.valueHexView), Buffer.from(wanted)) === 0
  })
  if (!found) throw new PxpError('CERT_UNTRUSTED', 'The signature does not embed the signer certificate.', { path: 'manifest.signature', hint: 'Sign with the certificate included (OpenSSL does so unless -nocerts is given).' })
  return found
}

function checkAlgorithms(signerInfo: pkijs.SignerInfo, leafDer: Uint8Array): SignatureAlgorithm {
  const digest = signerInfo.digestAlgorithm.algorithmId
  if (digest !== OID.sha256) throw notAllowed(`The signature uses digest ${WEAK_DIGESTS[digest] ?? digest}; only SHA-256 is allowed.`)
  const signatureOid = signerInfo.signatureAlgorithm.algorithmId
  if (WEAK_DIGESTS[signatureOid]) throw notAllowed(`The signature uses ${WEAK_DIGESTS[signatureOid]}; only SHA-256 is allowed.`)
  const key = createPublicKey(new X509Certificate(leafDer).publicKey.export({ type: 'spki', format: 'pem' }))
  const details = key.asymmetricKeyDetails ?? {}
  if (key.asymmetricKeyType === 'rsa') {
    if (signatureOid !== OID.rsaEncryption && signatureOid !== OID.sha256WithRSA) throw notAllowed(`RSA signature algorithm ${signatureOid} is not allowed; use PKCS#1 v1.5 with SHA-256.`)
    if ((details.modulusLength ?? 0) < 2048) throw notAllowed(`The signer's RSA key has ${details.modulusLength} bits; at least 2048 are required.`)
    return 'RSASSA-PKCS1-v1_5-SHA256'
  }
  if (key.asymmetricKeyType === 'ec') {
    if (signatureOid !== OID.ecdsaWithSHA256) throw notAllowed(`ECDSA signature algorithm ${signatureOid} is not allowed; use ecdsa-with-SHA256.`)
    if (details.namedCurve !== 'prime256v1') throw notAllowed(`The signer's EC key is on ${details.namedCurve}; only P-256 is allowed.`)
    return 'ECDSA-P256-SHA256'
  }
  throw notAllowed(`The signer's ${key.asymmetricKeyType} key is not allowed; use RSA ≥ 2048 or ECDSA P-256.`)
}

async function buildTrustedPath(leaf: pkijs.Certificate, others: pkijs.Certificate[], roots: pkijs.Certificate[], at: Date) {
  const engine = new pkijs.CertificateChainValidationEngine({ trustedCerts: roots, certs: [...others, leaf], checkDate: at })
  try {
    return await engine.verify()
  } catch (error) {
    return { result: false, resultCode: -1, resultMessage: (error as Error).message ?? String(error), certificatePath: undefined }
  }
}

const der = (cert: pkijs.Certificate) => new Uint8Array(cert.toSchema().toBER())

export async function verifyDetachedSignedData(input: VerifyDetachedInput): Promise<VerifiedSignature> {
  pkijsReady()
  const now = input.now ?? new Date()
  const signedData = parseSignedData(input.cms)

  if (signedData.encapContentInfo.eContentType !== OID.data) throw invalid(`The signed content type is ${signedData.encapContentInfo.eContentType}, not id-data.`)
  if (signedData.encapContentInfo.eContent) throw invalid('The signature embeds its content; pxp signatures are detached.', 'Sign without -nodetach.')
  if (signedData.signerInfos.length !== 1) throw invalid(`The signature has ${signedData.signerInfos.length} signer infos; exactly one is expected.`)
  const signerInfo = signedData.signerInfos[0]!
  const leaf = findSignerCertificate(signedData, signerInfo)
  const leafDer = der(leaf)
  const algorithm = checkAlgorithms(signerInfo, leafDer)

  // Signed attributes: without them the signature would cover the content directly and carry no time.
  if (!signerInfo.signedAttrs) throw invalid('The signature has no signed attributes (contentType, messageDigest, signingTime).')
  const contentType = attributeValue(signerInfo, OID.contentType)
  if (!(contentType instanceof asn1js.ObjectIdentifier) || contentType.valueBlock.toString() !== OID.data) throw invalid('The contentType signed attribute is not id-data.')
  const messageDigest = attributeValue(signerInfo, OID.messageDigest)
  const digest = createHash('sha256').update(input.content).digest()
  if (!(messageDigest instanceof asn1js.OctetString) || Buffer.compare(Buffer.from(messageDigest.valueBlock.valueHexView), digest) !== 0) {
    throw invalid('The signature was made over different bytes: its messageDigest does not match integrity.txt.', 'The bundle or the signature was altered; rebuild and re-sign it.')
  }
  const time = attributeValue(signerInfo, OID.signingTime)
  if (!(time instanceof asn1js.UTCTime || time instanceof asn1js.GeneralizedTime)) throw invalid('The signingTime attribute is not a time.')
  const signingTime = time.toDate()
  if (signingTime.getTime() > now.getTime() + FUTURE_SKEW_MS) throw invalid(`The signingTime ${signingTime.toISOString()} is in the future.`)

  // The signature covers the attributes re-tagged as a universal SET (RFC 5652 §5.4).
  const toBeSigned = new Uint8Array(signerInfo.signedAttrs.encodedValue.slice(0))
  toBeSigned[0] = 0x31
  const publicKey = new X509Certificate(leafDer).publicKey
  const signature = signerInfo.signature.valueBlock.valueHexView
  let valid = false
  try {
    valid = nodeVerify('sha256', toBeSigned, publicKey, signature)
  } catch {
    valid = false
  }
  if (!valid) throw invalid('The signature does not verify with the signer certificate\'s key.', 'The signature was altered or made by another key.')

  const usageProblem = signingUsageProblem(leafDer)
  if (usageProblem) throw invalid(`The signer certificate "${certificateInfo(leafDer).subject}" may not sign: ${usageProblem}.`, 'Issue a signing certificate with keyUsage digitalSignature.')

  // Chain building always runs; trust comes only from the configured roots, never from the CMS.
  const roots = input.trustRoots.map((root) => pkijs.Certificate.fromBER(new Uint8Array(root)))
  if (roots.length === 0) throw new PxpError('CERT_UNTRUSTED', 'No trust roots are configured, so no signer can be trusted.', { path: 'manifest.signature', hint: 'Pass --trust ROOT.pem, set PX_TRUST_ROOTS or the config\'s `trust`.' })
  const others = (signedData.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate && c !== leaf)
  const atNow = await buildTrustedPath(leaf, others, roots, now)
  if (!atNow.result) {
    if (atNow.resultCode === 8) {
      // A trusted path exists but a certificate on it is outside its validity: say which.
      for (const cert of [leaf, ...others, ...roots]) assertCertificateValidAt(der(cert), now, cert === leaf ? 'The signer certificate' : 'A certificate of the signer chain')
    }
    throw new PxpError('CERT_UNTRUSTED', `The signer "${certificateInfo(leafDer).subject}" does not chain to a trusted root (${atNow.resultMessage}).`, {
      path: 'manifest.signature',
      hint: 'Trust the issuing root with --trust, or check that the signature embeds the intermediates.',
    })
  }
  const path = atNow.certificatePath ?? []
  for (const [index, cert] of path.entries()) {
    const certDer = der(cert)
    assertCertificateValidAt(certDer, signingTime, index === 0 ? 'The signer certificate' : 'A certificate of the signer chain', { moment: 'signing time' })
    const isRoot = index === path.length - 1
    if (!isRoot && !ALLOWED_CERT_SIGNATURES.has(cert.signatureAlgorithm.algorithmId)) {
      const name = WEAK_DIGESTS[cert.signatureAlgorithm.algorithmId] ?? cert.signatureAlgorithm.algorithmId
      throw notAllowed(`The certificate "${certificateInfo(certDer).subject}" is signed with ${name}, which is not allowed.`)
    }
  }
  return { signer: certificateInfo(leafDer), chain: path.map((c) => certificateInfo(der(c))), signingTime, algorithm }
}
