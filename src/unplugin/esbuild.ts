/** `import pxp from 'pxp/esbuild'`: the pxp bundler plugin for esbuild (see ./index.ts). */
import { pxpUnplugin } from './index.js'

export type { PxpUnpluginOptions } from './index.js'
const plugin = pxpUnplugin.esbuild
export default plugin
