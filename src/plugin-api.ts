/**
 * The public plugin API: the only module a plugin in `plugins/` (or a third-party package) imports.
 * Hooks receive the plugin context as `this`, Rollup/Vite style.
 */
import type { ConsolaInstance } from 'consola'
import type { PxpError } from './errors.js'
import type { Preset, ResolvedConfig, SignerEntry, TargetConfig, UserConfig } from './config/types.js'
import type { ArtefactDigest, ArtefactGroup } from './bundle/hashing.js'
import type { StatSignature } from './bundle/stat-cache.js'

export type { ResolvedConfig, TargetConfig, UserConfig, Preset, SignerEntry } from './config/types.js'
export { PxpError, configError, fileSystemHint } from './errors.js'
export { hashFile, hashGroup, fileChunks, type ArtefactGroup, type ArtefactDigest } from './bundle/hashing.js'
export { archiveOrder, LEADING_ENTRIES, type ArchiveEntry, INTEGRITY_FILE, SIGNATURE_FILE, MANIFEST_FILE, DESCRIPTOR_FILE, REPORT_FILE } from './bundle/layout.js'
export { unsafePathReason } from './bundle/paths.js'
export { StatCache, type StatSignature } from './bundle/stat-cache.js'
export { readChunks, readFdSync, readInto, readIntoSync } from './bundle/read.js'
export { redactText, redactValue } from './redact.js'
export { toolName, toolVersion } from './version.js'
// Transfer toolkit shared by the built-in uploaders and open to third-party ones (retry, progress, keys, S3 engine).
export * from './transfer/index.js'
export type { StoreEntry, S3StoreConfig, FsStoreConfig, SignedUrlStoreConfig } from './config/types.js'

export type Command = ResolvedConfig['command']

/** What a file is for; drives manifest.json artefacts and size budgets. */
export type FileRole =
  | 'descriptor' | 'catalog' | 'config' | 'backend' | 'frontend' | 'migrations'
  | 'contracts' | 'extensions' | 'skills' | 'docs' | 'asset' | 'generated'

/** A file in the bundle graph. Exactly one of `source` (absolute path) or `content` is set. */
export interface BundleFile {
  /** Archive path: relative, `/`-separated, NFC. */
  path: string
  source?: string
  content?: Uint8Array
  /** 0o755 or 0o644 after normalisation. */
  mode: number
  role: FileRole
  size: number
  /**
   * What stat said about `source` when the file entered the graph (a collector's walk, or the
   * graph itself). Stat-keyed caches compare against this instead of statting every file again.
   */
  stat?: StatSignature
}

export interface AddFileInput {
  path: string
  source?: string
  content?: Uint8Array | string
  /** Defaults to 0o755 under `backend/bin/`, else 0o644. */
  executable?: boolean
  role?: FileRole
  /** The source's stat signature when the collector already has it (`StatCache.signatureOf`). */
  stat?: StatSignature
}

export interface IntegrityEntry { path: string; sha256: string; size: number }

/** What the `hash` hook returns: every payload file's entry and, ideally, the artefact digests. */
export interface HashResult {
  entries: IntegrityEntry[]
  /** Keyed like manifest.json's `artefacts`; the core computes missing ones with `hashGroup`. */
  artefacts?: Record<string, ArtefactDigest>
}

export type SignatureAlgorithm = 'RSASSA-PKCS1-v1_5-SHA256' | 'ECDSA-P256-SHA256'

export interface CertificateInfo {
  subject: string
  issuer: string
  /** ISO 8601. */
  not_after: string
  not_before?: string
  /** SHA-256 of the DER certificate, lowercase hex. */
  fingerprint?: string
}

/** Who will sign, known before signing so manifest.json (which is itself signed) can name it. */
export interface SignerIdentity {
  /** e.g. `pem`, `kms`, `http`, or a third-party name. */
  signer: string
  algorithm: SignatureAlgorithm
  /** Leaf first, then intermediates. */
  chain: CertificateInfo[]
  /** Free-form, non-secret detail for report.json (key id, endpoint host…). */
  details?: Record<string, unknown>
}

export interface SignResult {
  /** DER-encoded detached CMS SignedData over the integrity.txt bytes. */
  cms: Uint8Array
  algorithm: SignatureAlgorithm
  chain: CertificateInfo[]
  details?: Record<string, unknown>
}

/** The model handed to `emit`: everything needed to write the archive. */
export interface BundleModel {
  pluginId: string
  version: string
  target: TargetConfig
  /** `<id>-<version>-<os>-<arch>` */
  baseName: string
  /** Final archive order (pxp-format.md), generated root files included, directories excluded. */
  files: BundleFile[]
  integrity: IntegrityEntry[]
  integrityText: Uint8Array
  signature?: SignResult
  manifest: Record<string, unknown>
  descriptor: Record<string, unknown>
  /** Final directory for this target's outputs: `<out>/<id>/<version>/<os>-<arch>`. */
  outDir: string
}

