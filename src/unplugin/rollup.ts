/** `import pxp from 'pxp/rollup'`: the pxp bundler plugin for rollup (see ./index.ts). */
import { pxpUnplugin } from './index.js'

export type { PxpUnpluginOptions } from './index.js'
const plugin = pxpUnplugin.rollup
export default plugin
