/**
 * signer-http: signs integrity.txt through an external signing service (an HSM front end, a
 * release-signing service). The protocol is small JSON over HTTPS, documented in
 * docs/signing-service.md:
 *
 *   GET  {url}/identity[?keyId=K] → { algorithm, certificates?, publicKey?, keyId? }
 *   POST {url}/sign  { mode: 'signature', digest, digestAlgorithm, algorithm, keyId? } → { signature }
 *   POST {url}/sign  { mode: 'cms', content, contentSha256, algorithm, keyId? }         → { cms }
 *
 * In `signature` mode pxp builds the CMS signed attributes, sends their SHA-256 and assembles the
 * SignedData with the chain (from the config's `cert`/`chain` or the identity's `certificates`).
 * In `cms` mode the service returns the whole detached CMS, which pxp verifies locally (detached,
 * over exactly these bytes, signed by the identity's certificate) before accepting it. Every
 * returned signature is checked against the certificate's public key before use.
 *
 * Config: `signer: { type: 'http', url, keyId?, mode?, tokenEnv?, cert?, chain?, clientCert?,
 * clientKey?, ca?, clientKeyPassphraseEnv?, timeoutMs?, retries?, retryDelayMs? }`; the URL also
 * comes from PX_SIGNING_ENDPOINT. Auth: a bearer token from the env var `tokenEnv` (default
 * PX_SIGNING_TOKEN), mTLS with client certificate and key, or both.
 */
