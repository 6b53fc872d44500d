/**
 * `powerx-intranet`: the on-premises setup — a PEM signing key on the build host, the NAS share as
 * artifact store and the local sandbox (`pxp sandbox`) as install target. Every key can be
 * overridden key by key in the project's config; relative paths resolve against the project's
 * config file (not this package).
 *
 *   presets: ['powerx-intranet']                                  // defaults below
 *   presets: [['powerx-intranet', { nasDir: '/mnt/nas/plugins' }]] // with options
 */
import { definePreset, type Preset } from '../../src/plugin-api.js'

export interface PowerxIntranetPresetOptions {
  /** Signing certificate (PEM). Default `keys/signing.pem`. */
  cert?: string
  /** Its private key (PEM or PKCS#12). Default `keys/signing.key`. */
  key?: string
  /** PEM intermediates to embed. */
  chain?: string
  /** Env var holding the key's passphrase. Default `PX_SIGNING_KEY_PASSPHRASE`. */
  passphraseEnv?: string
  /** NAS directory the bundles are copied to. Default `$PX_NAS_DIR`, else `/mnt/powerx-nas/plugins`. */
  nasDir?: string
  /** Local sandbox URL. Default `http://127.0.0.1:7077` (`pxp sandbox`'s default port). */
  sandboxUrl?: string
  /** Sandbox tenant. Default `dev` (the embedded sandbox's tenant). */
  tenant?: string
  /** Env var holding the sandbox token. Default `PXP_SANDBOX_TOKEN`. */
  tokenEnv?: string
  /** Trust roots for `pxp verify`. Default `['keys/root.pem']`. */
  trust?: string[]
}

export default function powerxIntranet(options: PowerxIntranetPresetOptions = {}): Preset {
  return definePreset({
    name: 'powerx-intranet',
    config: {
      signer: {
        type: 'pem',
        cert: options.cert ?? 'keys/signing.pem',
        key: options.key ?? 'keys/signing.key',
        passphraseEnv: options.passphraseEnv ?? 'PX_SIGNING_KEY_PASSPHRASE',
        ...(options.chain && { chain: options.chain }),
      },
      artifactStore: { type: 'fs', dir: options.nasDir ?? process.env.PX_NAS_DIR ?? '/mnt/powerx-nas/plugins' },
      sandbox: {
        url: options.sandboxUrl ?? 'http://127.0.0.1:7077',
        tenant: options.tenant ?? 'dev',
        tokenEnv: options.tokenEnv ?? 'PXP_SANDBOX_TOKEN',
        mode: 'pxp',
      },
      trust: options.trust ?? ['keys/root.pem'],
    },
  })
}
