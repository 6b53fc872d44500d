/**
 * Fixed names and ordering of the `.pxp` format (pxp-format.md, format 1).
 */
import { compareUtf8 } from './paths.js'

export const FORMAT_VERSION = 1
export const INTEGRITY_FILE = 'integrity.txt'
export const SIGNATURE_FILE = 'manifest.signature'
export const MANIFEST_FILE = 'manifest.json'
export const DESCRIPTOR_FILE = 'plugin.yaml'
export const REPORT_FILE = 'report.json'

/** The root files that lead the archive, in this order. */
export const LEADING_ENTRIES = [INTEGRITY_FILE, SIGNATURE_FILE, MANIFEST_FILE, DESCRIPTOR_FILE] as const

/** Fixed tar mtime when SOURCE_DATE_EPOCH is not set: 2000-01-01T00:00:00Z. */
export const DEFAULT_MTIME = 946_684_800

export type ArchiveEntry<F> = { type: 'dir'; path: string } | { type: 'file'; path: string; file: F }

/**
 * Archive order: the leading root files, then every other entry sorted by UTF-8 bytes with each
 * directory entry (named with a trailing `/`) just before its contents. Sorting directory names
 * with their trailing slash gives exactly that, because everything inside `a/` shares the prefix.
 */
export function archiveOrder<F extends { path: string }>(files: readonly F[]): ArchiveEntry<F>[] {
  const leading: ArchiveEntry<F>[] = []
  const rest: ArchiveEntry<F>[] = []
  const dirs = new Set<string>()
  for (const file of files) {
    if ((LEADING_ENTRIES as readonly string[]).includes(file.path)) continue
    rest.push({ type: 'file', path: file.path, file })
    const segments = file.path.split('/')
    for (let i = 1; i < segments.length; i++) dirs.add(segments.slice(0, i).join('/') + '/')
  }
  for (const name of LEADING_ENTRIES) {
    const file = files.find((f) => f.path === name)
    if (file) leading.push({ type: 'file', path: file.path, file })
  }
  for (const dir of dirs) rest.push({ type: 'dir', path: dir })
  rest.sort((a, b) => compareUtf8(a.path, b.path))
  return [...leading, ...rest]
}

/** `sha256sum` format: `<hex>  <path>\n`, sorted by path bytes. */
export function formatIntegrity(entries: ReadonlyArray<{ path: string; sha256: string }>): string {
  return [...entries]
    .sort((a, b) => compareUtf8(a.path, b.path))
    .map((e) => `${e.sha256}  ${e.path}\n`)
    .join('')
}