import { createHash, randomUUID, verify as nodeVerify, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { dirname, isAbsolute, resolve } from 'node:path'
import {
  AttemptTimeoutError,
  certificateInfo,
  certificatePublicKey,
  checkDetachedSignature,
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
  toolVersion,
  withRetry,
  type PluginContext,
  type PxpPlugin,
  type RawSigner,
  type ResolvedConfig,
  type SignatureAlgorithm,
  type SignerEntry,
  type SignerIdentity,
  type SignResult,
} from '../../src/plugin-api.js'

export interface HttpSignerOptions {
  type: 'http'
  /** Base URL of the service; pxp calls `{url}/identity` and `{url}/sign`. */
  url: string
  /** Which key the service should use, when it holds several. */
  keyId?: string
  /** `signature` (default): the service signs a digest. `cms`: it returns the whole detached CMS. */
  mode?: 'signature' | 'cms'
  /** Env var holding the bearer token (default PX_SIGNING_TOKEN); no token → no Authorization header. */
  tokenEnv?: string
  /** PEM signer certificate; when absent the identity's `certificates` are used. */
  cert?: string
  chain?: string
  /** mTLS: PEM client certificate and key, and the CA that issued the service's certificate. */
  clientCert?: string
  clientKey?: string
  ca?: string
  clientKeyPassphraseEnv?: string
  timeoutMs?: number
  retries?: number
  retryDelayMs?: number
}

const DEFAULT_TOKEN_ENV = 'PX_SIGNING_TOKEN'
const DEFAULT_TIMEOUT_MS = 15_000
const DEFAULT_RETRIES = 3
const DEFAULT_RETRY_DELAY_MS = 200
const ALGORITHMS: SignatureAlgorithm[] = ['RSASSA-PKCS1-v1_5-SHA256', 'ECDSA-P256-SHA256']
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET'])

interface Transport {
  base: URL
  headers: Record<string, string>
  /** Token and passphrase, to scrub from anything the service says back. */
  secrets: string[]
  tls?: { cert?: Buffer; key?: Buffer; ca?: Buffer; passphrase?: string }
}

interface HttpState {
  entry: HttpSignerOptions
  transport: Transport
  certificates: Uint8Array[]
  publicKey: KeyObject
  algorithm: SignatureAlgorithm
  mode: 'signature' | 'cms'
  keyId?: string
  requestIds: string[]
  retries: number
}

/** A non-2xx answer from the service. */
class ServiceStatusError extends Error {
  constructor(readonly status: number, readonly requestId: string, readonly serviceMessage: string | undefined) {
    super(`HTTP ${status}`)
    this.name = 'ServiceStatusError'
  }
}

function isHttpEntry(entry: SignerEntry | undefined): entry is SignerEntry & HttpSignerOptions {
  return entry?.type === 'http'
}

function entriesOf(signer: unknown): SignerEntry[] {
  return (Array.isArray(signer) ? signer : signer ? [signer] : []) as SignerEntry[]
}

/** Config paths pxp's loader does not know about (mTLS files) resolve against the config file. */
function absolute(config: ResolvedConfig, file: string): string {
  return isAbsolute(file) ? file : resolve(config.configFile ? dirname(config.configFile) : config.root, file)
}

function requireConfig(ctx: PluginContext, entry: SignerEntry): HttpSignerOptions {
  const options = entry as unknown as HttpSignerOptions
  if (typeof options.url !== 'string' || !options.url) {
    ctx.error({ code: 'SIGNER_CONFIG', message: 'The http signer needs `url` (signer.url or PX_SIGNING_ENDPOINT).', hint: 'Set PX_SIGNING_ENDPOINT=https://signing.example.com/pxp or signer.url.', exitCode: 2 })
  }
  let url: URL
  try {
    url = new URL(options.url)
  } catch {
    return ctx.error({ code: 'SIGNER_CONFIG', message: `signer.url is not a URL: ${JSON.stringify(options.url)}.`, exitCode: 2 })
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') ctx.error({ code: 'SIGNER_CONFIG', message: `signer.url must be http(s), not ${url.protocol}.`, exitCode: 2 })
  if (url.username || url.password) ctx.error({ code: 'SIGNER_CONFIG', message: 'signer.url must not carry credentials; put the token in the env var named by signer.tokenEnv.', exitCode: 2 })
  if (options.mode !== undefined && options.mode !== 'signature' && options.mode !== 'cms') {
    ctx.error({ code: 'SIGNER_CONFIG', message: `signer.mode must be "signature" or "cms" (got ${JSON.stringify(options.mode)}).`, exitCode: 2 })
  }
  if ((options.clientCert === undefined) !== (options.clientKey === undefined)) {
    ctx.error({ code: 'SIGNER_CONFIG', message: 'signer.clientCert and signer.clientKey go together (mTLS).', exitCode: 2 })
  }
  for (const key of ['timeoutMs', 'retries', 'retryDelayMs'] as const) {
    const value = options[key]
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
      ctx.error({ code: 'SIGNER_CONFIG', message: `signer.${key} must be a non-negative number (got ${JSON.stringify(value)}).`, exitCode: 2 })
    }
  }
  return options
}

async function readConfigFile(ctx: PluginContext, file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(absolute(ctx.config, file))
  } catch {
    return ctx.error({ code: 'SIGNER_FILE', message: `Cannot read the ${what} ${absolute(ctx.config, file)}.`, hint: `Check signer.${what === 'mTLS client certificate' ? 'clientCert' : what === 'mTLS client key' ? 'clientKey' : what === 'CA certificate' ? 'ca' : 'chain'}.`, exitCode: 2 })
  }
}

async function transportFor(ctx: PluginContext, entry: HttpSignerOptions): Promise<Transport> {
  const base = new URL(entry.url.endsWith('/') ? entry.url : `${entry.url}/`)
  const headers: Record<string, string> = { 'user-agent': `pxp/${toolVersion}`, accept: 'application/json' }
  const tokenEnv = entry.tokenEnv ?? DEFAULT_TOKEN_ENV
  const token = process.env[tokenEnv]
  if (token) {
    ctx.redact(token)
    headers.authorization = `Bearer ${token}`
  } else if (entry.tokenEnv) {
    ctx.error({ code: 'SIGNER_CONFIG', message: `signer.tokenEnv names ${tokenEnv}, but that environment variable is empty.`, hint: `Export ${tokenEnv} with the signing service's token.`, exitCode: 2 })
  }
  const secrets = token ? [token] : []
  let tls: Transport['tls']
  if (entry.clientCert || entry.ca) {
    if (base.protocol !== 'https:') ctx.error({ code: 'SIGNER_CONFIG', message: 'mTLS settings (clientCert/clientKey/ca) need an https:// signer.url.', exitCode: 2 })
    const passphrase = entry.clientKeyPassphraseEnv ? process.env[entry.clientKeyPassphraseEnv] : undefined
    ctx.redact(passphrase)
    if (passphrase) secrets.push(passphrase)
    tls = {
      ...(entry.clientCert && { cert: await readConfigFile(ctx, entry.clientCert, 'mTLS client certificate') }),
      ...(entry.clientKey && { key: await readConfigFile(ctx, entry.clientKey, 'mTLS client key') }),
      ...(entry.ca && { ca: await readConfigFile(ctx, entry.ca, 'CA certificate') }),
      ...(passphrase && { passphrase }),
    }
  }
  return { base, headers, secrets, tls }
}

