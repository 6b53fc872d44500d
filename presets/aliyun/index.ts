/**
 * `aliyun`: bundles to Alibaba Cloud OSS (through its S3-compatible API; the endpoint defaults to
 * `https://oss-<region>.aliyuncs.com`). Signing is left to the project (a PEM key, or the signing
 * service through `PX_SIGNING_ENDPOINT`). Override any key in the project's config.
 *
 *   presets: [['aliyun', { bucket: 'acme-plugins', region: 'cn-shanghai' }]]
 */
import { definePreset, type Preset } from '../../src/plugin-api.js'

export interface AliyunPresetOptions {
  /** OSS bucket. Default `powerx-plugins`. */
  bucket?: string
  /** OSS region id without the `oss-` prefix. Default `cn-hangzhou`. */
  region?: string
  /** Key prefix in the bucket. Default `plugins/`. */
  prefix?: string
  /** Custom endpoint (internal VPC endpoint, tests). */
  endpoint?: string
}

export default function aliyun(options: AliyunPresetOptions = {}): Preset {
  return definePreset({
    name: 'aliyun',
    config: {
      artifactStore: {
        type: 'oss',
        bucket: options.bucket ?? 'powerx-plugins',
        region: options.region ?? 'cn-hangzhou',
        prefix: options.prefix ?? 'plugins/',
        ...(options.endpoint && { endpoint: options.endpoint }),
        partSizeMB: 8,
        concurrency: 4,
      },
    },
  })
}
