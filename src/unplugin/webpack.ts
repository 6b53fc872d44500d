/** `import pxp from 'pxp/webpack'`: the pxp bundler plugin for webpack (see ./index.ts). */
import { pxpUnplugin } from './index.js'

export type { PxpUnpluginOptions } from './index.js'
const plugin = pxpUnplugin.webpack
export default plugin