interface JsonResponse { status: number; requestId: string; body: Record<string, unknown> }

/** One HTTP exchange; JSON in, JSON out. Non-2xx → ServiceStatusError. */
function exchange(transport: Transport, method: 'GET' | 'POST', path: string, payload: unknown, signal: AbortSignal): Promise<JsonResponse> {
  const url = new URL(path, transport.base)
  const requestId = randomUUID()
  const body = payload === undefined ? undefined : Buffer.from(JSON.stringify(payload))
  const headers: Record<string, string> = { ...transport.headers, 'x-request-id': requestId, ...(body && { 'content-type': 'application/json', 'content-length': String(body.length) }) }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { method, headers, signal, ...(transport.tls ?? {}) }, (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const answeredId = String(res.headers['x-request-id'] ?? res.headers['x-amzn-requestid'] ?? requestId)
        let parsed: unknown
        try {
          parsed = text ? JSON.parse(text) : {}
        } catch {
          parsed = undefined
        }
        const status = res.statusCode ?? 0
        if (status < 200 || status >= 300) {
          const err = (parsed as { error?: { message?: unknown } | string; message?: unknown } | undefined)
          const message = typeof err?.error === 'object' ? err.error.message : typeof err?.error === 'string' ? err.error : err?.message
          return reject(new ServiceStatusError(status, answeredId, typeof message === 'string' ? message.slice(0, 300) : undefined))
        }
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
          return reject(new PxpError('SIGNER_BAD_RESPONSE', `The signing service answered ${method} ${url.pathname} with something that is not a JSON object (request id ${answeredId}).`, { details: { requestId: answeredId } }))
        }
        resolvePromise({ status, requestId: answeredId, body: parsed as Record<string, unknown> })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

function retryable(error: unknown): boolean {
  if (error instanceof AttemptTimeoutError) return true
  if (error instanceof ServiceStatusError) return error.status === 429 || error.status === 408 || error.status >= 500
  const code = (error as { code?: string })?.code
  return !!code && (NETWORK_CODES.has(code) || code === 'ETIMEDOUT')
}

/** Removes any known secret from text that came from the service. */
function scrub(text: string, secrets: readonly string[]): string {
  return secrets.reduce((t, secret) => (secret ? t.split(secret).join('***') : t), text)
}

function failure(state: { entry: HttpSignerOptions; secrets: readonly string[] }, operation: string, thrown: unknown, attempts: number): PxpError {
  const error = thrown instanceof RetriesExhaustedError ? thrown.lastError : thrown
  if (error instanceof PxpError) return error
  const { entry } = state
  const host = new URL(entry.url).host
  const key = entry.keyId ? ` key "${entry.keyId}"` : ''
  const where = `Signing service ${host}${key}: ${operation}`
  const tries = attempts > 1 ? ` after ${attempts} attempts` : ''
  const requestId = error instanceof ServiceStatusError ? error.requestId : undefined
  const rid = requestId ? ` (request id ${requestId})` : ''
  const details = { signer: 'http', host, keyId: entry.keyId, operation, requestId, attempts }
  const make = (code: string, message: string, hint: string) => new PxpError(code, message, { hint, cause: error, details })
  const resume = 'the hashed payload stays in <out>/.tmp for `pxp build --resume`.'
  if (error instanceof AttemptTimeoutError) {
    return make('SIGNER_TIMEOUT', `${where} timed out${tries} (no answer within ${entry.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms per attempt).`, `Check that the service is up and reachable, or raise signer.timeoutMs; ${resume}`)
  }
  if (error instanceof ServiceStatusError) {
    // The service's own words help with 4xx/5xx, but never on an auth failure (it may echo credentials).
    const said = error.serviceMessage ? `: ${scrub(error.serviceMessage, state.secrets)}` : ''
    if (error.status === 401 || error.status === 403) {
      return make('SIGNER_AUTH', `${where} was refused with HTTP ${error.status}${rid}.`,
        `Check the bearer token in ${entry.tokenEnv ?? DEFAULT_TOKEN_ENV} (and that it may use this key) or the mTLS client certificate (signer.clientCert).`)
    }
    if (error.status === 408) return make('SIGNER_TIMEOUT', `${where} timed out on the service side (HTTP 408)${tries}${rid}.`, `Check the service's health, or raise signer.retries; ${resume}`)
    if (error.status === 429) return make('SIGNER_THROTTLED', `${where} was throttled (HTTP 429)${tries}${rid}.`, 'Retry later, or raise signer.retries.')
    if (error.status >= 500) return make('SIGNER_UNAVAILABLE', `${where} failed with HTTP ${error.status}${tries}${rid}${said}.`, `The service is failing; retry later — ${resume}`)
    if (error.status === 404) return make('SIGNER_REJECTED', `${where} answered HTTP 404${rid}${said}.`, 'Check signer.url (pxp calls {url}/identity and {url}/sign) and signer.keyId.')
    return make('SIGNER_REJECTED', `${where} was rejected with HTTP ${error.status}${rid}${said}.`, 'Check signer.keyId, signer.mode and the service logs for this request id.')
  }
  const code = (error as { code?: string })?.code
  if (code && (NETWORK_CODES.has(code) || code === 'ETIMEDOUT')) {
    return make('SIGNER_UNREACHABLE', `${where} failed: the service is unreachable${tries} (${code}).`, `Check signer.url / PX_SIGNING_ENDPOINT, DNS, proxy and firewall; ${resume}`)
  }
  if (code && /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO/i.test(code)) {
    return make('SIGNER_TLS', `${where} failed: TLS handshake error (${code}).`, 'Check signer.ca (the CA of the service certificate) and the mTLS client certificate/key.')
  }
  return make('SIGNER_FAILED', `${where} failed: ${(error as Error)?.message ?? String(error)}.`, 'Check the service logs.')
}

async function call(ctx: PluginContext, state: Pick<HttpState, 'entry' | 'transport' | 'requestIds' | 'retries'>, operation: string, method: 'GET' | 'POST', path: string, payload?: unknown): Promise<JsonResponse> {
  const { entry } = state
  let attempts = 0
  try {
    const { value } = await withRetry(
      async ({ number, signal }) => {
        attempts = number
        try {
          const response = await exchange(state.transport, method, path, payload, signal)
          state.requestIds.push(response.requestId)
          ctx.logger.debug(`signing service ${operation} requestId=${response.requestId} attempt=${number} status=${response.status}`)
          return response
        } catch (error) {
          if (error instanceof ServiceStatusError) state.requestIds.push(error.requestId)
          ctx.logger.debug(`signing service ${operation} attempt=${number} failed: ${error instanceof ServiceStatusError ? `HTTP ${error.status} requestId=${error.requestId}` : (error as { code?: string }).code ?? (error as Error).name}`)
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
          const why = error instanceof AttemptTimeoutError ? 'timeout' : error instanceof ServiceStatusError ? `HTTP ${error.status}` : (error as { code?: string }).code ?? 'error'
          ctx.logger.warn(`signing service ${operation}: attempt ${attempt} failed (${why}); retrying in ${delayMs} ms`)
        },
      },
    )
    return value
  } catch (error) {
    if (ctx.signal.aborted) {
      throw new PxpError('SIGNER_CANCELLED', `Signing service: ${operation} was cancelled.`, { hint: 'The hashed payload stays in <out>/.tmp; `pxp build --resume` signs it later.', details: { signer: 'http' } })
    }
    const pxpError = failure({ entry, secrets: state.transport.secrets }, operation, error, attempts)
    ctx.report({ signer: 'http', retries: state.retries, requestIds: [...state.requestIds], failure: { code: pxpError.code, operation } })
    ctx.logger.debug(`signing service ${operation} failed: ${pxpError.code} requestIds=${state.requestIds.join(',') || '-'}`)
    throw pxpError
  }
}

function base64Field(body: Record<string, unknown>, field: string, operation: string, requestId: string): Uint8Array {
  const value = body[field]
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
    throw new PxpError('SIGNER_BAD_RESPONSE', `The signing service's ${operation} answer has no base64 \`${field}\` (request id ${requestId}).`, { hint: 'See docs/signing-service.md for the response shape.', details: { requestId } })
  }
  return new Uint8Array(Buffer.from(value, 'base64'))
}

