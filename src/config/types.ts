/**
 * The config contract of plugin-host.md. `UserConfig` is what people write in
 * `px-plugin.config.ts`; `ResolvedConfig` is what plugins receive: layers merged, env applied,
 * paths absolute, defaults filled in, validated and frozen.
 */
import type { PluginOption } from '../plugin-api.js'

export interface TargetConfig {
  os: string
  arch: string
  /** Overrides `runtime.entry` check for this target (rare). */
  entry?: string
  /** Extra globs (relative to the plugin root) added to this target only. */
  assets?: string[]
  /** Globs removed from this target only. */
  ignore?: string[]
}

export interface OfflineConfig {
  targets?: TargetConfig[]
  /** Extra globs, relative to the plugin root, added to every target. */
  assets?: string[]
  /** Globs removed from every target. */
  ignore?: string[]
  /** Store a symlink's target content instead of refusing it (targets outside the root still fail). */
  dereference?: boolean
  /** More file-name globs that count as secrets and stop the build. */
  secretPatterns?: string[]
  /** `warn` (default) or `fail` when plugin.yaml breaks an installed-mode convention. */
  conventions?: 'warn' | 'fail'
  /** Warn when the signing certificate expires within this many days (default 14). */
  certExpiryWarnDays?: number
}

/** PEM key + certificate, or a PKCS#12 bundle (`p12`, or `key` ending in .p12/.pfx) that carries the certificate. */
export interface PemSignerConfig { type: 'pem'; cert?: string; key?: string; p12?: string; chain?: string; passphraseEnv?: string; [key: string]: unknown }
export interface KmsSignerConfig { type: 'kms'; keyId: string; region: string; endpoint?: string; cert: string; chain?: string; [key: string]: unknown }
export interface HttpSignerConfig { type: 'http'; url: string; tokenEnv?: string; cert?: string; chain?: string; [key: string]: unknown }
export type SignerEntry = PemSignerConfig | KmsSignerConfig | HttpSignerConfig | ({ type: string } & Record<string, unknown>)
export type SignerConfig = SignerEntry | SignerEntry[]

export interface S3StoreConfig {
  type: 's3' | 'oss'
  bucket: string
  prefix?: string
  /** Object key template; `{id}`, `{version}`, `{os}`, `{arch}`, `{file}` are replaced. */
  key?: string
  region?: string
  endpoint?: string
  forcePathStyle?: boolean
  partSizeMB?: number
  concurrency?: number
  [key: string]: unknown
}
export interface FsStoreConfig { type: 'fs'; dir: string; [key: string]: unknown }
export interface SignedUrlStoreConfig { type: 'signed-url'; url: string; [key: string]: unknown }
export type StoreEntry = S3StoreConfig | FsStoreConfig | SignedUrlStoreConfig | ({ type: string } & Record<string, unknown>)
export type ArtifactStoreConfig = StoreEntry | StoreEntry[]

export interface SandboxConfig {
  url: string
  tenant: string
  tokenEnv?: string
  mode?: 'pxp' | 'powerx-core'
  values?: Record<string, string>
  secrets?: Record<string, string>
  logLevel?: 'debug' | 'info' | 'warn' | 'error'
  [key: string]: unknown
}

export interface LimitsConfig {
  /** Compressed `.pxp` size; default 300 MiB. */
  maxBundleBytes?: number
  /** Uncompressed `backend/`; default 200 MiB. */
  maxBackendBytes?: number
  /** Uncompressed `web-admin/`; default 100 MiB. */
  maxFrontendBytes?: number
  /** `fail` (default) or `warn`, for all budgets or per budget. */
  onExceed?: 'warn' | 'fail' | { bundle?: 'warn' | 'fail'; backend?: 'warn' | 'fail'; frontend?: 'warn' | 'fail' }
}

export interface UserConfig {
  /** The plugin repository root (where plugin.yaml is). Default: the config file's directory. */
  root?: string
  /** Output directory. Default: `<root>/dist`. */
  out?: string
  offline?: OfflineConfig
  signer?: SignerConfig
  artifactStore?: ArtifactStoreConfig
  sandbox?: SandboxConfig
  telemetry?: { url: string; [key: string]: unknown }
  alerts?: { webhook: string; kind?: 'slack' | 'json'; [key: string]: unknown }
  limits?: LimitsConfig
  /** Trust roots (PEM files) for `pxp verify`. */
  trust?: string[]
  plugins?: PluginOption[]
  presets?: PresetOption[]
  /** Extra keys are allowed for third-party plugins' own sections. */
  [key: string]: unknown
}

/** c12 also understands `extends` and `$production`/`$development`/`$env` keys on top of these. */
export type InputConfig = UserConfig & {
  extends?: string | string[]
  $production?: UserConfig
  $development?: UserConfig
  $test?: UserConfig
  $env?: Record<string, UserConfig>
}

export interface Preset {
  name: string
  plugins?: PluginOption[] | ((config: Readonly<UserConfig>) => PluginOption[] | Promise<PluginOption[]>)
  config?: UserConfig
}
export type PresetOption = Preset | string | [string, Record<string, unknown>]

export interface ConfigLayer {
  /** Absolute path of the file the layer came from, or a label such as `<env>` or `<cli>`. */
  source: string
  config: Record<string, unknown>
}

export interface ResolvedConfig {
  root: string
  out: string
  /** The config file actually loaded, undefined for zero-config. */
  configFile?: string
  /** Env name used for `$env` keys (NODE_ENV or --env). */
  envName: string
  command: 'build' | 'verify' | 'install' | 'upload'
  offline: Required<Pick<OfflineConfig, 'targets' | 'assets' | 'ignore' | 'dereference' | 'secretPatterns' | 'conventions' | 'certExpiryWarnDays'>>
  signer?: SignerConfig
  artifactStore?: ArtifactStoreConfig
  sandbox?: SandboxConfig
  telemetry?: UserConfig['telemetry']
  alerts?: UserConfig['alerts']
  limits: LimitsConfig
  trust: string[]
  /** Unsigned build requested with PX_CLI_SIGNING=0; carries the approval reference. */
  signing: { enabled: boolean; approval?: string }
  /** `SOURCE_DATE_EPOCH` or the fixed constant, in seconds. */
  sourceDateEpoch: number
  /** Every layer, highest priority first, for error messages that name the file. */
  layers: ConfigLayer[]
  /** The raw merged config including third-party sections. */
  raw: Readonly<Record<string, unknown>>
}
