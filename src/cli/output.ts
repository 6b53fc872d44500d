import { relative } from 'node:path'
import { consola } from 'consola'
import { PxpError, toPxpError } from '../errors.js'
import { redactText } from '../redact.js'

/** Prints exactly one JSON document on stdout. */
export function printJson(document: unknown): void {
  process.stdout.write(redactText(JSON.stringify(document, null, 2)) + '\n')
}

/** One JSON document on one line: a stream of them (watch mode) reads as JSON Lines. */
export function printJsonLine(document: unknown): void {
  process.stdout.write(redactText(JSON.stringify(document)) + '\n')
}

/** Reports an error the cli.md way and returns the exit code. */
export function failure(error: unknown, json: boolean): number {
  const pxpError = normaliseCliError(error)
  if (json) printJson({ ok: false, error: pxpError.toJSON() })
  else consola.error(redactText(pxpError.format()))
  if (process.env.PXP_DEBUG && error instanceof Error && error.stack) consola.debug(redactText(error.stack))
  return pxpError.exitCode
}

function normaliseCliError(error: unknown): PxpError {
  // cac throws plain CACError for unknown options and missing values: those are usage errors.
  if (error instanceof Error && error.name === 'CACError') {
    return new PxpError('USAGE', error.message, { exitCode: 2, hint: 'Run the command with --help to see its options.' })
  }
  return toPxpError(error)
}

/** A path relative to the shell's directory when it is below it, else absolute. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file)
  return rel && !rel.startsWith('..') ? rel : file
}