async function resolveHttp(ctx: PluginContext, entry: HttpSignerOptions): Promise<HttpState> {
  const transport = await transportFor(ctx, entry)
  const state = { entry, transport, requestIds: [] as string[], retries: 0 }
  const identityPath = entry.keyId ? `identity?keyId=${encodeURIComponent(entry.keyId)}` : 'identity'
  const { body, requestId } = await call(ctx, state, 'identity', 'GET', identityPath)
  const host = transport.base.host

  const served = Array.isArray(body.certificates) ? body.certificates.map((_, i) => base64Field(body.certificates as Record<string, unknown>, String(i), 'identity', requestId)) : []
  let certificates: Uint8Array[]
  let certFile: string | undefined
  if (entry.cert) {
    certFile = absolute(ctx.config, entry.cert)
    certificates = await readCertificateFile(certFile)
    if (entry.chain) certificates.push(...parsePemCertificates((await readConfigFile(ctx, entry.chain, 'chain')).toString('utf8'), entry.chain))
  } else if (served.length > 0) {
    certificates = served
  } else {
    return ctx.error({ code: 'SIGNER_CONFIG', message: `The signing service ${host} sent no certificates and signer.cert is not set.`, hint: 'Set signer.cert (and signer.chain) to the PEM chain of the service key, or have /identity return `certificates`.', exitCode: 2 })
  }
  certificates = signerChain(certificates)
  const warning = checkSigningCertificates(certificates, { file: certFile, warnDays: ctx.config.offline.certExpiryWarnDays })
  if (warning) ctx.warn(warning)

  const publicKey = certificatePublicKey(certificates[0]!)
  const subject = certificateInfo(certificates[0]!).subject
  const servicesKey = typeof body.publicKey === 'string' ? publicKeyFromSpki(base64Field(body, 'publicKey', 'identity', requestId)) : served[0] ? certificatePublicKey(served[0]) : null
  if (servicesKey && !samePublicKey(servicesKey, publicKey)) {
    throw new PxpError('SIGNER_KEY_MISMATCH', `Signing service ${host}${entry.keyId ? ` key "${entry.keyId}"` : ''}: the certificate "${subject}"${certFile ? ` (${certFile})` : ''} does not carry the service key's public key (request id ${requestId}).`, {
      hint: 'Point signer.cert at the certificate issued for the service key, or set signer.keyId to the key the certificate belongs to.',
      details: { signer: 'http', host, keyId: entry.keyId, requestId },
    })
  }
  const algorithm = signatureAlgorithmForKey(publicKey, `the certificate "${subject}"`)
  if (body.algorithm !== undefined && body.algorithm !== algorithm) {
    throw new PxpError('SIGNER_BAD_RESPONSE', `Signing service ${host}: /identity says algorithm ${JSON.stringify(body.algorithm)}, but the certificate's key needs ${algorithm} (request id ${requestId}).`, {
      hint: `pxp accepts ${ALGORITHMS.join(' or ')}.`,
      details: { signer: 'http', host, requestId },
    })
  }
  const keyId = entry.keyId ?? (typeof body.keyId === 'string' ? body.keyId : undefined)
  return { ...state, certificates, publicKey, algorithm, mode: entry.mode ?? 'signature', keyId }
}

