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
  const leading = new Map<string, ArchiveEntry<F>>()
  const rest: ArchiveEntry<F>[] = []
  const dirs = new Set<string>()
  for (const file of files) {
    if ((LEADING_ENTRIES as readonly string[]).includes(file.path)) {
      if (!leading.has(file.path)) leading.set(file.path, { type: 'file', path: file.path, file })
      continue
    }
    rest.push({ type: 'file', path: file.path, file })
    for (let slash = file.path.indexOf('/'); slash !== -1; slash = file.path.indexOf('/', slash + 1)) dirs.add(file.path.slice(0, slash + 1))
  }
  for (const dir of dirs) rest.push({ type: 'dir', path: dir })
  rest.sort(byUtf8Path(rest))
  return [...LEADING_ENTRIES.flatMap((name) => leading.get(name) ?? []), ...rest]
}

/**
 * The comparator for these entries: the engine's own string order where it equals UTF-8 order
 * (no surrogate and nothing from U+E000 up in any path, which covers real plugin trees), else
 * `compareUtf8`. Sorting thousands of deep paths is then several times faster.
 */
function byUtf8Path(entries: ReadonlyArray<{ path: string }>): (a: { path: string }, b: { path: string }) => number {
  if (entries.some((e) => /[\ud800-\uffff]/.test(e.path))) return (a, b) => compareUtf8(a.path, b.path)
  return (a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
}

/** `sha256sum` format: `<hex>  <path>\n`, sorted by path bytes. */
export function formatIntegrity(entries: ReadonlyArray<{ path: string; sha256: string }>): string {
  return [...entries]
    .sort(byUtf8Path(entries))
    .map((e) => `${e.sha256}  ${e.path}\n`)
    .join('')
}
