/**
 * emit-pxp: writes `<id>-<version>-<os>-<arch>.pxp` (gzip tar, pxp-format.md) and the sidecars
 * `integrity.txt` and `manifest.signature` into the staging directory. The core renames the
 * staging directory into place once every emit hook has finished.
 */
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { archiveOrder, definePlugin, INTEGRITY_FILE, SIGNATURE_FILE } from '../../src/plugin-api.js'
import { createPxpGzip } from './gzip.js'
import { tarStream } from './tar-stream.js'

export default definePlugin(() => ({
  name: 'emit-pxp',
  async emit(bundle) {
    await mkdir(this.stagingDir, { recursive: true })
    const fileName = `${bundle.baseName}.pxp`
    const expected = new Map(bundle.integrity.map((e) => [e.path, e.sha256]))
    const hash = createHash('sha256')
    let size = 0
    const measure = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk)
        size += chunk.length
        done(null, chunk)
      },
    })
    const [gzip, patch] = createPxpGzip()
    await pipeline(
      tarStream(archiveOrder(bundle.files), { mtime: this.config.sourceDateEpoch, expected }),
      gzip,
      patch,
      measure,
      createWriteStream(join(this.stagingDir, fileName), { mode: 0o644 }),
      { signal: this.signal },
    )
    await this.emitFile({ fileName, kind: 'bundle', digest: { sha256: hash.digest('hex'), size } })
    await this.emitFile({ fileName: INTEGRITY_FILE, kind: 'integrity', content: bundle.integrityText })
    const signature = bundle.files.find((f) => f.path === SIGNATURE_FILE)
    if (signature?.content) await this.emitFile({ fileName: SIGNATURE_FILE, kind: 'signature', content: signature.content })
  },
}))