function serviceRawSigner(ctx: PluginContext, state: HttpState): RawSigner {
  return {
    algorithm: state.algorithm,
    async sign(toBeSigned) {
      const digest = createHash('sha256').update(toBeSigned).digest('base64')
      const { body, requestId } = await call(ctx, state, 'sign', 'POST', 'sign', { mode: 'signature', digest, digestAlgorithm: 'SHA-256', algorithm: state.algorithm, ...(state.keyId && { keyId: state.keyId }) })
      const signature = base64Field(body, 'signature', 'sign', requestId)
      if (!nodeVerify('sha256', toBeSigned, state.publicKey, signature)) {
        throw new PxpError('SIGNER_BAD_SIGNATURE', `Signing service ${state.transport.base.host}: the returned signature does not verify with the certificate's public key (request id ${requestId}).`, {
          hint: 'The service signed with another key than the certificate\'s: check signer.keyId and signer.cert.',
          details: { signer: 'http', requestId },
        })
      }
      return signature
    },
  }
}

/** CMS mode: the service signs; pxp accepts only a detached SignedData over these bytes by the identity's key. */
async function serviceCms(ctx: PluginContext, state: HttpState, content: Uint8Array): Promise<Uint8Array> {
  const contentSha256 = createHash('sha256').update(content).digest('hex')
  const { body, requestId } = await call(ctx, state, 'sign', 'POST', 'sign', { mode: 'cms', content: Buffer.from(content).toString('base64'), contentSha256, algorithm: state.algorithm, ...(state.keyId && { keyId: state.keyId }) })
  const cms = base64Field(body, 'cms', 'sign', requestId)
  const host = state.transport.base.host
  try {
    checkDetachedSignature({ cms, content, signer: state.certificates[0]! })
  } catch (error) {
    const reason = error instanceof PxpError ? error.message : String(error)
    throw new PxpError('SIGNER_BAD_SIGNATURE', `Signing service ${host}: the CMS it returned is not acceptable: ${reason} (request id ${requestId}).`, {
      hint: 'The service must return a DER CMS SignedData, detached, over the exact `content` bytes, signed with SHA-256 by the identity certificate\'s key.',
      details: { signer: 'http', requestId },
      cause: error,
    })
  }
  return cms
}

