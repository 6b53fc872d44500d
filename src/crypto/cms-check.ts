/**
 * Acceptance check for a CMS that a remote signer (a signing service in `cms` mode, a third-party
 * signer) hands back: before pxp puts it in a bundle, it must be a DER ContentInfo(SignedData),
 * detached, id-data, one SHA-256 signer whose messageDigest is the digest of exactly the bytes pxp
 * sent, and whose signature over the signed attributes verifies with the certificate pxp expects.
 * Trust (the path to a root) is not decided here — that is `pxp verify`'s job with its own roots.
 */
import { createHash, verify as nodeVerify, X509Certificate } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { PxpError } from '../errors.js'
import { pkijsReady } from './engine.js'
import { OID } from './oids.js'

export interface DetachedSignatureCheck {
  /** DER ContentInfo(SignedData). */
  cms: Uint8Array
  /** The bytes it must be a detached signature over. */
  content: Uint8Array
  /** DER certificate whose key must have made the signature. */
  signer: Uint8Array
}

const bad = (message: string) => new PxpError('SIGNATURE_INVALID', message)

/** Throws SIGNATURE_INVALID (with the reason) unless `cms` is a detached signature over `content` by `signer`. */
export function checkDetachedSignature(input: DetachedSignatureCheck): void {
  pkijsReady()
  let signedData: pkijs.SignedData
  try {
    const asn1 = asn1js.fromBER(new Uint8Array(input.cms).buffer as ArrayBuffer)
    if (asn1.offset === -1 || asn1.offset !== input.cms.byteLength) throw new Error('not a single DER value')
    const contentInfo = new pkijs.ContentInfo({ schema: asn1.result })
    if (contentInfo.contentType !== OID.signedData) throw new Error(`content type ${contentInfo.contentType} is not signedData`)
    signedData = new pkijs.SignedData({ schema: contentInfo.content })
  } catch (cause) {
    throw bad(`not a DER CMS SignedData (${(cause as Error).message})`)
  }
  if (signedData.encapContentInfo.eContentType !== OID.data) throw bad('the signed content type is not id-data')
  if (signedData.encapContentInfo.eContent) throw bad('the content is embedded; a detached signature is required')
  if (signedData.signerInfos.length !== 1) throw bad(`it has ${signedData.signerInfos.length} signer infos; exactly one is required`)
  const signerInfo = signedData.signerInfos[0]!
  if (signerInfo.digestAlgorithm.algorithmId !== OID.sha256) throw bad('its digest algorithm is not SHA-256')
  if (!signerInfo.signedAttrs) throw bad('it has no signed attributes')
  const digests = signerInfo.signedAttrs.attributes.filter((a) => a.type === OID.messageDigest)
  const value = digests.length === 1 && digests[0]!.values.length === 1 ? digests[0]!.values[0] : undefined
  const expected = createHash('sha256').update(input.content).digest()
  if (!(value instanceof asn1js.OctetString) || Buffer.compare(Buffer.from(value.valueBlock.valueHexView), expected) !== 0) {
    throw bad('its messageDigest is not the SHA-256 of the content that was sent')
  }
  const toBeSigned = new Uint8Array(signerInfo.signedAttrs.encodedValue.slice(0))
  toBeSigned[0] = 0x31
  let valid = false
  try {
    valid = nodeVerify('sha256', toBeSigned, new X509Certificate(input.signer).publicKey, signerInfo.signature.valueBlock.valueHexView)
  } catch {
    valid = false
  }
  if (!valid) throw bad('its signature does not verify with the expected certificate\'s key')
  const embedded = (signedData.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate)
  const signer = pkijs.Certificate.fromBER(new Uint8Array(input.signer))
  const sid = signerInfo.sid
  // (A subjectKeyIdentifier sid is bound by the signature check above.)
  if (sid instanceof pkijs.IssuerAndSerialNumber && !(sid.issuer.isEqual(signer.issuer) && sid.serialNumber.isEqual(signer.serialNumber))) {
    throw bad('its signer identifier does not name the expected certificate')
  }
  if (!embedded.some((c) => c.issuer.isEqual(signer.issuer) && c.serialNumber.isEqual(signer.serialNumber))) {
    throw bad('it does not embed the signer certificate')
  }
}
