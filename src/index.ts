/**
 * The programmatic API (plugin-host.md "Also exposed"): the CLI is a thin shell over these.
 */
export * from './plugin-api.js'
export { build, type BuildOptions, type BuildResult } from './pipeline/run.js'
export { watch, type WatchOptions, type WatchEvent, type Watcher } from './pipeline/watch.js'
export { loadConfig, type LoadConfigOptions, type LoadedConfig } from './config/load.js'
export { parseDescriptor, validateDescriptor, type Descriptor, type ValidDescriptor } from './descriptor/index.js'
export { verifyAuditLog, AuditLog } from './report/audit-log.js'
export { verifyBundle, DEFAULT_LIMITS as VERIFY_LIMITS, type VerifyOptions, type VerifyReport } from './verify/index.js'
export type { InputConfig, ResolvedConfig as Config } from './config/types.js'
