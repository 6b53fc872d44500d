/**
 * Bounded retries for network transfers. Every store retries the same way so that a flaky link
 * behaves the same whether the bundle goes to S3, OSS, a signed URL or anything a team plugs in:
 * a fixed number of attempts, exponential backoff with full jitter (so parallel part uploads that
 * failed together do not retry together), a deadline per attempt, and an AbortSignal that stops
 * everything at once.
 */

export interface RetryPolicy {
  /** Retries after the first attempt (0 = try once). */
  retries: number
  /** First backoff ceiling; doubles per retry. */
  baseDelayMs: number
  /** Backoff ceiling. */
  maxDelayMs: number
  /** Deadline for one attempt; a slow-but-alive attempt past it is aborted and retried. */
  attemptTimeoutMs?: number
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  retries: 4,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  attemptTimeoutMs: 300_000,
})

export interface RetryInfo {
  /** 1-based number of the attempt that failed. */
  attempt: number
  error: unknown
  delayMs: number
}

export interface RetryOptions extends Partial<RetryPolicy> {
  signal?: AbortSignal
  /** Which failures are worth another attempt; default `isRetryableError`. */
  isRetryable?: (error: unknown) => boolean
  onRetry?: (info: RetryInfo) => void
  /** For tests: a deterministic jitter source in [0, 1). */
  random?: () => number
}

export interface RetryResult<T> {
  value: T
  /** How many attempts failed before the one that succeeded. */
  retries: number
}

/** Thrown (and retried) when one attempt outlives `attemptTimeoutMs`. */
export class AttemptTimeoutError extends Error {
  readonly code = 'ETIMEDOUT'
  constructor(readonly timeoutMs: number) {
    super(`attempt timed out after ${timeoutMs} ms`)
    this.name = 'AttemptTimeoutError'
  }
}

/** Thrown when retries are exhausted; `cause` is the last failure, `attempts` how many were made. */
export class RetriesExhaustedError extends Error {
  constructor(readonly attempts: number, readonly lastError: unknown) {
    super(`gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}`, { cause: lastError })
    this.name = 'RetriesExhaustedError'
  }
}

/** Full jitter (AWS architecture blog): uniform in [0, min(cap, base·2^n)). */
export function backoffDelay(retryIndex: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** retryIndex)
  return Math.floor(random() * ceiling)
}

const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ESOCKETTIMEDOUT',
  'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ERR_STREAM_PREMATURE_CLOSE',
])

const RETRYABLE_ERROR_NAMES = new Set([
  'TimeoutError', 'AttemptTimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'SlowDown',
  'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded',
  'InternalError', 'ServiceUnavailable', 'BadDigest', 'XAmzContentSHA256Mismatch',
])

/** The HTTP status of an SDK error, a fetch-style error, or our own transfer errors. */
export function httpStatusOf(error: unknown): number | undefined {
  const e = error as { $metadata?: { httpStatusCode?: number }; statusCode?: number; status?: number } | undefined
  const status = e?.$metadata?.httpStatusCode ?? e?.statusCode ?? e?.status
  return typeof status === 'number' ? status : undefined
}

/** Walks `error.cause` so a wrapped socket error still reads as a socket error. */
export function errorChain(error: unknown): unknown[] {
  const chain: unknown[] = []
  let current = error
  while (current && chain.length < 8 && !chain.includes(current)) {
    chain.push(current)
    current = (current as { cause?: unknown }).cause
  }
  return chain
}

/**
 * Throttling, 5xx, timeouts and dropped connections are transient; everything else (403, 404,
 * a bad request, a local file error) will fail the same way again, so it is not retried.
 */
export function isRetryableError(error: unknown): boolean {
  for (const link of errorChain(error)) {
    const { code, name, message, Code } = (link ?? {}) as { code?: unknown; name?: unknown; message?: unknown; Code?: unknown }
    // Named first: S3 answers some transient failures with a 400 (RequestTimeout, BadDigest).
    if (typeof name === 'string' && RETRYABLE_ERROR_NAMES.has(name)) return true
    if (typeof Code === 'string' && RETRYABLE_ERROR_NAMES.has(Code)) return true
    const status = httpStatusOf(link)
    if (status !== undefined) {
      if (status === 408 || status === 429 || status >= 500) return true
      if (status >= 400) return false
    }
    if (typeof code === 'string' && RETRYABLE_NETWORK_CODES.has(code)) return true
    if (typeof message === 'string' && /socket hang up|network socket disconnected|other side closed/i.test(message)) return true
  }
  return false
}

/** Sleeps, but wakes up (rejecting) as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Runs `operation` until it succeeds, a failure is not retryable, retries run out or `signal`
 * aborts. Each attempt gets its own signal that fires on the outer abort or its own deadline.
 */
export async function withRetry<T>(
  operation: (attempt: { number: number; signal: AbortSignal }) => Promise<T>,
  options: RetryOptions = {},
): Promise<RetryResult<T>> {
  const policy = { ...DEFAULT_RETRY_POLICY, ...definedOnly(options) }
  const isRetryable = options.isRetryable ?? isRetryableError
  const outer = options.signal
  for (let attempt = 1; ; attempt++) {
    if (outer?.aborted) throw outer.reason
    const controller = new AbortController()
    const onOuterAbort = () => controller.abort(outer!.reason)
    outer?.addEventListener('abort', onOuterAbort, { once: true })
    let timer: NodeJS.Timeout | undefined
    let timedOut = false
    if (policy.attemptTimeoutMs && policy.attemptTimeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true
        controller.abort(new AttemptTimeoutError(policy.attemptTimeoutMs!))
      }, policy.attemptTimeoutMs)
    }
    try {
      const value = await operation({ number: attempt, signal: controller.signal })
      return { value, retries: attempt - 1 }
    } catch (caught) {
      if (outer?.aborted) throw outer.reason
      // An SDK call aborted by our deadline throws its own AbortError; report the deadline instead.
      const error = timedOut ? new AttemptTimeoutError(policy.attemptTimeoutMs!) : caught
      if (attempt > policy.retries || !isRetryable(error)) {
        if (attempt > 1 || isRetryable(error)) throw new RetriesExhaustedError(attempt, error)
        throw error
      }
      const delayMs = backoffDelay(attempt - 1, policy.baseDelayMs, policy.maxDelayMs, options.random)
      options.onRetry?.({ attempt, error, delayMs })
      await sleep(delayMs, outer)
    } finally {
      if (timer) clearTimeout(timer)
      outer?.removeEventListener('abort', onOuterAbort)
    }
  }
}

/** The failure behind a RetriesExhaustedError, or the error itself. */
export function rootFailure(error: unknown): unknown {
  return error instanceof RetriesExhaustedError ? error.lastError : error
}

function definedOnly(options: RetryOptions): Partial<RetryPolicy> {
  const out: Partial<RetryPolicy> = {}
  if (options.retries !== undefined) out.retries = options.retries
  if (options.baseDelayMs !== undefined) out.baseDelayMs = options.baseDelayMs
  if (options.maxDelayMs !== undefined) out.maxDelayMs = options.maxDelayMs
  if (options.attemptTimeoutMs !== undefined) out.attemptTimeoutMs = options.attemptTimeoutMs
  return out
}
