/**
 * signer-kms: signs integrity.txt with an asymmetric AWS KMS key. The CMS signed attributes are
 * built locally; only their SHA-256 digest goes to KMS `Sign` (MessageType DIGEST), and the
 * SignedData is assembled here with the configured certificate chain (docs/signing-kms.md).
 *
 * Config: `signer: { type: 'kms', keyId, region, cert, chain?, endpoint?, timeoutMs?, retries?,
 * retryDelayMs? }`, or `--kms-key-id ID --kms-region R` with `cert` from the config. Credentials
 * come from the standard AWS chain (env, shared files, SSO, IMDS…), never from the config.
 *
 * Before signing: DescribeKey (KeyState Enabled, KeyUsage SIGN_VERIFY, a supported KeySpec) and
 * GetPublicKey (the certificate must carry exactly the KMS key's public key). Every call runs with
 * a per-attempt deadline, bounded retries with full-jitter backoff on throttling/5xx/timeouts, and
 * `this.signal` (Ctrl-C). Every KMS request id goes to dist.log; failures name the signer, the key,
 * the request id and what to check, as exit-code-1 PxpErrors so a fallback signer (or
 * `pxp build --resume`) can take over.
 */
import { createHash, verify as nodeVerify, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { DescribeKeyCommand, GetPublicKeyCommand, KMSClient, SignCommand, type KeyMetadata, type SigningAlgorithmSpec } from '@aws-sdk/client-kms'
import {
  AttemptTimeoutError,
  certificateInfo,
  certificatePublicKey,
  checkSigningCertificates,
  createDetachedSignedData,
  definePlugin,
  parsePemCertificates,
  PxpError,
  publicKeyFromSpki,
  readCertificateFile,
  RetriesExhaustedError,
  samePublicKey,
  signatureAlgorithmForKey,
  signerChain,
  withRetry,
  type PluginContext,
  type PxpPlugin,
  type RawSigner,
  type SignatureAlgorithm,
  type SignerEntry,
  type SignerIdentity,
  type SignResult,
} from '../../src/plugin-api.js'

export interface KmsSignerOptions {
  type: 'kms'
  /** Key id, key ARN, alias name (`alias/…`) or alias ARN. */
  keyId: string
  region: string
  /** PEM certificate issued for the KMS key's public key. */
  cert: string
  /** PEM intermediates (roots are dropped). */
  chain?: string
  /** Endpoint override (VPC endpoint, FIPS endpoint, a local emulator). */
  endpoint?: string
  /** Deadline of one KMS request, ms (default 10 000). */
  timeoutMs?: number
  /** Retries after the first attempt on throttling, 5xx and timeouts (default 3). */
  retries?: number
  /** First backoff ceiling in ms; doubles per retry, full jitter, capped at 8 s (default 200). */
  retryDelayMs?: number
}

/** KMS KeySpec → what pxp-format.md allows. */
const KEY_SPECS: Record<string, { algorithm: SignatureAlgorithm; kms: SigningAlgorithmSpec }> = {
  RSA_2048: { algorithm: 'RSASSA-PKCS1-v1_5-SHA256', kms: 'RSASSA_PKCS1_V1_5_SHA_256' },
  RSA_3072: { algorithm: 'RSASSA-PKCS1-v1_5-SHA256', kms: 'RSASSA_PKCS1_V1_5_SHA_256' },
  RSA_4096: { algorithm: 'RSASSA-PKCS1-v1_5-SHA256', kms: 'RSASSA_PKCS1_V1_5_SHA_256' },
  ECC_NIST_P256: { algorithm: 'ECDSA-P256-SHA256', kms: 'ECDSA_SHA_256' },
}

interface KmsState {
  entry: KmsSignerOptions
  client: KMSClient
  certificates: Uint8Array[]
  publicKey: KeyObject
  algorithm: SignatureAlgorithm
  kmsAlgorithm: SigningAlgorithmSpec
  keyArn?: string
  requestIds: string[]
  retries: number
}

type KmsOperation = 'DescribeKey' | 'GetPublicKey' | 'Sign'

function isKmsEntry(entry: SignerEntry | undefined): entry is SignerEntry & KmsSignerOptions {
  return entry?.type === 'kms'
}

function entriesOf(signer: unknown): SignerEntry[] {
  return (Array.isArray(signer) ? signer : signer ? [signer] : []) as SignerEntry[]
}

function requireConfig(ctx: PluginContext, entry: SignerEntry): KmsSignerOptions {
  const where = 'signer (type kms)'
  const missing = (key: string, hint: string) =>
    ctx.error({ code: 'SIGNER_CONFIG', message: `The KMS signer needs \`${key}\` (${where}).`, hint, exitCode: 2 })
  if (typeof entry.keyId !== 'string' || !entry.keyId) missing('keyId', 'Pass --kms-key-id (a key id, key ARN or alias/NAME) or set signer.keyId.')
  if (typeof entry.region !== 'string' || !entry.region) missing('region', 'Pass --kms-region or set signer.region.')
  if (typeof entry.cert !== 'string' || !entry.cert) {
    missing('cert', 'Set signer.cert in px-plugin.config.ts to the PEM certificate issued for the KMS key (--kms-key-id does not carry one).')
  }
  for (const key of ['timeoutMs', 'retries', 'retryDelayMs'] as const) {
    const value = entry[key]
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
      ctx.error({ code: 'SIGNER_CONFIG', message: `signer.${key} must be a non-negative number (got ${JSON.stringify(value)}).`, exitCode: 2 })
    }
  }
  return entry as unknown as KmsSignerOptions
}

