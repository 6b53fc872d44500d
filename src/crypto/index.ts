export { createDetachedSignedData, type DetachedSignedDataInput, type RawSigner } from './cms-sign.js'
export { verifyDetachedSignedData, type VerifiedSignature, type VerifyDetachedInput } from './cms-verify.js'
export {
  assertCertificateValidAt,
  certificateInfo,
  derToPem,
  isSelfIssued,
  parsePemCertificates,
  readCertificateFile,
  readCertificateFiles,
  signingUsageProblem,
} from './certs.js'
export {
  assertKeyMatchesCertificate,
  keyMatchesCertificate,
  keyObjectSigner,
  loadPkcs12,
  loadPrivateKeyPem,
  signatureAlgorithmForKey,
  type KeySource,
  type Pkcs12Contents,
} from './keys.js'
