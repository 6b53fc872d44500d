/**
 * uploader-s3: the bundle and its sidecars to every `artifactStore` entry of type `s3` (AWS S3 or
 * any S3-compatible store). The engine — multipart, per-part checksums, retries, resume,
 * idempotence — is the shared one in the plugin API; this plugin only selects its entries.
 */
import { definePlugin, storeEntriesOfType, uploadToS3Store, type ResolvedConfig, type S3StoreConfig, type UploadReceipt } from '../../src/plugin-api.js'

export default definePlugin(() => ({
  name: 'uploader-s3',
  apply: (config: ResolvedConfig) => storeEntriesOfType(config, 's3').length > 0,
  async upload(artifacts) {
    const receipts: UploadReceipt[] = []
    for (const entry of storeEntriesOfType<S3StoreConfig>(this.config, 's3')) receipts.push(...(await uploadToS3Store(this, entry, artifacts)))
    return receipts
  },
}))
