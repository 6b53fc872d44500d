/**
 * pxp-signer-example — a third-party pxp signer, published as its own npm package.
 *
 * It answers for `signer: { type: 'example', cert, chain? }` and signs with the private key in the
 * PEM file named by the environment variable `PXP_EXAMPLE_KEY_FILE` (or `keyFileEnv`). It uses only
 * pxp's public API: the CMS structure, the certificate checks and the key helpers all come from
 * `pxp`, so the bundle is exactly what `pxp verify` and `openssl cms -verify` expect.
 *
 *   // px-plugin.config.ts
 *   export default defineConfig({
 *     plugins: ['pxp-signer-example'],
 *     signer: { type: 'example', cert: './keys/release.pem' },
 *   })
 */
import { readFileSync } from 'node:fs'
import {
  PxpError,
  assertKeyMatchesCertificate,
  certificateInfo,
  checkSigningCertificates,
  createDetachedSignedData,
  definePlugin,
  keyObjectSigner,
  loadPrivateKeyPem,
  parsePemCertificates,
  readCertificateFile,
  signerChain,
} from 'pxp'

const TYPE = 'example'

export default definePlugin((options = {}) => {
  // Per identity: what sign() needs. A WeakMap keeps two targets (or two entries) apart.
  const material = new WeakMap()
  return {
    name: 'pxp-signer-example',
    // Load only when the config names this signer somewhere in `signer` (a fallback chain included).
    apply: (config) => [config.signer].flat().some((entry) => entry?.type === TYPE),

    async resolveSigner(entry) {
      // Called once per configured signer entry: answer only for your own type.
      if (entry?.type !== TYPE || this.config.signing?.enabled === false) return null
      const keyFileEnv = entry.keyFileEnv ?? options.keyFileEnv ?? 'PXP_EXAMPLE_KEY_FILE'
      const keyFile = process.env[keyFileEnv]
      if (!keyFile) {
        // Exit code 2: a configuration problem, so a fallback chain does not paper over it.
        this.error({ code: 'SIGNER_CONFIG', message: `The example signer needs the environment variable ${keyFileEnv} (path of a PEM private key).`, exitCode: 2 })
      }
      if (typeof entry.cert !== 'string') this.error({ code: 'SIGNER_CONFIG', message: 'The example signer needs signer.cert (a PEM certificate).', exitCode: 2 })
      const passphraseEnv = entry.passphraseEnv ?? 'PXP_EXAMPLE_KEY_PASSPHRASE'
      const passphrase = process.env[passphraseEnv] || undefined
      this.redact(passphrase)

      let pem
      try {
        pem = readFileSync(keyFile, 'utf8')
      } catch {
        this.error({ code: 'SIGNER_FILE', message: `Cannot read the key file ${keyFile} (from ${keyFileEnv}).`, exitCode: 2 })
      }
      const key = loadPrivateKeyPem(pem, { file: keyFile, passphrase, passphraseEnv })
      const certificates = await readCertificateFile(entry.cert)
      if (typeof entry.chain === 'string') certificates.push(...parsePemCertificates(readFileSync(entry.chain, 'utf8'), entry.chain))
      const chainDer = signerChain(certificates)
      assertKeyMatchesCertificate(key, chainDer[0], { key: keyFile, cert: entry.cert })
      const warning = checkSigningCertificates(chainDer, { file: entry.cert, warnDays: this.config.offline.certExpiryWarnDays })
      if (warning) this.warn(warning)

      const chain = chainDer.map(certificateInfo)
      const signer = keyObjectSigner(key)
      this.report({ signer: TYPE, algorithm: signer.algorithm, subject: chain[0].subject, fingerprint: chain[0].fingerprint })
      this.audit('signer.resolved', { signer: TYPE, subject: chain[0].subject, fingerprint: chain[0].fingerprint })
      const identity = { signer: TYPE, algorithm: signer.algorithm, chain, details: { fingerprint: chain[0].fingerprint } }
      material.set(identity, { signer, certificates: chainDer })
      return identity
    },

    async sign(integrityText, identity) {
      // Several signer plugins may be loaded: sign only what you resolved.
      const held = identity.signer === TYPE ? material.get(identity) : undefined
      if (!held) return null
      const cms = await createDetachedSignedData({ content: integrityText, certificates: held.certificates, signingTime: new Date(), signer: held.signer })
      if (!(cms instanceof Uint8Array)) throw new PxpError('SIGNER_FAILED', 'The example signer produced no CMS.')
      this.audit('bundle.signed', { signer: TYPE, fingerprint: identity.chain[0].fingerprint })
      return { cms, algorithm: identity.algorithm, chain: identity.chain }
    },
  }
})
