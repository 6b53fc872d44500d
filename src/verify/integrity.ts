/**
 * Strict reader for integrity.txt: exactly `sha256sum` output, sorted by UTF-8 bytes, LF only.
 * Anything looser would let two readers disagree about which files a signature covers.
 */
import { DESCRIPTOR_FILE, INTEGRITY_FILE, MANIFEST_FILE, SIGNATURE_FILE } from '../bundle/layout.js'
import { compareUtf8, unsafePathReason } from '../bundle/paths.js'
import { PxpError } from '../errors.js'

const LINE = /^([0-9a-f]{64}) {2}(.+)$/

const malformed = (message: string) => new PxpError('INTEGRITY_MALFORMED', message, { path: INTEGRITY_FILE, hint: 'Rebuild the bundle with `pxp build`; integrity.txt must be exact sha256sum output.' })

/** Path → lowercase hex SHA-256, in file order. */
export function parseIntegrity(bytes: Uint8Array): Map<string, string> {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch {
    throw malformed('integrity.txt is not valid UTF-8.')
  }
  if (text.length === 0) throw malformed('integrity.txt is empty.')
  if (text.charCodeAt(0) === 0xfeff) throw malformed('integrity.txt starts with a byte-order mark.')
  if (text.includes('\r')) throw malformed('integrity.txt has CR characters; lines must end with LF only.')
  if (!text.endsWith('\n')) throw malformed('integrity.txt does not end with a newline.')
  const entries = new Map<string, string>()
  let previous: string | undefined
  const lines = text.slice(0, -1).split('\n')
  for (const [index, line] of lines.entries()) {
    const match = LINE.exec(line)
    if (!match) throw malformed(`integrity.txt line ${index + 1} is not "<64 lowercase hex>  <path>".`)
    const [, hash, path] = match as unknown as [string, string, string]
    const reason = unsafePathReason(path)
    if (reason) throw new PxpError('PATH_UNSAFE', `integrity.txt line ${index + 1} lists "${path}": ${reason}.`, { path })
    if (path === INTEGRITY_FILE || path === SIGNATURE_FILE) throw malformed(`integrity.txt must not list ${path}.`)
    if (previous !== undefined && compareUtf8(previous, path) >= 0) {
      throw malformed(previous === path ? `integrity.txt lists "${path}" twice.` : `integrity.txt is not sorted: "${path}" comes after "${previous}".`)
    }
    entries.set(path, hash)
    previous = path
  }
  for (const required of [MANIFEST_FILE, DESCRIPTOR_FILE]) {
    if (!entries.has(required)) throw malformed(`integrity.txt does not list ${required}.`)
  }
  return entries
}
