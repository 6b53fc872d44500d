#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm install` (the `prepare` script).
// The AWS SDK warns about Node 20 on every call; pxp supports Node >= 20.19 deliberately.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
// Node >= 22.1 keeps compiled code between runs, so a rebuild does not compile pxp and its
// dependencies again; older Node has no such cache and skips this.
const { default: module } = await import('node:module')
module.enableCompileCache?.()
const { main } = await import('../dist/src/cli/main.js')

process.exitCode = await main(process.argv.slice(2))
