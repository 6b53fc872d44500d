import { PxpError } from '../../src/errors.js'

/** The PxpError code a promise rejects with, or 'OK'; anything else than a PxpError is rethrown. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    if (error instanceof PxpError) return error.code
    throw error
  }
  return 'OK'
}

/** `codeOf` for synchronous work. */
export function codeOfSync(work: () => unknown): string {
  try {
    work()
  } catch (error) {
    if (error instanceof PxpError) return error.code
    throw error
  }
  return 'OK'
}
