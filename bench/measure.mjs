// Runs the pxp CLI in this process and records its peak RSS (KiB) for the benchmark.
import { writeFileSync } from 'node:fs'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
const { main } = await import('../dist/src/cli/main.js')
const code = await main(process.argv.slice(2))
if (process.env.PXP_BENCH_RSS_FILE) writeFileSync(process.env.PXP_BENCH_RSS_FILE, String(process.resourceUsage().maxRSS))
process.exit(code)