/** The request id of an SDK response or error (`x-amzn-RequestId`). */
function requestIdOf(value: unknown): string | undefined {
  return (value as { $metadata?: { requestId?: string } } | undefined)?.$metadata?.requestId
}

function errorName(error: unknown): string {
  const e = error as { name?: string; code?: string; __type?: string } | undefined
  return e?.name ?? e?.code ?? 'Error'
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED'])

/** Maps a KMS (or transport) failure to a stable pxp code, with what to check. */
function kmsFailure(entry: KmsSignerOptions, operation: KmsOperation, thrown: unknown, attempts: number): PxpError {
  const error = thrown instanceof RetriesExhaustedError ? thrown.lastError : thrown
  const name = errorName(error)
  const requestId = requestIdOf(error)
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode
  const key = `key "${entry.keyId}" (region ${entry.region}${entry.endpoint ? `, endpoint ${entry.endpoint}` : ''})`
  const where = `KMS signer: ${operation} on ${key}`
  const rid = requestId ? `, request id ${requestId}` : ''
  const tries = attempts > 1 ? ` after ${attempts} attempts` : ''
  const detail = (error as Error)?.message ? `: ${(error as Error).message}` : ''
  const details = { signer: 'kms', keyId: entry.keyId, region: entry.region, operation, requestId, attempts, awsError: name }
  const make = (code: string, message: string, hint: string) => new PxpError(code, message, { hint, cause: error, details })
  const codeOf = (error as { code?: string })?.code

  if (error instanceof AttemptTimeoutError || name === 'TimeoutError' || name === 'RequestTimeout' || codeOf === 'ETIMEDOUT') {
    return make('SIGNER_TIMEOUT', `${where} timed out${tries} (no answer within ${entry.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms per attempt${rid}).`,
      'Check network access to KMS (proxy, VPC endpoint, signer.endpoint) or raise signer.timeoutMs; the hashed payload stays in <out>/.tmp for `pxp build --resume`.')
  }
  switch (name) {
    case 'ThrottlingException':
    case 'LimitExceededException':
    case 'TooManyRequestsException':
      return make('SIGNER_THROTTLED', `${where} was throttled by KMS${tries}${rid}.`,
        'KMS request quotas are shared per account and region: retry later, raise signer.retries, or ask for a quota increase.')
    case 'DisabledException':
      return make('KMS_KEY_DISABLED', `${where} failed: the key is disabled${rid}.`, `Enable it (aws kms enable-key --key-id ${entry.keyId}) or point signer.keyId at an enabled key.`)
    case 'KMSInvalidStateException':
      return make('KMS_KEY_DISABLED', `${where} failed: the key is not usable in its current state${rid}${detail}.`, 'Check the key state (pending deletion, pending import, unavailable) with aws kms describe-key.')
    case 'AccessDeniedException':
      return make('KMS_ACCESS_DENIED', `${where} was denied${rid}${detail}.`,
        `Grant the caller kms:DescribeKey, kms:GetPublicKey and kms:Sign on the key (IAM policy and key policy); check which identity the AWS credential chain picked (aws sts get-caller-identity).`)
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'IncompleteSignature':
    case 'ExpiredTokenException':
    case 'InvalidClientTokenId':
    case 'CredentialsProviderError':
      return make('KMS_ACCESS_DENIED', `${where} failed: the AWS credentials were not accepted or not found (${name})${rid}.`,
        'Check the AWS credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO login, instance role) and that the session has not expired.')
    case 'NotFoundException':
      return make('KMS_KEY_NOT_FOUND', `${where} failed: no such key${rid}.`, 'Check signer.keyId (or --kms-key-id) and signer.region: key ids, ARNs and aliases are regional.')
    case 'InvalidKeyUsageException':
      return make('KMS_KEY_USAGE', `${where} failed: the key may not sign${rid}${detail}.`, 'Use an asymmetric key created with KeyUsage SIGN_VERIFY.')
    case 'KMSInternalException':
    case 'DependencyTimeoutException':
    case 'KeyUnavailableException':
      return make('SIGNER_UNAVAILABLE', `${where} failed: KMS reported ${name}${tries}${rid}.`, 'KMS is having trouble; retry later (`pxp build --resume` signs the kept payload without collecting again).')
  }
  if (status !== undefined && status >= 500) {
    return make('SIGNER_UNAVAILABLE', `${where} failed with HTTP ${status}${tries}${rid}.`, 'KMS is unavailable; retry later (`pxp build --resume` signs the kept payload without collecting again).')
  }
  const code = (error as { code?: string })?.code ?? (error as { cause?: { code?: string } })?.cause?.code
  if ((code && NETWORK_CODES.has(code)) || /ECONNREFUSED|socket hang up|getaddrinfo/i.test(String((error as Error)?.message))) {
    return make('SIGNER_UNREACHABLE', `${where} failed: KMS is unreachable${tries} (${code ?? name}).`,
      'Check the network path to KMS (signer.endpoint, proxy, VPC endpoint, DNS); the hashed payload stays in <out>/.tmp for `pxp build --resume`.')
  }
  return make('SIGNER_FAILED', `${where} failed (${name}${status ? `, HTTP ${status}` : ''})${rid}${detail}.`, 'Check the key, its policy and the region; the request id above identifies the call in CloudTrail.')
}

const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_RETRIES = 3
const DEFAULT_RETRY_DELAY_MS = 200

/** Whether a KMS failure is worth another attempt: throttling, 5xx, timeouts, dropped connections. */
function retryable(error: unknown): boolean {
  if (error instanceof AttemptTimeoutError) return true
  const name = errorName(error)
  if (['ThrottlingException', 'LimitExceededException', 'TooManyRequestsException', 'KMSInternalException', 'DependencyTimeoutException', 'TimeoutError', 'RequestTimeout'].includes(name)) return true
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode
  if (status !== undefined) return status === 429 || status >= 500
  const code = (error as { code?: string })?.code ?? (error as { cause?: { code?: string } })?.cause?.code
  return !!code && (NETWORK_CODES.has(code) || code === 'ETIMEDOUT')
}

/** One KMS call with the plugin's deadline, retries, cancellation and request-id logging. */
async function callKms<T>(ctx: PluginContext, state: Pick<KmsState, 'client' | 'entry' | 'requestIds' | 'retries'>, operation: KmsOperation, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const { entry } = state
  let attempts = 0
  try {
    const { value } = await withRetry(
      async ({ number, signal }) => {
        attempts = number
        try {
          const result = await send(signal)
          const requestId = requestIdOf(result)
          if (requestId) state.requestIds.push(requestId)
          ctx.logger.debug(`KMS ${operation} key=${entry.keyId} requestId=${requestId ?? '-'} attempt=${number}`)
          return result
        } catch (error) {
          const requestId = requestIdOf(error)
          if (requestId) state.requestIds.push(requestId)
          ctx.logger.debug(`KMS ${operation} key=${entry.keyId} requestId=${requestId ?? '-'} attempt=${number} failed: ${errorName(error)}`)
          throw error
        }
      },
      {
        signal: ctx.signal,
        retries: entry.retries ?? DEFAULT_RETRIES,
        baseDelayMs: entry.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
        maxDelayMs: 8_000,
        attemptTimeoutMs: entry.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        isRetryable: retryable,
        onRetry: ({ attempt, error, delayMs }) => {
          state.retries++
          ctx.logger.warn(`KMS ${operation} on key ${entry.keyId}: attempt ${attempt} failed (${error instanceof AttemptTimeoutError ? 'timeout' : errorName(error)}${requestIdOf(error) ? `, request id ${requestIdOf(error)}` : ''}); retrying in ${delayMs} ms`)
        },
      },
    )
    return value
  } catch (error) {
    if (ctx.signal.aborted) {
      throw new PxpError('SIGNER_CANCELLED', `KMS signer: ${operation} on key "${entry.keyId}" was cancelled.`, { hint: 'The hashed payload stays in <out>/.tmp; `pxp build --resume` signs it later.', details: { signer: 'kms', keyId: entry.keyId } })
    }
    const failure = kmsFailure(entry, operation, error, attempts)
    ctx.report({ signer: 'kms', keyId: entry.keyId, retries: state.retries, requestIds: [...state.requestIds], failure: { code: failure.code, operation } })
    ctx.logger.debug(`KMS ${operation} key=${entry.keyId} failed: ${failure.code} requestIds=${state.requestIds.join(',') || '-'}`)
    throw failure
  }
}

async function readChain(ctx: PluginContext, entry: KmsSignerOptions): Promise<Uint8Array[]> {
  const certificates = await readCertificateFile(entry.cert)
  if (entry.chain) {
    let text: string
    try {
      text = await readFile(entry.chain, 'utf8')
    } catch {
      return ctx.error({ code: 'SIGNER_FILE', message: `Cannot read the certificate chain ${entry.chain}.`, hint: 'Check signer.chain.', exitCode: 2 })
    }
    certificates.push(...parsePemCertificates(text, entry.chain))
  }
  return signerChain(certificates)
}

export function createKmsClient(entry: KmsSignerOptions): KMSClient {
  const timeout = entry.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return new KMSClient({
    region: entry.region,
    ...(entry.endpoint && { endpoint: entry.endpoint }),
    // pxp retries itself, so every attempt is counted, logged and cancellable.
    maxAttempts: 1,
    requestHandler: { requestTimeout: timeout, connectionTimeout: timeout },
  })
}

/** Describe the key, fetch its public key and hold both against the certificate. */
async function resolveKms(ctx: PluginContext, entry: KmsSignerOptions): Promise<KmsState> {
  const certificates = await readChain(ctx, entry)
  const warning = checkSigningCertificates(certificates, { file: entry.cert, warnDays: ctx.config.offline.certExpiryWarnDays })
  if (warning) ctx.warn(warning)

  const state = { entry, client: createKmsClient(entry), requestIds: [] as string[], retries: 0 }
  const rid = () => (state.requestIds.length ? `, request id ${state.requestIds.at(-1)}` : '')
  const details = () => ({ signer: 'kms', keyId: entry.keyId, region: entry.region, requestId: state.requestIds.at(-1) })

  const described = await callKms(ctx, state, 'DescribeKey', (abortSignal) => state.client.send(new DescribeKeyCommand({ KeyId: entry.keyId }), { abortSignal }))
  const meta: KeyMetadata = described.KeyMetadata ?? ({} as KeyMetadata)
  if (meta.KeyState && meta.KeyState !== 'Enabled') {
    throw new PxpError(meta.KeyState === 'Disabled' ? 'KMS_KEY_DISABLED' : 'KMS_KEY_STATE', `KMS signer: key "${entry.keyId}" (region ${entry.region}) is ${meta.KeyState}${rid()}.`, {
      hint: meta.KeyState === 'Disabled' ? `Enable it (aws kms enable-key --key-id ${entry.keyId}) or point signer.keyId at an enabled key.` : 'Only an Enabled key can sign; check the key in the KMS console.',
      details: details(),
    })
  }
  if (meta.KeyUsage !== 'SIGN_VERIFY') {
    throw new PxpError('KMS_KEY_USAGE', `KMS signer: key "${entry.keyId}" has KeyUsage ${meta.KeyUsage ?? 'unknown'}, not SIGN_VERIFY${rid()}.`, {
      hint: 'Create an asymmetric key with KeyUsage SIGN_VERIFY and KeySpec RSA_2048/3072/4096 or ECC_NIST_P256.',
      details: details(),
    })
  }
  const spec = meta.KeySpec ?? meta.CustomerMasterKeySpec ?? 'unknown'
  const choice = KEY_SPECS[spec]
  if (!choice) {
    throw new PxpError('KMS_KEY_SPEC', `KMS signer: key "${entry.keyId}" is a ${spec} key; pxp signs with RSA_2048/3072/4096 (PKCS#1 v1.5) or ECC_NIST_P256 only${rid()}.`, {
      hint: 'Create a key with a supported KeySpec.',
      details: details(),
    })
  }
  if (meta.SigningAlgorithms && !meta.SigningAlgorithms.includes(choice.kms)) {
    throw new PxpError('KMS_KEY_USAGE', `KMS signer: key "${entry.keyId}" does not offer ${choice.kms} (it offers ${meta.SigningAlgorithms.join(', ')})${rid()}.`, { details: details() })
  }

  const published = await callKms(ctx, state, 'GetPublicKey', (abortSignal) => state.client.send(new GetPublicKeyCommand({ KeyId: entry.keyId }), { abortSignal }))
  const publicKey = published.PublicKey ? publicKeyFromSpki(published.PublicKey) : null
  if (!publicKey) {
    throw new PxpError('SIGNER_FAILED', `KMS signer: GetPublicKey for key "${entry.keyId}" returned no usable public key${rid()}.`, { details: details() })
  }
  if (published.KeyUsage && published.KeyUsage !== 'SIGN_VERIFY') {
    throw new PxpError('KMS_KEY_USAGE', `KMS signer: key "${entry.keyId}" has KeyUsage ${published.KeyUsage}, not SIGN_VERIFY${rid()}.`, { details: details() })
  }
  const leaf = certificateInfo(certificates[0]!)
  if (!samePublicKey(publicKey, certificatePublicKey(certificates[0]!))) {
    throw new PxpError('SIGNER_KEY_MISMATCH', `KMS signer: the certificate ${entry.cert} ("${leaf.subject}") does not carry the public key of KMS key "${entry.keyId}"${rid()}.`, {
      hint: `Issue the certificate for the KMS key's public key (aws kms get-public-key --key-id ${entry.keyId}), or point signer.cert at the certificate of this key.`,
      details: details(),
    })
  }
  // Belt and braces: the key itself must be one pxp-format.md allows, whatever KMS says its spec is.
  const algorithm = signatureAlgorithmForKey(publicKey, `KMS key ${entry.keyId}`)
  if (algorithm !== choice.algorithm) {
    throw new PxpError('KMS_KEY_SPEC', `KMS signer: key "${entry.keyId}" reports KeySpec ${spec} but its public key is for ${algorithm}${rid()}.`, { details: details() })
  }
  return { ...state, certificates, publicKey, algorithm, kmsAlgorithm: choice.kms, keyArn: meta.Arn }
}

/** A RawSigner whose private half lives in KMS: sha256 of the signed attributes → KMS Sign (DIGEST). */
export function kmsRawSigner(ctx: PluginContext, state: KmsState): RawSigner {
  return {
    algorithm: state.algorithm,
    async sign(toBeSigned) {
      const digest = createHash('sha256').update(toBeSigned).digest()
      const response = await callKms(ctx, state, 'Sign', (abortSignal) =>
        state.client.send(new SignCommand({ KeyId: state.entry.keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: state.kmsAlgorithm }), { abortSignal }),
      )
      const signature = response.Signature
      // KMS answers ECDSA with a DER ECDSA-Sig-Value, which is what CMS carries. Check before use.
      if (!signature || !nodeVerify('sha256', toBeSigned, state.publicKey, signature)) {
        throw new PxpError('SIGNER_BAD_SIGNATURE', `KMS signer: the signature KMS returned for key "${state.entry.keyId}" does not verify with the key's public key (request id ${requestIdOf(response) ?? '-'}).`, {
          hint: 'Check that signer.keyId names the key the certificate was issued for; report the request id to AWS support if it persists.',
          details: { signer: 'kms', keyId: state.entry.keyId, requestId: requestIdOf(response) },
        })
      }
      return new Uint8Array(signature)
    },
  }
}

export default definePlugin((): PxpPlugin => {
  const states = new WeakMap<SignerIdentity, KmsState>()
  return {
    name: 'signer-kms',
    apply: (config) => entriesOf(config.signer).some(isKmsEntry),
    async resolveSigner(entry) {
      if (!isKmsEntry(entry) || this.config.signing?.enabled === false) return null
      const options = requireConfig(this, entry)
      const state = await resolveKms(this, options)
      const chain = state.certificates.map(certificateInfo)
      const leaf = chain[0]!
      const facts = { signer: 'kms', keyId: options.keyId, keyArn: state.keyArn, region: options.region, algorithm: state.algorithm, fingerprint: leaf.fingerprint, not_after: leaf.not_after, subject: leaf.subject }
      this.audit('signer.resolved', { signer: 'kms', keyId: options.keyId, keyArn: state.keyArn, region: options.region, subject: leaf.subject, fingerprint: leaf.fingerprint, requestIds: state.requestIds })
      this.report({ ...facts, retries: state.retries, requestIds: [...state.requestIds] })
      const identity: SignerIdentity = { signer: 'kms', algorithm: state.algorithm, chain, details: { keyId: options.keyId, keyArn: state.keyArn, region: options.region, fingerprint: leaf.fingerprint, ...(options.endpoint && { endpoint: options.endpoint }) } }
      states.set(identity, state)
      return identity
    },
    async sign(integrityText, identity): Promise<SignResult | null> {
      const state = identity.signer === 'kms' ? states.get(identity) : undefined
      if (!state) return null
      const cms = await createDetachedSignedData({ content: integrityText, certificates: state.certificates, signingTime: new Date(), signer: kmsRawSigner(this, state) })
      this.audit('bundle.signed', { signer: 'kms', keyId: state.entry.keyId, fingerprint: identity.chain[0]?.fingerprint, requestIds: state.requestIds })
      this.report({ signer: 'kms', keyId: state.entry.keyId, keyArn: state.keyArn, region: state.entry.region, algorithm: state.algorithm, retries: state.retries, requestIds: [...state.requestIds] })
      return { cms, algorithm: state.algorithm, chain: identity.chain, details: { keyId: state.entry.keyId, requestIds: [...state.requestIds], retries: state.retries } }
    },
  }
})
