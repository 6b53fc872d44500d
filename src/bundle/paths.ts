/**
 * The name rules of pxp-format.md. A bundle must extract identically on Linux, macOS and Windows,
 * so names that are legal on one but dangerous or ambiguous on another are refused at build time
 * (and again by the verifier, which reads hostile archives).
 */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i
const DRIVE_LETTER = /^[a-zA-Z]:/

/** Why a path may not be a bundle entry name, or null when it is fine. */
export function unsafePathReason(path: string): string | null {
  if (path.length === 0) return 'the name is empty'
  if (path.includes('\0')) return 'the name contains a NUL byte'
  if (path.includes('\\')) return 'the name contains a backslash (use / separators)'
  if (path.startsWith('/')) return 'the name is absolute'
  if (DRIVE_LETTER.test(path)) return 'the name starts with a drive letter'
  if (path.normalize('NFC') !== path) return 'the name is not in Unicode NFC form'
  for (const segment of path.split('/')) {
    if (segment === '') return 'the name has an empty segment (// or a trailing /)'
    if (segment === '.' || segment === '..') return `the name has a "${segment}" segment`
    if (WINDOWS_RESERVED.test(segment)) return `"${segment}" is a reserved name on Windows`
    if (/[. ]$/.test(segment)) return `"${segment}" ends with a dot or space, which Windows strips`
    if (/[\x00-\x1f<>:"|?*]/.test(segment)) return `"${segment}" contains a character Windows forbids`
  }
  return null
}

/** Key under which two names collide on case-insensitive file systems. */
export function caseFoldKey(path: string): string {
  return path.normalize('NFC').toLowerCase()
}

/** Returns pairs of paths that are distinct but equal when case-folded. */
export function findCaseCollisions(paths: Iterable<string>): Array<[string, string]> {
  const seen = new Map<string, string>()
  const collisions: Array<[string, string]> = []
  for (const path of paths) {
    const key = caseFoldKey(path)
    const other = seen.get(key)
    if (other !== undefined && other !== path) collisions.push([other, path])
    else seen.set(key, path)
  }
  return collisions
}

/** Compares two names by their UTF-8 bytes, the order the archive and integrity.txt use. */
export function compareUtf8(a: string, b: string): number {
  // UTF-8 bytes order like code points. UTF-16 code units order the same way except where a
  // surrogate (half of a code point above U+FFFF) meets a unit in U+E000–U+FFFF; only that case
  // needs care, and no buffers are allocated (sorting thousands of paths calls this often).
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    const xSurrogate = x >= 0xd800 && x <= 0xdfff
    const ySurrogate = y >= 0xd800 && y <= 0xdfff
    if (xSurrogate !== ySurrogate) return xSurrogate ? 1 : -1
    return x - y
  }
  return a.length - b.length
}
