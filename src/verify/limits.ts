/**
 * Limits against hostile archives (pxp-format.md "Verification"). Every limit is checked while
 * streaming, before the bytes it guards are produced where possible, so a bomb is stopped early.
 */
export interface Limits {
  /** Sum of all entry sizes. */
  maxTotalBytes: number
  /** Number of tar entries (files and directories). */
  maxEntries: number
  /** Size of any single entry. */
  maxEntryBytes: number
  /** Length of an entry name in UTF-8 bytes. */
  maxPathBytes: number
  /** Unpacked bytes per compressed byte, checked once more than `ratioGraceBytes` are unpacked. */
  maxCompressionRatio: number
  /** Unpacked bytes before the ratio limit applies (small archives compress arbitrarily well). */
  ratioGraceBytes: number
  /** Size of the entries read into memory: integrity.txt, manifest.signature, manifest.json, plugin.yaml, pax headers. */
  maxMetadataBytes: number
}

const MiB = 1024 * 1024

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxTotalBytes: 2048 * MiB,
  maxEntries: 20_000,
  maxEntryBytes: 1024 * MiB,
  maxPathBytes: 1024,
  maxCompressionRatio: 200,
  ratioGraceBytes: 16 * MiB,
  maxMetadataBytes: 16 * MiB,
})

export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS }
  for (const [key, value] of Object.entries(overrides) as Array<[keyof Limits, number | undefined]>) {
    if (value !== undefined) limits[key] = value
  }
  return limits
}
