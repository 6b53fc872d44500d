/**
 * Detached CMS SignedData exactly as pxp-format.md describes it. Assembly is engine-agnostic: the
 * private key never comes here, only a RawSigner that turns the DER of the signed attributes into
 * signature bytes, so a KMS or HTTP signer can produce the same structure as a local PEM key.
 */
import { createHash } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { PxpError } from '../errors.js'
import type { SignatureAlgorithm } from '../plugin-api.js'
import { pkijsReady } from './engine.js'
import { OID } from './oids.js'

export interface RawSigner {
  algorithm: SignatureAlgorithm
  /**
   * Signs the DER encoding of the signed-attributes SET with SHA-256: returns an RSASSA-PKCS1-v1_5
   * signature, or a DER ECDSA-Sig-Value. A remote signer sends sha256(toBeSigned) to its service.
   */
  sign(toBeSigned: Uint8Array): Promise<Uint8Array>
}

export interface DetachedSignedDataInput {
  /** The signed bytes (integrity.txt); not embedded. */
  content: Uint8Array
  /** DER certificates, signer first, then intermediates. */
  certificates: Uint8Array[]
  signingTime: Date
  signer: RawSigner
}

/** A fresh ArrayBuffer with exactly these bytes (a Buffer's `.buffer` may be a shared pool). */
const ab = (bytes: Uint8Array): ArrayBuffer => new Uint8Array(bytes).buffer as ArrayBuffer

/** Signed attributes in DER SET OF order (by encoding), so a verifier that re-encodes agrees. */
function signedAttributes(digest: Uint8Array, signingTime: Date): pkijs.Attribute[] {
  // RFC 5652: UTCTime for dates in 1950–2049, GeneralizedTime otherwise.
  const year = signingTime.getUTCFullYear()
  const time = year >= 1950 && year < 2050 ? new asn1js.UTCTime({ valueDate: signingTime }) : new asn1js.GeneralizedTime({ valueDate: signingTime })
  const attributes = [
    new pkijs.Attribute({ type: OID.contentType, values: [new asn1js.ObjectIdentifier({ value: OID.data })] }),
    new pkijs.Attribute({ type: OID.signingTime, values: [time] }),
    new pkijs.Attribute({ type: OID.messageDigest, values: [new asn1js.OctetString({ valueHex: ab(digest) })] }),
  ]
  const encoded = attributes.map((attribute) => ({ attribute, der: Buffer.from(attribute.toSchema().toBER()) }))
  encoded.sort((a, b) => Buffer.compare(a.der, b.der))
  return encoded.map((e) => e.attribute)
}

function signatureAlgorithmIdentifier(algorithm: SignatureAlgorithm): pkijs.AlgorithmIdentifier {
  // rsaEncryption (with NULL parameters) is what OpenSSL itself writes for RSA signer infos.
  if (algorithm === 'RSASSA-PKCS1-v1_5-SHA256') return new pkijs.AlgorithmIdentifier({ algorithmId: OID.rsaEncryption, algorithmParams: new asn1js.Null() })
  return new pkijs.AlgorithmIdentifier({ algorithmId: OID.ecdsaWithSHA256 })
}

/** Builds the DER ContentInfo(SignedData) over `content`, detached. */
export async function createDetachedSignedData(input: DetachedSignedDataInput): Promise<Uint8Array> {
  pkijsReady()
  if (input.certificates.length === 0) throw new PxpError('SIGNATURE_INVALID', 'A CMS signature needs the signer certificate.')
  const certificates = input.certificates.map((der) => pkijs.Certificate.fromBER(new Uint8Array(der)))
  const leaf = certificates[0]!
  const digest = new Uint8Array(createHash('sha256').update(input.content).digest())
  const attributes = signedAttributes(digest, input.signingTime)
  // The signature covers the attributes encoded as a universal SET (RFC 5652 §5.4), not the [0] tag.
  const toBeSigned = new Uint8Array(new asn1js.Set({ value: attributes.map((a) => a.toSchema()) }).toBER())
  const signature = await input.signer.sign(toBeSigned)

  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({ issuer: leaf.issuer, serialNumber: leaf.serialNumber }),
    digestAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.sha256 }),
    signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes }),
    signatureAlgorithm: signatureAlgorithmIdentifier(input.signer.algorithm),
    signature: new asn1js.OctetString({ valueHex: ab(signature) }),
  })
  const signedData = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [new pkijs.AlgorithmIdentifier({ algorithmId: OID.sha256 })],
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: OID.data }),
    certificates,
    signerInfos: [signerInfo],
  })
  const contentInfo = new pkijs.ContentInfo({ contentType: OID.signedData, content: signedData.toSchema(true) })
  return new Uint8Array(contentInfo.toSchema().toBER())
}
