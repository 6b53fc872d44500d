/**
 * The default plugin set of plugin-host.md. The core only knows "the default preset"; this file is
 * where the built-in plugins are named. The packaging plugins always load; the capability plugins
 * (signers, stores, installer, telemetry) load only when their config section asks for them, so a
 * plain build never imports a cloud SDK.
 */
// Types only: the config loader imports this file, and the plugin API's runtime (crypto, transfer)
// is only needed by the plugins themselves, which load lazily below.
import type { PluginOption, Preset, UserConfig } from '../../src/plugin-api.js'

type Entry = [when: (config: Readonly<UserConfig>) => boolean, load: () => Promise<{ default: (options?: any) => PluginOption }>]

const types = (value: unknown): string[] =>
  (Array.isArray(value) ? value : value ? [value] : []).map((v) => String((v as { type?: unknown }).type))

// When a built-in loads: always, or when its config section names it.
const always = () => true
const signer = (type: string) => (c: Readonly<UserConfig>) => types(c.signer).includes(type)
const store = (type: string) => (c: Readonly<UserConfig>) => types(c.artifactStore).includes(type)

const BUILT_INS: Entry[] = [
  [always, () => import('../../plugins/collect-fs/index.js')],
  [always, () => import('../../plugins/hash-sha256/index.js')],
  [always, () => import('../../plugins/emit-pxp/index.js')],
  [always, () => import('../../plugins/report/index.js')],
  [always, () => import('../../plugins/report-html/index.js')],
  [(c) => Boolean(c.telemetry), () => import('../../plugins/telemetry-http/index.js')],
  [(c) => Boolean(c.alerts), () => import('../../plugins/alert-webhook/index.js')],
  [(c) => Boolean(c.sandbox), () => import('../../plugins/installer-sandbox/index.js')],
  [signer('pem'), () => import('../../plugins/signer-pem/index.js')],
  [signer('kms'), () => import('../../plugins/signer-kms/index.js')],
  [signer('http'), () => import('../../plugins/signer-http/index.js')],
  [store('s3'), () => import('../../plugins/uploader-s3/index.js')],
  [store('oss'), () => import('../../plugins/uploader-oss/index.js')],
  [store('fs'), () => import('../../plugins/uploader-fs/index.js')],
  [store('signed-url'), () => import('../../plugins/uploader-signed-url/index.js')],
]

const defaultPreset: Preset = {
  name: 'default',
  async plugins(config) {
    const chosen = BUILT_INS.filter(([when]) => when(config))
    return Promise.all(chosen.map(async ([, load]) => (await load()).default()))
  },
}
export default defaultPreset