export type ArtifactKind = 'bundle' | 'integrity' | 'signature' | 'report' | 'other'

export interface EmittedArtifact {
  kind: ArtifactKind
  fileName: string
  /** Absolute path in the final output directory (valid from the `upload` hook on). */
  path: string
  sha256: string
  size: number
}

export interface EmitFileInput {
  fileName: string
  kind?: ArtifactKind
  /** Small outputs: the bytes. Large outputs: omit, after writing to `join(this.stagingDir, fileName)`. */
  content?: Uint8Array | string
  /** Known digest of a file written by the plugin itself, to spare a second read. */
  digest?: { sha256: string; size: number }
}

export interface UploadReceipt {
  store: string
  /** Public or store URL, never with a signed query string. */
  url: string
  key?: string
  etag?: string
  versionId?: string
  sha256: string
  size?: number
  durationMs?: number
  retries?: number
  fileName?: string
  /** The store already held this object with the same sha256, so nothing was sent. */
  skipped?: boolean
  /** Multipart parts that a resumed upload did not need to send again. */
  resumedParts?: number
}

export interface InstallResult {
  status: string
  entryUrl?: string
  logsUrl?: string
  installId?: string
  stage?: string
  reason?: string
  rolledBack?: boolean
  [key: string]: unknown
}

export interface TargetResult {
  runId: string
  target: TargetConfig
  /** `signed`, `unsigned` (no signer configured) or `unsigned-approved` (PX_CLI_SIGNING=0 + approval). */
  signingPolicy?: 'signed' | 'unsigned' | 'unsigned-approved'
  approval?: { reference: string; actor: string }
  /** Signers of a fallback chain that failed before one succeeded. */
  signingFallbacks?: Array<{ signer: string; code: string; message: string }>
  manifest?: Record<string, unknown>
  fileCount?: number
  /** Uncompressed sizes: total, per top-level folder, the ten largest files. */
  sizes?: { uncompressed_bytes: number; by_folder: Record<string, number>; largest_files: Array<{ path: string; size: number }> }
  pluginId: string
  version: string
  bundle?: EmittedArtifact
  artifacts: EmittedArtifact[]
  integrity: IntegrityEntry[]
  signature?: SignResult
  signer?: SignerIdentity
  uploads: UploadReceipt[]
  install?: InstallResult
  report?: string
  durations: Record<string, number>
  warnings: Array<{ code: string; message: string; plugin?: string }>
  metrics: Array<{ name: string; value: number; tags?: Record<string, string> }>
  /** Facts plugins reported with `this.report()`, by plugin name. */
  plugins: Record<string, Record<string, unknown>>
}

export interface BuildEndInfo {
  ok: boolean
  error?: PxpError
  result?: TargetResult
  target: TargetConfig
}

export interface PluginContext {
  /** consola instance tagged with the plugin name. */
  logger: ConsolaInstance
  /** Records a warning (log, report.json, audit) and goes on. */
  warn(warning: string | { code: string; message: string }): void
  /** Throws a PxpError carrying this plugin, hook, code and cause. */
  error(error: string | { code: string; message: string; hint?: string; cause?: unknown; exitCode?: 1 | 2 }): never
  /** Appends to the hash-chained audit.log. */
  audit(action: string, metadata?: Record<string, unknown>): void
  metric(name: string, value: number, tags?: Record<string, string>): void
  /** Aborted on Ctrl-C and on timeouts. */
  signal: AbortSignal
  target: TargetConfig
  cacheDir: string
  tmpDir: string
  /** Where `emit` writes this target's outputs before the atomic rename. */
  stagingDir: string
  config: ResolvedConfig
  /** Only during `collect`. */
  addFile(file: AddFileInput): void
  /** Only during `emit`. */
  emitFile(file: EmitFileInput): Promise<EmittedArtifact>
  /** Non-secret facts a plugin wants in report.json under `plugins.<name>`. */
  report(facts: Record<string, unknown>): void
  /** Marks a value as secret: it is masked in every log line, report and error. */
  redact(secret: string | undefined): void
  /** A read-only view of this target's result so far (durations, warnings, artifacts, uploads…). */
  snapshot(): Readonly<TargetResult>
  /** The unique id of this run (also in dist.log and audit.log). */
  runId: string
}

export type HookFilter = { include?: FilterPattern; exclude?: FilterPattern }
export type FilterPattern = string | RegExp | Array<string | RegExp>

/** A hook is a function or `{ handler, order, filter }` (Rollup/Vite object hooks). */
export type ObjectHook<F, Extra = {}> = F | ({ handler: F; order?: 'pre' | 'post' | null } & Extra)

