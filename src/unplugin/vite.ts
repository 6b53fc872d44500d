/** `import pxp from 'pxp/vite'`: the pxp bundler plugin for vite (see ./index.ts). */
import { pxpUnplugin } from './index.js'

export type { PxpUnpluginOptions } from './index.js'
const plugin = pxpUnplugin.vite
export default plugin
