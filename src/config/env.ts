/**
 * The PX_* environment variables of plugin-host.md, applied as a layer above the config files and
 * below command-line flags. Credentials are not copied into the config: the plugins that need them
 * read them at use time and register them for redaction.
 */
import type { UserConfig } from './types.js'

export interface EnvLayer {
  config: UserConfig
  signingDisabled: boolean
  offlineImport: boolean
}

export function envLayer(env: NodeJS.ProcessEnv, base: UserConfig): EnvLayer {
  const config: UserConfig = {}
  const store = base.artifactStore
  if (env.PX_ARTIFACT_STORE_ENDPOINT && store && !Array.isArray(store) && (store.type === 's3' || store.type === 'oss')) {
    config.artifactStore = { ...store, endpoint: env.PX_ARTIFACT_STORE_ENDPOINT }
  }
  if (env.PX_SIGNING_ENDPOINT) {
    const signer = base.signer
    if (!signer) config.signer = { type: 'http', url: env.PX_SIGNING_ENDPOINT }
    else if (!Array.isArray(signer) && signer.type === 'http') config.signer = { ...signer, url: env.PX_SIGNING_ENDPOINT }
  }
  if (env.PX_TRUST_ROOTS) config.trust = env.PX_TRUST_ROOTS.split(/[,:]/).filter(Boolean)
  return {
    config,
    signingDisabled: env.PX_CLI_SIGNING === '0',
    offlineImport: env.PX_OFFLINE_IMPORT !== '0',
  }
}
