/**
 * emit-pxp: writes `<id>-<version>-<os>-<arch>.pxp` (gzip tar, pxp-format.md) and the sidecars
 * `integrity.txt` and `manifest.signature` into the staging directory. The core renames the
 * staging directory into place once every emit hook has finished.
 *
 * The archive is a series of independent gzip members (see segments.ts), compressed in parallel
 * and cached by content, so a rebuild after a small change recompresses only what changed and
 * still produces the bytes of a cold build.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { archiveOrder, definePlugin, fileSystemHint, INTEGRITY_FILE, SIGNATURE_FILE } from '../../src/plugin-api.js'
import { SegmentCache } from './segment-cache.js'
import { planSegments } from './segments.js'
import { writeArchive } from './write-archive.js'

export interface EmitPxpOptions {
  /** Reuse compressed segments from `<out>/.cache` (default true; PXP_NO_CACHE=1 turns it off). */
  cache?: boolean
}

export default definePlugin((options: EmitPxpOptions = {}) => ({
  name: 'emit-pxp',
  async emit(bundle) {
    await mkdir(this.stagingDir, { recursive: true })
    const fileName = `${bundle.baseName}.pxp`
    const expected = new Map(bundle.integrity.map((e) => [e.path, e.sha256]))
    const segments = planSegments(archiveOrder(bundle.files), this.config.sourceDateEpoch, expected)
    const useCache = (options.cache ?? true) && process.env.PXP_NO_CACHE !== '1'
    const cache = useCache ? new SegmentCache(this.cacheDir) : undefined
    const written = await writeArchive(join(this.stagingDir, fileName), segments, { expected, cache, signal: this.signal })
    cache?.prune(`${bundle.pluginId}-${bundle.target.os}-${bundle.target.arch}`, new Set(segments.map((s) => s.key)))
    if (cache?.writeError) {
      const { code } = cache.writeError
      this.logger.warn(`Could not write the segment cache ${cache.dir} (${code}): the bundle is complete, the next build compresses again. ${fileSystemHint(code) ?? ''}`.trim())
    }
    this.report({ segments: segments.length, reusedSegments: written.reused, compressedSegments: written.compressed })
    await this.emitFile({ fileName, kind: 'bundle', digest: { sha256: written.sha256, size: written.size } })
    await this.emitFile({ fileName: INTEGRITY_FILE, kind: 'integrity', content: bundle.integrityText })
    const signature = bundle.files.find((f) => f.path === SIGNATURE_FILE)
    if (signature?.content) await this.emitFile({ fileName: SIGNATURE_FILE, kind: 'signature', content: signature.content })
  },
}))
