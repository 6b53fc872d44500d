/**
 * Private keys for the PEM signer: PKCS#8, PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`),
 * encrypted PKCS#8 and legacy encrypted PEM are all read by node:crypto (OpenSSL). PKCS#12 is
 * unpacked with node-forge, used only as a parser; the key it yields goes straight back into a
 * node KeyObject. Only RSA ≥ 2048 bits and ECDSA P-256 are accepted (pxp-format.md).
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, X509Certificate, type KeyObject } from 'node:crypto'
import { createRequire } from 'node:module'
import type forgeApi from 'node-forge'
import { PxpError } from '../errors.js'
import type { SignatureAlgorithm } from '../plugin-api.js'
import type { RawSigner } from './cms-sign.js'

export interface KeySource {
  /** Where the key came from, for error messages. */
  file: string
  /** Only set when the key is encrypted; never logged. */
  passphrase?: string
  /** The env var the passphrase comes from, named in hints. */
  passphraseEnv?: string
}

function isEncryptedPem(pem: string): boolean {
  return pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /Proc-Type:\s*4,ENCRYPTED/.test(pem)
}

function passphraseHint(source: KeySource): string {
  return `Set the key's passphrase in the environment variable ${source.passphraseEnv ?? 'PX_SIGNING_KEY_PASSPHRASE'}.`
}

/** Loads a PEM private key in any of the supported encodings. */
export function loadPrivateKeyPem(pem: string, source: KeySource): KeyObject {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new PxpError('KEY_UNSUPPORTED', `${source.file} holds no PEM private key.`, {
      file: source.file,
      exitCode: 2,
      hint: 'Pass a PEM key (PKCS#8, PKCS#1 or SEC1) or a PKCS#12 file ending in .p12/.pfx.',
    })
  }
  const encrypted = isEncryptedPem(pem)
  if (encrypted && !source.passphrase) {
    throw new PxpError('KEY_PASSPHRASE', `${source.file} is encrypted and no passphrase was given.`, { file: source.file, hint: passphraseHint(source) })
  }
  try {
    // A passphrase handed to an unencrypted key is ignored by OpenSSL, which is what we want.
    const key = createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase: source.passphrase } : { key: pem, format: 'pem' })
    assertSupportedKey(key, source.file)
    return key
  } catch (error) {
    if (error instanceof PxpError) throw error
    if (encrypted) {
      throw new PxpError('KEY_PASSPHRASE', `Cannot decrypt ${source.file}: the passphrase is wrong.`, { file: source.file, hint: passphraseHint(source) })
    }
    throw new PxpError('KEY_UNSUPPORTED', `Cannot read the private key in ${source.file}: ${(error as Error).message}.`, { file: source.file, exitCode: 2 })
  }
}

export interface Pkcs12Contents {
  key: KeyObject
  /** DER certificates in file order (leaf not necessarily first). */
  certificates: Uint8Array[]
}

