/**
 * Typed errors with stable codes. Every refusal in pxp is a PxpError so that the CLI can map it to
 * an exit code (cli.md: 1 = the operation failed, 2 = usage or config error) and `--json` can carry
 * the code. The message says what failed and where; `hint` says what to do.
 */
export type ExitCode = 1 | 2

export interface PxpErrorOptions {
  /** What to do about it, one sentence. */
  hint?: string
  /** 1 = operation failed (default), 2 = usage or configuration error. */
  exitCode?: ExitCode
  /** The file the problem is in, when there is one. */
  file?: string
  /** A config key path such as `offline.targets[0].os`. */
  keyPath?: string
  /** Bundle entry path, for verification and packaging errors. */
  path?: string
  plugin?: string
  hook?: string
  cause?: unknown
  /** Extra machine-readable detail for `--json` and the reports (never secrets). */
  details?: Record<string, unknown>
}

export class PxpError extends Error {
  readonly code: string
  readonly exitCode: ExitCode
  readonly hint?: string
  readonly file?: string
  readonly keyPath?: string
  readonly path?: string
  plugin?: string
  hook?: string
  readonly details?: Record<string, unknown>

  constructor(code: string, message: string, options: PxpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'PxpError'
    this.code = code
    this.exitCode = options.exitCode ?? 1
    this.hint = options.hint
    this.file = options.file
    this.keyPath = options.keyPath
    this.path = options.path
    this.plugin = options.plugin
    this.hook = options.hook
    this.details = options.details
  }

  /** One line for humans: `[CODE] message (plugin x, hook y) — hint`. */
  format(): string {
    const where = [this.plugin && `plugin ${this.plugin}`, this.hook && `hook ${this.hook}`]
      .filter(Boolean)
      .join(', ')
    return `[${this.code}] ${this.message}${where ? ` (${where})` : ''}${this.hint ? `\n  → ${this.hint}` : ''}`
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint && { hint: this.hint }),
      ...(this.file && { file: this.file }),
      ...(this.keyPath && { keyPath: this.keyPath }),
      ...(this.path && { path: this.path }),
      ...(this.plugin && { plugin: this.plugin }),
      ...(this.hook && { hook: this.hook }),
      ...(this.details && { details: this.details }),
    }
  }
}

/** A configuration or usage problem: exit code 2. */
export function configError(code: string, message: string, options: Omit<PxpErrorOptions, 'exitCode'> = {}): PxpError {
  return new PxpError(code, message, { ...options, exitCode: 2 })
}

export function isPxpError(error: unknown): error is PxpError {
  return error instanceof PxpError
}

/**
 * What to do about a file-system call that failed for a reason outside pxp (a full disk, a limit,
 * permissions), by its errno code; undefined for anything else, which is then likely a bug.
 */
export function fileSystemHint(code: unknown): string | undefined {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return 'The file system is full (or over quota): free space, or write elsewhere.'
    case 'EFBIG':
      return 'The file outgrew the largest file this process may write: raise `ulimit -f`, or write to another file system.'
    case 'EROFS':
      return 'The file system is read-only: write elsewhere.'
    case 'EACCES':
    case 'EPERM':
      return 'pxp may not write there: fix the permissions, or write elsewhere.'
    case 'EIO':
      return 'The disk reported an I/O error: check the device before trusting anything written to it.'
    case 'EMFILE':
    case 'ENFILE':
      return 'Too many open files: raise `ulimit -n`.'
  }
  return undefined
}

/** Wraps anything thrown by third-party code so the CLI always has a code and a place. */
export function toPxpError(error: unknown, fallbackCode = 'INTERNAL'): PxpError {
  if (error instanceof PxpError) return error
  const message = error instanceof Error ? error.message : String(error)
  return new PxpError(fallbackCode, message, { cause: error })
}
