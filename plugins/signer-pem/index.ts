/**
 * signer-pem: signs integrity.txt with a local PEM (or PKCS#12) key. Config: `signer: { type: 'pem',
 * cert, key, chain?, passphraseEnv?, p12? }` or `--sign CERT --key KEY [--chain CHAIN]`.
 *
 * PKCS#12: set `p12: FILE` (or point `key` at a .p12/.pfx file); `cert` is then optional — the
 * certificate in the bundle matching the key is the signer, the others are its chain.
 */
import { readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import {
  assertCertificateValidAt,
  assertKeyMatchesCertificate,
  certificateInfo,
  createDetachedSignedData,
  definePlugin,
  isSelfIssued,
  keyMatchesCertificate,
  keyObjectSigner,
  loadPkcs12,
  loadPrivateKeyPem,
  parsePemCertificates,
  readCertificateFile,
  signingUsageProblem,
  type PluginContext,
  type PxpPlugin,
  type ResolvedConfig,
  type SignerIdentity,
} from '../../src/plugin-api.js'

interface PemEntry {
  type: 'pem'
  cert?: string
  key?: string
  p12?: string
  chain?: string
  passphraseEnv?: string
}

const DEFAULT_PASSPHRASE_ENV = 'PX_SIGNING_KEY_PASSPHRASE'
const DAY_MS = 86_400_000

function pemEntry(config: ResolvedConfig): PemEntry | undefined {
  const entries = Array.isArray(config.signer) ? config.signer : config.signer ? [config.signer] : []
  return entries.find((entry) => entry.type === 'pem') as PemEntry | undefined
}

interface Material {
  key: import('node:crypto').KeyObject
  /** Signer first, then intermediates (roots are left out: trust never comes from the bundle). */
  certificates: Uint8Array[]
  files: { key: string; cert: string }
}

async function readBytes(ctx: PluginContext, file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file)
  } catch {
    return ctx.error({ code: 'SIGNER_FILE', message: `Cannot read the signing ${what} ${file}.`, hint: 'Check signer.cert/signer.key (or --sign/--key).', exitCode: 2 })
  }
}

async function loadMaterial(ctx: PluginContext, entry: PemEntry): Promise<Material> {
  const passphraseEnv = entry.passphraseEnv ?? DEFAULT_PASSPHRASE_ENV
  const passphrase = process.env[passphraseEnv] || undefined
  ctx.redact(passphrase)
  const keyFile = entry.p12 ?? entry.key
  if (!keyFile) return ctx.error({ code: 'KEY_UNSUPPORTED', message: 'The pem signer needs `key` (PEM) or `p12` (PKCS#12).', exitCode: 2 })
  const keyBytes = await readBytes(ctx, keyFile, 'key')
  const isP12 = entry.p12 !== undefined || ['.p12', '.pfx'].includes(extname(keyFile).toLowerCase())

  let key: Material['key']
  let certificates: Uint8Array[]
  let certFile = entry.cert ?? keyFile
  if (isP12) {
    const p12 = loadPkcs12(keyBytes, { file: keyFile, passphrase, passphraseEnv })
    key = p12.key
    const fromCert = entry.cert ? await readCertificateFile(entry.cert) : []
    const pool = [...fromCert, ...p12.certificates]
    const leafIndex = pool.findIndex((der) => keyMatchesCertificate(key, der))
    if (leafIndex < 0) {
      return ctx.error({ code: 'KEY_MISMATCH', message: `No certificate in ${entry.cert ?? keyFile} belongs to the private key in ${keyFile}.`, exitCode: 2 })
    }
    if (entry.cert && leafIndex !== 0) assertKeyMatchesCertificate(key, fromCert[0]!, { key: keyFile, cert: entry.cert })
    certificates = [pool[leafIndex]!, ...pool.filter((_, i) => i !== leafIndex)]
  } else {
    if (!entry.cert) return ctx.error({ code: 'CERT_INVALID', message: 'The pem signer needs `cert` next to a PEM `key`.', hint: 'Pass --sign CERT.pem --key KEY.pem.', exitCode: 2 })
    key = loadPrivateKeyPem(keyBytes.toString('utf8'), { file: keyFile, passphrase, passphraseEnv })
    certificates = await readCertificateFile(entry.cert)
    certFile = entry.cert
    assertKeyMatchesCertificate(key, certificates[0]!, { key: keyFile, cert: entry.cert })
  }
  if (entry.chain) certificates.push(...parsePemCertificates((await readBytes(ctx, entry.chain, 'chain')).toString('utf8'), entry.chain))
  // Unique by fingerprint, signer first, self-signed roots dropped.
  const seen = new Set<string>()
  const chain = certificates.filter((der, index) => {
    const fingerprint = certificateInfo(der).fingerprint!
    if (seen.has(fingerprint) || (index > 0 && isSelfIssued(der))) return false
    seen.add(fingerprint)
    return true
  })
  return { key, certificates: chain, files: { key: keyFile, cert: certFile } }
}

