/**
 * A throwaway development PKI for `pxp keys dev`: a root CA and one signing certificate, both
 * clearly named DEV and short-lived, so the playground builds signed out of the box. Keys come from
 * WebCrypto; certificates are assembled and signed with pkijs.
 */
import { createHash, randomBytes, webcrypto } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { derToPem } from './certs.js'
import { pkijsReady } from './engine.js'
import { OID } from './oids.js'

export const DEV_ROOT_CN = 'pxp DEV Root CA — NOT FOR PRODUCTION'
export const DEV_SIGNING_CN = 'pxp DEV signing certificate — NOT FOR PRODUCTION'

type KeyPair = webcrypto.CryptoKeyPair

export interface DevPki {
  rootPem: string
  signingPem: string
  /** PKCS#8 PEM of the signing key (the root key is discarded). */
  signingKeyPem: string
}

async function generateKeys(rsa: boolean): Promise<KeyPair> {
  const algorithm = rsa
    ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
    : { name: 'ECDSA', namedCurve: 'P-256' }
  return (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as KeyPair
}

/** A single-RDN name: CN only, so every tool prints it the same way. */
function name(commonName: string): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: commonName }) })],
  })
}

function extension(extnID: string, critical: boolean, value: { toSchema(): asn1js.AsnType } | asn1js.AsnType): pkijs.Extension {
  const schema = 'toSchema' in value ? value.toSchema() : value
  return new pkijs.Extension({ extnID, critical, extnValue: schema.toBER(false) })
}

/** KeyUsage BIT STRING with DER-minimal unused bits. */
function keyUsage(bits: number): asn1js.BitString {
  let unused = 0
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++
  return new asn1js.BitString({ valueHex: new Uint8Array([bits]).buffer, unusedBits: unused })
}

async function issue(options: {
  subject: string
  issuer: pkijs.RelativeDistinguishedNames
  keys: KeyPair
  issuerKey: webcrypto.CryptoKey
  issuerKeyId?: ArrayBuffer
  days: number
  ca: boolean
  now: Date
}): Promise<{ cert: pkijs.Certificate; keyId: ArrayBuffer }> {
  const cert = new pkijs.Certificate()
  cert.version = 2
  const serial = randomBytes(16)
  // Positive and minimally encoded: a leading 0x00 would be a non-minimal DER INTEGER, which OpenSSL refuses.
  serial[0] = (serial[0]! & 0x7f) | 0x40
  cert.serialNumber = new asn1js.Integer({ valueHex: new Uint8Array(serial).buffer })
  cert.subject = name(options.subject)
  cert.issuer = options.issuer
  // Backdated a little so clocks that are slightly behind still accept it.
  cert.notBefore.value = new Date(options.now.getTime() - 5 * 60_000)
  cert.notAfter.value = new Date(options.now.getTime() + options.days * 86_400_000)
  await cert.subjectPublicKeyInfo.importKey(options.keys.publicKey as never)
  const keyId = createHash('sha1').update(new Uint8Array(cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView)).digest()
  const keyIdBuffer = new Uint8Array(keyId).buffer
  cert.extensions = [
    extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: options.ca })),
    // digitalSignature 0x80; keyCertSign 0x04; cRLSign 0x02
    extension(OID.keyUsage, true, keyUsage(options.ca ? 0x86 : 0x80)),
    extension('2.5.29.14', false, new asn1js.OctetString({ valueHex: keyIdBuffer })),
    extension('2.5.29.35', false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: options.issuerKeyId ?? keyIdBuffer }) })),
    ...(options.ca ? [] : [extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [OID.codeSigning] }))]),
  ]
  await cert.sign(options.issuerKey as never, 'SHA-256')
  return { cert, keyId: keyIdBuffer }
}

export async function createDevPki(options: { rsa?: boolean; days?: number; now?: Date } = {}): Promise<DevPki> {
  pkijsReady()
  const now = options.now ?? new Date()
  const days = options.days ?? 30
  const rootKeys = await generateKeys(options.rsa === true)
  const signingKeys = await generateKeys(options.rsa === true)
  const root = await issue({ subject: DEV_ROOT_CN, issuer: name(DEV_ROOT_CN), keys: rootKeys, issuerKey: rootKeys.privateKey, days: days * 3, ca: true, now })
  const leaf = await issue({
    subject: DEV_SIGNING_CN,
    issuer: root.cert.subject,
    keys: signingKeys,
    issuerKey: rootKeys.privateKey,
    issuerKeyId: root.keyId,
    days,
    ca: false,
    now,
  })
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', signingKeys.privateKey))
  return {
    rootPem: derToPem(new Uint8Array(root.cert.toSchema().toBER())),
    signingPem: derToPem(new Uint8Array(leaf.cert.toSchema().toBER())),
    signingKeyPem: derToPem(pkcs8, 'PRIVATE KEY'),
  }
}
