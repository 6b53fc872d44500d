export { loadConfig, type LoadConfigOptions, type LoadedConfig } from './load.js'
export { hostTarget } from './platform.js'
export type * from './types.js'