/** Unpacks a PKCS#12 (.p12/.pfx) file: its one private key and its certificates. */
export function loadPkcs12(der: Uint8Array, source: KeySource): Pkcs12Contents {
  const forge = loadForge()
  let p12: forgeApi.pkcs12.Pkcs12Pfx
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(der).toString('binary')))
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, true, source.passphrase ?? '')
  } catch (error) {
    const message = (error as Error).message ?? ''
    if (/password|decrypt|mac/i.test(message)) {
      throw new PxpError('KEY_PASSPHRASE', `Cannot open PKCS#12 file ${source.file}: the passphrase is wrong or missing.`, { file: source.file, hint: passphraseHint(source) })
    }
    throw new PxpError('KEY_UNSUPPORTED', `${source.file} is not a readable PKCS#12 file: ${message}.`, { file: source.file, exitCode: 2 })
  }
  const keys: KeyObject[] = []
  const certificates: Uint8Array[] = []
  const toDer = (asn1: forgeApi.asn1.Asn1) => new Uint8Array(Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary'))
  for (const safeContents of p12.safeContents) {
    for (const bag of safeContents.safeBags) {
      if (bag.type === forge.pki.oids.pkcs8ShroudedKeyBag || bag.type === forge.pki.oids.keyBag) {
        // forge only models RSA keys; for others it hands back the PrivateKeyInfo ASN.1.
        const info = (bag as { asn1?: forgeApi.asn1.Asn1 }).asn1
        if (bag.key) keys.push(createPrivateKey({ key: forge.pki.privateKeyToPem(bag.key), format: 'pem' }))
        else if (info) keys.push(createPrivateKey({ key: Buffer.from(toDer(info)), format: 'der', type: 'pkcs8' }))
      } else if (bag.type === forge.pki.oids.certBag) {
        const asn1 = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : (bag as { asn1?: forgeApi.asn1.Asn1 }).asn1
        if (asn1) certificates.push(toDer(asn1))
      }
    }
  }
  if (keys.length !== 1) {
    throw new PxpError('KEY_UNSUPPORTED', `${source.file} holds ${keys.length} private keys; exactly one is needed.`, { file: source.file, exitCode: 2 })
  }
  assertSupportedKey(keys[0]!, source.file)
  return { key: keys[0]!, certificates }
}

/** RSA ≥ 2048 or EC P-256; anything else is KEY_UNSUPPORTED. */
export function assertSupportedKey(key: KeyObject, file: string): void {
  signatureAlgorithmForKey(key, file)
}

export function signatureAlgorithmForKey(key: KeyObject, file = '<key>'): SignatureAlgorithm {
  const details = key.asymmetricKeyDetails ?? {}
  if (key.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) {
      throw new PxpError('KEY_UNSUPPORTED', `${file} is a ${details.modulusLength}-bit RSA key; at least 2048 bits are required.`, { file, exitCode: 2 })
    }
    return 'RSASSA-PKCS1-v1_5-SHA256'
  }
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve !== 'prime256v1') {
      throw new PxpError('KEY_UNSUPPORTED', `${file} is an EC key on curve ${details.namedCurve}; only P-256 (prime256v1) is supported.`, { file, exitCode: 2 })
    }
    return 'ECDSA-P256-SHA256'
  }
  throw new PxpError('KEY_UNSUPPORTED', `${file} is a ${key.asymmetricKeyType} key; only RSA (≥ 2048) and ECDSA P-256 are supported.`, { file, exitCode: 2 })
}

/** Whether the private key is the one whose public half the certificate carries. */
export function keyMatchesCertificate(key: KeyObject, certDer: Uint8Array): boolean {
  const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' })
  const fromCert = new X509Certificate(certDer).publicKey.export({ type: 'spki', format: 'der' })
  return Buffer.compare(fromKey, fromCert) === 0
}

export function assertKeyMatchesCertificate(key: KeyObject, certDer: Uint8Array, files: { key: string; cert: string }): void {
  if (!keyMatchesCertificate(key, certDer)) {
    throw new PxpError('KEY_MISMATCH', `The private key ${files.key} does not belong to the certificate ${files.cert}.`, {
      file: files.key,
      exitCode: 2,
      hint: 'Pass the key the certificate was issued for (compare `openssl x509 -pubkey -noout` with `openssl pkey -pubout`).',
    })
  }
}

/** A RawSigner over a local key: PKCS#1 v1.5 for RSA, DER ECDSA-Sig-Value for EC. */
export function keyObjectSigner(key: KeyObject): RawSigner {
  const algorithm = signatureAlgorithmForKey(key)
  return {
    algorithm,
    async sign(toBeSigned) {
      return new Uint8Array(nodeSign('sha256', toBeSigned, key))
    },
  }
}

/** node-forge is loaded on the first PKCS#12 file only: it is a megabyte of CommonJS every other build would compile for nothing. */
function loadForge(): typeof forgeApi {
  return createRequire(import.meta.url)('node-forge') as typeof forgeApi
}