export default definePlugin((): PxpPlugin => {
  const states = new WeakMap<SignerIdentity, HttpState>()
  return {
    name: 'signer-http',
    apply: (config) => entriesOf(config.signer).some(isHttpEntry),
    async resolveSigner(entry) {
      if (!isHttpEntry(entry) || this.config.signing?.enabled === false) return null
      const options = requireConfig(this, entry)
      const state = await resolveHttp(this, options)
      const chain = state.certificates.map(certificateInfo)
      const leaf = chain[0]!
      const host = state.transport.base.host
      const auth = [state.transport.headers.authorization && 'bearer', state.transport.tls?.cert && 'mtls'].filter(Boolean).join('+') || 'none'
      this.audit('signer.resolved', { signer: 'http', host, keyId: state.keyId, mode: state.mode, auth, subject: leaf.subject, fingerprint: leaf.fingerprint })
      this.report({ signer: 'http', host, keyId: state.keyId, mode: state.mode, auth, algorithm: state.algorithm, fingerprint: leaf.fingerprint, not_after: leaf.not_after, subject: leaf.subject, retries: state.retries, requestIds: [...state.requestIds] })
      const identity: SignerIdentity = { signer: 'http', algorithm: state.algorithm, chain, details: { host, keyId: state.keyId, mode: state.mode, fingerprint: leaf.fingerprint } }
      states.set(identity, state)
      return identity
    },
    async sign(integrityText, identity): Promise<SignResult | null> {
      const state = identity.signer === 'http' ? states.get(identity) : undefined
      if (!state) return null
      const cms = state.mode === 'cms'
        ? await serviceCms(this, state, integrityText)
        : await createDetachedSignedData({ content: integrityText, certificates: state.certificates, signingTime: new Date(), signer: serviceRawSigner(this, state) })
      this.audit('bundle.signed', { signer: 'http', host: state.transport.base.host, keyId: state.keyId, mode: state.mode, fingerprint: identity.chain[0]?.fingerprint, requestIds: state.requestIds })
      this.report({ retries: state.retries, requestIds: [...state.requestIds] })
      return { cms, algorithm: state.algorithm, chain: identity.chain, details: { host: state.transport.base.host, mode: state.mode, requestIds: [...state.requestIds] } }
    },
  }
})