type Awaitable<T> = T | Promise<T>

export interface TransformOutput { path?: string; content?: Uint8Array | string; executable?: boolean }

export interface PluginHooks {
  configResolved: (this: PluginContext, config: ResolvedConfig) => Awaitable<void>
  collect: (this: PluginContext) => Awaitable<void>
  transform: (this: PluginContext, file: BundleFile, read: () => Promise<Buffer>) => Awaitable<TransformOutput | null | void>
  hash: (this: PluginContext, files: readonly BundleFile[], groups: readonly ArtefactGroup[]) => Awaitable<HashResult | null | void>
  /**
   * Called once per configured signer entry, in order (`signer: [kms, pem]` is a fallback chain);
   * answer only for an entry of your own type. `entry` is undefined when no signer is configured.
   */
  resolveSigner: (this: PluginContext, entry: SignerEntry | undefined) => Awaitable<SignerIdentity | null | void>
  sign: (this: PluginContext, integrityText: Uint8Array, identity: SignerIdentity) => Awaitable<SignResult | null | void>
  emit: (this: PluginContext, bundle: BundleModel) => Awaitable<void>
  upload: (this: PluginContext, artifacts: readonly EmittedArtifact[]) => Awaitable<UploadReceipt | UploadReceipt[] | null | void>
  install: (this: PluginContext, artifacts: readonly EmittedArtifact[], uploads: readonly UploadReceipt[]) => Awaitable<InstallResult | null | void>
  buildEnd: (this: PluginContext, info: BuildEndInfo) => Awaitable<void>
}

export type HookName = keyof PluginHooks

export interface PxpPlugin extends Partial<{
  [K in Exclude<HookName, 'transform'>]: ObjectHook<PluginHooks[K]>
}> {
  name: string
  enforce?: 'pre' | 'post'
  apply?: Command | Command[] | ((config: ResolvedConfig) => boolean)
  transform?: ObjectHook<PluginHooks['transform'], { filter?: HookFilter }>
}

export type PluginFactory<O = any> = (options?: O) => PxpPlugin | PxpPlugin[] | Promise<PxpPlugin | PxpPlugin[]>

/**
 * What `plugins: []` accepts: a plugin, a factory, a module specifier (npm package or local
 * `.ts`/`.js` file, resolved against the config file) or `[specifier, options]`; falsy entries are
 * skipped so `cond && plugin()` works.
 */
export type PluginOption = PxpPlugin | PluginFactory | string | [string, Record<string, unknown>] | false | null | undefined | PluginOption[]

export function definePlugin<O = void>(factory: (options: O) => PxpPlugin): (options: O) => PxpPlugin
export function definePlugin(plugin: PxpPlugin): PxpPlugin
export function definePlugin(plugin: unknown): unknown {
  return plugin
}

export function definePreset(preset: Preset): Preset {
  return preset
}

export function defineConfig(config: import('./config/types.js').InputConfig): import('./config/types.js').InputConfig {
  return config
}

// Signing building blocks, re-exported so first- and third-party signer plugins (PEM, KMS, HTTP)
// assemble the exact CMS structure of pxp-format.md without reaching into pxp internals.
export { createDetachedSignedData, type DetachedSignedDataInput, type RawSigner } from './crypto/cms-sign.js'
export {
  assertCertificateValidAt,
  certificateInfo,
  isSelfIssued,
  parsePemCertificates,
  readCertificateFile,
  signingUsageProblem,
} from './crypto/certs.js'
export {
  assertKeyMatchesCertificate,
  keyMatchesCertificate,
  keyObjectSigner,
  loadPkcs12,
  loadPrivateKeyPem,
  signatureAlgorithmForKey,
  type KeySource,
} from './crypto/keys.js'
// Remote signers (KMS, signing service, third-party): the shared chain/policy/public-key checks,
// and local verification of a CMS a service returns.
export {
  checkSigningCertificates,
  certificatePublicKey,
  publicKeyFromSpki,
  samePublicKey,
  signerChain,
  type CertificatePolicyOptions,
} from './crypto/signer-policy.js'
export { verifyDetachedSignedData, type VerifiedSignature, type VerifyDetachedInput } from './crypto/cms-verify.js'
export { checkDetachedSignature, type DetachedSignatureCheck } from './crypto/cms-check.js'

// Sandbox client shared by `pxp install` and the installer-sandbox plugin (docs/sandbox.md).
export {
  installBundle,
  SandboxClient,
  mergeAnswers,
  completeAnswers,
  parsePairs,
  readValuesFile,
  outcomeOf,
  callJson,
  type InstallBundleOptions,
  type InstallOutcome,
  type InstallMode,
  type WizardAnswers,
  type WizardQuestion,
} from './sandbox/client/index.js'
