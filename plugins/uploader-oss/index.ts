/**
 * uploader-oss: Alibaba Cloud OSS through its S3-compatible API, with the same engine as
 * uploader-s3 (resume needs UploadId/part control the S3 API gives us; the OSS SDK would add a
 * dependency for no gain). OSS defaults: endpoint https://oss-<region>.aliyuncs.com,
 * virtual-hosted addressing, Content-MD5 per part instead of x-amz-checksum-sha256 (not part of
 * OSS's S3 compatibility) — the sha256 still travels as object metadata.
 */
import { definePlugin, storeEntriesOfType, uploadToS3Store, type ResolvedConfig, type S3StoreConfig, type UploadReceipt } from '../../src/plugin-api.js'

export default definePlugin(() => ({
  name: 'uploader-oss',
  apply: (config: ResolvedConfig) => storeEntriesOfType(config, 'oss').length > 0,
  async upload(artifacts) {
    const receipts: UploadReceipt[] = []
    for (const entry of storeEntriesOfType<S3StoreConfig>(this.config, 'oss')) receipts.push(...(await uploadToS3Store(this, entry, artifacts)))
    return receipts
  },
}))