/** Build-time certificate policy: valid now, allowed to sign, warned about when expiring soon. */
function checkPolicy(ctx: PluginContext, material: Material): void {
  const now = new Date()
  for (const [index, der] of material.certificates.entries()) {
    assertCertificateValidAt(der, now, index === 0 ? 'The signing certificate' : 'An intermediate certificate', { file: index === 0 ? material.files.cert : undefined })
  }
  const leaf = material.certificates[0]!
  const problem = signingUsageProblem(leaf)
  if (problem) {
    ctx.error({ code: 'CERT_USAGE', message: `The certificate ${material.files.cert} may not sign bundles: ${problem}.`, hint: 'Use a certificate issued with keyUsage digitalSignature.', exitCode: 2 })
  }
  const warnDays = ctx.config.offline.certExpiryWarnDays
  const earliest = Math.min(...material.certificates.map((der) => Date.parse(certificateInfo(der).not_after)))
  const daysLeft = (earliest - now.getTime()) / DAY_MS
  if (daysLeft <= warnDays) {
    const which = material.certificates.find((der) => Date.parse(certificateInfo(der).not_after) === earliest)!
    const info = certificateInfo(which)
    ctx.warn({ code: 'CERT_EXPIRING', message: `The certificate "${info.subject}" expires on ${info.not_after} (in ${Math.max(0, Math.floor(daysLeft))} days); renew it.` })
  }
}

export default definePlugin((): PxpPlugin => {
  let material: Material | undefined
  return {
    name: 'signer-pem',
    apply: (config) => pemEntry(config) !== undefined,
    async resolveSigner(configured): Promise<SignerIdentity | null> {
      // Answer only for our own entry: in `signer: [kms, pem]` the kms entry is someone else's.
      const entry = configured?.type === 'pem' ? (configured as PemEntry) : undefined
      // PX_CLI_SIGNING=0 (with an approval) builds unsigned: no key is even read.
      if (!entry || this.config.signing?.enabled === false) return null
      material = await loadMaterial(this, entry)
      checkPolicy(this, material)
      const chain = material.certificates.map(certificateInfo)
      const algorithm = keyObjectSigner(material.key).algorithm
      this.report({ signer: 'pem', algorithm, fingerprint: chain[0]!.fingerprint, not_after: chain[0]!.not_after, subject: chain[0]!.subject })
      this.audit('signer.resolved', { signer: 'pem', subject: chain[0]!.subject, fingerprint: chain[0]!.fingerprint, not_after: chain[0]!.not_after })
      return { signer: 'pem', algorithm, chain, details: { fingerprint: chain[0]!.fingerprint, certificate: material.files.cert } }
    },
    async sign(integrityText, identity) {
      // Another instance (or another signer) resolved this identity: let it sign.
      if (identity.signer !== 'pem' || !material) return null
      const signer = keyObjectSigner(material.key)
      const cms = await createDetachedSignedData({ content: integrityText, certificates: material.certificates, signingTime: new Date(), signer })
      this.audit('bundle.signed', { signer: 'pem', fingerprint: identity.chain[0]?.fingerprint })
      return { cms, algorithm: signer.algorithm, chain: identity.chain }
    },
  }
})
