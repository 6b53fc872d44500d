/**
 * The signature travels as one line of base64 inside the bundle and next to it; OpenSSL users may
 * also hand over raw DER or PEM (`-----BEGIN CMS-----`). All three decode to the same DER bytes.
 */
import { readFile } from 'node:fs/promises'
import { PxpError } from '../errors.js'

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** Strict decoding of the embedded `manifest.signature`: one base64 line, optional final LF. */
export function decodeEmbeddedSignature(bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1').replace(/\n$/, '')
  if (!BASE64.test(text) || text.length % 4 !== 0) {
    throw new PxpError('SIGNATURE_INVALID', 'manifest.signature is not one line of base64.', { path: 'manifest.signature' })
  }
  return new Uint8Array(Buffer.from(text, 'base64'))
}

/** Reads a detached signature file given with --signature. */
export async function readSignatureFile(file: string): Promise<Uint8Array> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (cause) {
    throw new PxpError('USAGE', `Cannot read the signature file ${file}.`, { file, cause, exitCode: 2 })
  }
  if (bytes[0] === 0x30) return new Uint8Array(bytes)
  const text = bytes.toString('latin1')
  const pem = /-----BEGIN (?:CMS|PKCS7)-----([\s\S]*?)-----END (?:CMS|PKCS7)-----/.exec(text)
  if (pem) return new Uint8Array(Buffer.from(pem[1]!.replace(/\s+/g, ''), 'base64'))
  try {
    return decodeEmbeddedSignature(bytes)
  } catch {
    throw new PxpError('SIGNATURE_INVALID', `${file} is neither DER, PEM nor one line of base64.`, { path: 'manifest.signature', file })
  }
}
