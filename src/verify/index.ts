export { verifyBundle } from './verify-bundle.js'
export { DEFAULT_LIMITS, resolveLimits, type Limits } from './limits.js'
export type { VerifyIssue, VerifyOptions, VerifyReport } from './types.js'
