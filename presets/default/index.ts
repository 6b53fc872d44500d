/**
 * The default plugin set of plugin-host.md. The core only knows "the default preset"; this file is
 * where the built-in plugins are named. The packaging plugins always load; the capability plugins
 * (signers, stores, installer, telemetry) load only when their config section asks for them, so a
 * plain build never imports a cloud SDK.
 */
import { definePreset, type PluginOption, type UserConfig } from '../../src/plugin-api.js'

type Entry = [when: (config: Readonly<UserConfig>) => boolean, load: () => Promise<{ default: (options?: any) => PluginOption }>]

const types = (value: unknown): string[] =>
  (Array.isArray(value) ? value : value ? [value] : []).map((v) => String((v as { type?: unknown }).type))

const always = () => true
const signer = (type: string) => (c: Readonly<UserConfig>) => types(c.signer).includes(type)
// Helpers for the entries below: `[signer('pem'), () => import(...)]`.
const store = (type: string) => (c: Readonly<UserConfig>) => types(c.artifactStore).includes(type)

const BUILT_INS: Entry[] = [
  [always, () => import('../../plugins/collect-fs/index.js')],
  [always, () => import('../../plugins/hash-sha256/index.js')],
  [always, () => import('../../plugins/emit-pxp/index.js')],
  [always, () => import('../../plugins/report/index.js')],
]

export default definePreset({
  name: 'default',
  async plugins(config) {
    const chosen = BUILT_INS.filter(([when]) => when(config))
    return Promise.all(chosen.map(async ([, load]) => (await load()).default()))
  },
})

