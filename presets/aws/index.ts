/**
 * `aws`: signing with an AWS KMS asymmetric key (the certificate issued for that key is a file in
 * the repository), bundles to S3. Region: the option, else `AWS_REGION`/`AWS_DEFAULT_REGION`.
 * Credentials never appear here: the AWS SDK chain (env, profile, instance role) or the
 * `PX_ARTIFACT_STORE_*` variables provide them. Override any key in the project's config.
 *
 *   presets: [['aws', { bucket: 'acme-plugins', keyId: 'alias/acme-signing' }]]
 */
import { definePreset, type Preset, type SignerEntry } from '../../src/plugin-api.js'

export interface AwsPresetOptions {
  /** S3 bucket. Default `powerx-plugins`. */
  bucket?: string
  /** Key prefix in the bucket. Default `plugins/`. */
  prefix?: string
  region?: string
  /** KMS key id, ARN or alias. Default `alias/powerx-plugin-signing`. */
  keyId?: string
  /** The certificate issued for the KMS key (PEM). Default `keys/kms-signing.pem`. */
  cert?: string
  chain?: string
  /** S3/KMS-compatible endpoints (tests, VPC endpoints, LocalStack). */
  s3Endpoint?: string
  kmsEndpoint?: string
}

export default function aws(options: AwsPresetOptions = {}): Preset {
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION
  return definePreset({
    name: 'aws',
    config: {
      signer: {
        type: 'kms',
        keyId: options.keyId ?? 'alias/powerx-plugin-signing',
        ...(region && { region }),
        cert: options.cert ?? 'keys/kms-signing.pem',
        ...(options.chain && { chain: options.chain }),
        ...(options.kmsEndpoint && { endpoint: options.kmsEndpoint }),
      } as SignerEntry,
      artifactStore: {
        type: 's3',
        bucket: options.bucket ?? 'powerx-plugins',
        prefix: options.prefix ?? 'plugins/',
        ...(region && { region }),
        ...(options.s3Endpoint && { endpoint: options.s3Endpoint, forcePathStyle: true }),
        partSizeMB: 8,
        concurrency: 4,
      },
    },
  })
}
