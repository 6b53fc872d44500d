/**
 * The checks of `pxp doctor`: each inspects one configured part (signer, store, sandbox…) with a
 * short timeout and says what to do when it is not right. Checks are read-only: nothing is
 * uploaded, signed or posted (a webhook is only connected to, never sent a message).
 */
import { constants } from 'node:fs'
import { access, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { homedir } from 'node:os'
import { dirname, extname, join } from 'node:path'
import { certificateInfo, readCertificateFile } from '../crypto/certs.js'
import { keyMatchesCertificate, loadPkcs12, loadPrivateKeyPem } from '../crypto/keys.js'
import { parseDescriptor } from '../descriptor/index.js'
import { toPxpError } from '../errors.js'
import { registerSecret } from '../redact.js'
import { createS3Client, loadS3Sdk } from '../transfer/s3/client.js'
import { resolveS3Settings } from '../transfer/s3/settings.js'
import type { ResolvedConfig, S3StoreConfig, SignerEntry, StoreEntry } from '../config/types.js'
import { failureReason, httpProbe, safeUrl, tcpProbe } from './probe.js'

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

export interface CheckResult {
  name: string
  status: CheckStatus
  detail: string
  /** What to do; set for `warn` and `fail`. */
  fix?: string
}

export interface CheckOptions {
  timeoutMs: number
  env: NodeJS.ProcessEnv
  now: Date
}

const DAY_MS = 86_400_000
const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail })
const warn = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'warn', detail, fix })
const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'fail', detail, fix })
const skip = (name: string, detail: string): CheckResult => ({ name, status: 'skip', detail })

const listOf = <T>(value: T | T[] | undefined): T[] => (Array.isArray(value) ? value : value ? [value] : [])

/** Every check the config calls for, in display order. */
export async function runChecks(config: ResolvedConfig, options: CheckOptions): Promise<CheckResult[]> {
  const signers = listOf(config.signer)
  const stores = listOf(config.artifactStore)
  const named = <T>(section: string, entries: T[], i: number, type: string) => (entries.length > 1 ? `${section}[${i}] ${type}` : `${section} ${type}`)
  const groups: Array<Promise<CheckResult[]>> = [
    checkDescriptor(config).then((r) => [r]),
    checkOutput(config).then((r) => [r]),
    signers.length === 0
      ? Promise.resolve([
          config.signing.enabled
            ? warn('signer', 'no signer configured: bundles are unsigned and `pxp verify` refuses them', 'Set `signer` in px-plugin.config.ts or pass --sign CERT --key KEY (`pxp keys dev` makes development keys).')
            : warn('signer', `signing disabled (PX_CLI_SIGNING=0)${config.signing.approval ? `, approval ${config.signing.approval}` : ''}`, 'Unset PX_CLI_SIGNING for signed bundles; unsigned builds need --approval.'),
        ])
      : Promise.all(signers.map((s, i) => checkSigner(named('signer', signers, i, s.type), s, config, options))).then((r) => r.flat()),
    stores.length === 0
      ? Promise.resolve([skip('store', 'no artifact store configured: bundles stay in the output directory')])
      : Promise.all(stores.map((s, i) => checkStore(named('store', stores, i, s.type), s, config, options))).then((r) => r.flat()),
    config.sandbox ? checkSandbox(config, options).then((r) => r) : Promise.resolve([skip('sandbox', 'no sandbox configured (pxp install needs --sandbox)')]),
    config.telemetry ? checkTelemetry(config, options).then((r) => [r]) : Promise.resolve([skip('telemetry', 'not configured')]),
    config.alerts ? checkAlerts(config, options).then((r) => [r]) : Promise.resolve([skip('alerts', 'not configured')]),
  ]
  return (await Promise.all(groups)).flat()
}

async function checkDescriptor(config: ResolvedConfig): Promise<CheckResult> {
  const file = join(config.root, 'plugin.yaml')
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return fail('plugin.yaml', `no plugin.yaml at the plugin root ${config.root}`, 'Run pxp in the plugin repository, or set `root` / --cwd to the directory that holds plugin.yaml.')
  }
  try {
    const descriptor = parseDescriptor(text, file) as { id?: unknown; version?: unknown }
    if (typeof descriptor.id !== 'string' || typeof descriptor.version !== 'string') {
      return fail('plugin.yaml', `${file} has no id or version`, 'Add `id` and `version` to plugin.yaml (see docs/guides).')
    }
    return ok('plugin.yaml', `${descriptor.id}@${descriptor.version}`)
  } catch (error) {
    const e = toPxpError(error)
    return fail('plugin.yaml', e.message, e.hint ?? 'Fix plugin.yaml.')
  }
}

/** The nearest existing ancestor must be a writable directory (pxp creates the rest). */
async function writableDir(dir: string): Promise<{ ok: true; existing: string } | { ok: false; reason: string; existing: string }> {
  let current = dir
  for (;;) {
    let isDir: boolean
    try {
      isDir = (await stat(current)).isDirectory()
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      const parent = dirname(current)
      if ((code === 'ENOENT' || code === 'ENOTDIR') && parent !== current) {
        current = parent
        continue
      }
      return { ok: false, reason: `cannot inspect ${current} (${code})`, existing: current }
    }
    if (!isDir) return { ok: false, reason: `${current} is not a directory`, existing: current }
    // access() says yes to root everywhere; creating a file is the real test (read-only mounts, /proc, quotas).
    const probe = join(current, `.pxp-doctor-${process.pid}-${randomBytes(4).toString('hex')}`)
    try {
      await access(current, constants.W_OK | constants.X_OK)
      await writeFile(probe, '', { flag: 'wx' })
    } catch (error) {
      return { ok: false, reason: `${current} is not writable (${(error as NodeJS.ErrnoException).code ?? 'error'})`, existing: current }
    }
    await rm(probe, { force: true })
    return { ok: true, existing: current }
  }
}

async function checkOutput(config: ResolvedConfig): Promise<CheckResult> {
  const result = await writableDir(config.out)
  if (!result.ok) return fail('output', result.reason, `Make ${result.existing} writable, or choose another directory with \`out\` / --out.`)
  return ok('output', result.existing === config.out ? `${config.out} is writable` : `${config.out} will be created (${result.existing} is writable)`)
}

/** Validity and expiry of a certificate file: the leaf and every certificate after it. */
async function certificateCheck(name: string, file: string, warnDays: number, now: Date, fixPrefix: string): Promise<CheckResult> {
  let ders: Uint8Array[]
  try {
    ders = await readCertificateFile(file)
  } catch (error) {
    const e = toPxpError(error)
    return fail(name, e.message, e.hint ?? `Check ${fixPrefix}.cert.`)
  }
  const infos = ders.map((der) => certificateInfo(der))
  const leaf = infos[0]!
  const earliest = infos.reduce((a, b) => (Date.parse(b.not_after) < Date.parse(a.not_after) ? b : a))
  const days = Math.floor((Date.parse(earliest.not_after) - now.getTime()) / DAY_MS)
  const who = earliest === leaf ? `"${leaf.subject}"` : `"${earliest.subject}" (in the chain of "${leaf.subject}")`
  if (Date.parse(leaf.not_before!) > now.getTime()) {
    return fail(name, `certificate "${leaf.subject}" is not valid before ${leaf.not_before}`, 'Check the system clock or use a certificate that is already valid.')
  }
  if (days < 0) return fail(name, `certificate ${who} expired on ${earliest.not_after}`, 'Renew the signing certificate (development: `pxp keys dev --force`).')
  if (days <= warnDays) {
    return warn(name, `certificate ${who} expires on ${earliest.not_after} (in ${days} days, warning window ${warnDays} days)`, 'Renew the certificate before it expires (development: `pxp keys dev --force`).')
  }
  return ok(name, `certificate "${leaf.subject}" valid until ${leaf.not_after} (${days} days)`)
}

async function checkSigner(name: string, entry: SignerEntry, config: ResolvedConfig, options: CheckOptions): Promise<CheckResult[]> {
  const e = entry as Record<string, unknown>
  const warnDays = config.offline.certExpiryWarnDays
  switch (entry.type) {
    case 'pem': {
      const results: CheckResult[] = []
      const keyFile = (typeof e.p12 === 'string' ? e.p12 : e.key) as string | undefined
      const isP12 = typeof e.p12 === 'string' || (typeof keyFile === 'string' && ['.p12', '.pfx'].includes(extname(keyFile).toLowerCase()))
      if (typeof e.cert === 'string') results.push(await certificateCheck(`${name} certificate`, e.cert, warnDays, options.now, 'signer'))
      else if (!isP12) results.push(fail(`${name} certificate`, 'signer.cert is not set', 'Set signer.cert to the PEM signing certificate (or pass --sign).'))
      if (typeof keyFile !== 'string') {
        results.push(fail(`${name} key`, 'signer.key is not set', 'Set signer.key (PEM) or signer.p12, or pass --key.'))
        return results
      }
      results.push(await keyCheck(`${name} key`, keyFile, isP12, typeof e.cert === 'string' ? e.cert : undefined, typeof e.passphraseEnv === 'string' ? e.passphraseEnv : 'PX_SIGNING_KEY_PASSPHRASE', options, warnDays))
      return results
    }
    case 'kms': {
      const results: CheckResult[] = []
      const region = typeof e.region === 'string' ? e.region : undefined
      if (typeof e.keyId !== 'string' || !region) {
        return [fail(name, 'signer.keyId and signer.region are required', 'Set them in px-plugin.config.ts or pass --kms-key-id / --kms-region.')]
      }
      const endpoint = typeof e.endpoint === 'string' ? e.endpoint : `https://kms.${region}.amazonaws.com`
      const probe = await httpProbe(endpoint, options.timeoutMs)
      results.push(probe.ok
        ? ok(`${name} endpoint`, `${safeUrl(endpoint, false)} reachable (HTTP ${probe.status})`)
        : fail(`${name} endpoint`, `${safeUrl(endpoint, false)} unreachable (${probe.reason})`, 'Check network access to KMS (proxy, VPC endpoint) or signer.endpoint.'))
      results.push(awsCredentialsCheck(`${name} credentials`, options.env, false))
      if (typeof e.cert === 'string') results.push(await certificateCheck(`${name} certificate`, e.cert, warnDays, options.now, 'signer'))
      else results.push(fail(`${name} certificate`, 'signer.cert is not set', 'Set signer.cert to the certificate issued for the KMS key.'))
      return results
    }
    case 'http': {
      const results: CheckResult[] = []
      const url = typeof e.url === 'string' ? e.url : (options.env.PX_SIGNING_ENDPOINT ?? '')
      if (!url) return [fail(name, 'signer.url is not set', 'Set signer.url or PX_SIGNING_ENDPOINT.')]
      const probe = await httpProbe(url, options.timeoutMs)
      results.push(probe.ok
        ? probe.status! >= 500
          ? warn(`${name} endpoint`, `${safeUrl(url)} answers HTTP ${probe.status}`, 'The signing service is reachable but unhealthy; check its status.')
          : ok(`${name} endpoint`, `${safeUrl(url)} reachable (HTTP ${probe.status})`)
        : fail(`${name} endpoint`, `${safeUrl(url)} unreachable (${probe.reason})`, 'Check signer.url / PX_SIGNING_ENDPOINT and network access.'))
      if (typeof e.tokenEnv === 'string') {
        registerSecret(options.env[e.tokenEnv])
        results.push(options.env[e.tokenEnv]
          ? ok(`${name} token`, `${e.tokenEnv} is set`)
          : fail(`${name} token`, `${e.tokenEnv} is not set`, `Export ${e.tokenEnv} with the signing service token.`))
      }
      if (typeof e.cert === 'string') results.push(await certificateCheck(`${name} certificate`, e.cert, warnDays, options.now, 'signer'))
      return results
    }
    default:
      return [skip(name, `no built-in check for signer type "${entry.type}"`)]
  }
}

async function keyCheck(name: string, keyFile: string, isP12: boolean, certFile: string | undefined, passphraseEnv: string, options: CheckOptions, warnDays: number): Promise<CheckResult> {
  let bytes: Buffer
  try {
    bytes = await readFile(keyFile)
  } catch (error) {
    return fail(name, `cannot read ${keyFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'Check signer.key / --key and the file permissions.')
  }
  const passphrase = options.env[passphraseEnv] || undefined
  registerSecret(passphrase)
  try {
    if (isP12) {
      const p12 = loadPkcs12(bytes, { file: keyFile, passphrase, passphraseEnv })
      const leaf = p12.certificates.find((der) => keyMatchesCertificate(p12.key, der))
      if (!leaf) return fail(name, `no certificate in ${keyFile} belongs to its key`, 'Export the PKCS#12 file with its certificate.')
      if (!certFile) {
        const info = certificateInfo(leaf)
        const days = Math.floor((Date.parse(info.not_after) - options.now.getTime()) / DAY_MS)
        if (days < 0) return fail(name, `PKCS#12 certificate "${info.subject}" expired on ${info.not_after}`, 'Renew the signing certificate.')
        if (days <= warnDays) return warn(name, `PKCS#12 certificate "${info.subject}" expires on ${info.not_after} (in ${days} days)`, 'Renew the certificate before it expires.')
      }
      return ok(name, `${keyFile} (PKCS#12) readable, key and certificate match`)
    }
    const key = loadPrivateKeyPem(bytes.toString('utf8'), { file: keyFile, passphrase, passphraseEnv })
    if (certFile) {
      const [leaf] = await readCertificateFile(certFile).catch(() => [] as Uint8Array[])
      if (leaf && !keyMatchesCertificate(key, leaf)) return fail(name, `${keyFile} does not belong to the certificate ${certFile}`, 'Pair the certificate with its own private key.')
    }
    return ok(name, `${keyFile} readable${certFile ? ', matches the certificate' : ''}`)
  } catch (error) {
    const e = toPxpError(error)
    return fail(name, e.message, e.hint ?? 'Check the key file.')
  }
}

/**
 * Whether the AWS SDK's default chain has something to start from (env, profile, web identity,
 * container). Stores also take PX_ARTIFACT_STORE_ACCESS_KEY / _SECRET; the KMS signer only the AWS chain.
 */
function awsCredentialsCheck(name: string, env: NodeJS.ProcessEnv, forStore: boolean): CheckResult {
  if (forStore && env.PX_ARTIFACT_STORE_ACCESS_KEY && env.PX_ARTIFACT_STORE_SECRET) return ok(name, 'PX_ARTIFACT_STORE_ACCESS_KEY / _SECRET are set')
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return ok(name, 'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are set')
  if (env.AWS_PROFILE) return ok(name, `AWS profile "${env.AWS_PROFILE}"`)
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE) return ok(name, 'web identity token (IRSA / OIDC)')
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return ok(name, 'container credentials endpoint')
  const shared = env.AWS_SHARED_CREDENTIALS_FILE ?? join(env.HOME ?? homedir(), '.aws', 'credentials')
  return warn(name, `no credentials in the environment (the SDK may still find ${shared} or an instance role)`, forStore
    ? 'Export PX_ARTIFACT_STORE_ACCESS_KEY / PX_ARTIFACT_STORE_SECRET (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE).'
    : 'Export AWS_PROFILE or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or log in with `aws sso login`).')
}

async function checkStore(name: string, entry: StoreEntry, config: ResolvedConfig, options: CheckOptions): Promise<CheckResult[]> {
  const e = entry as Record<string, unknown>
  switch (entry.type) {
    case 'fs': {
      if (typeof e.dir !== 'string' || !e.dir) return [fail(name, 'artifactStore.dir is not set', 'Set artifactStore.dir to a local or NAS directory.')]
      const result = await writableDir(e.dir)
      return [result.ok ? ok(name, `${e.dir} is writable`) : fail(name, result.reason, `Mount or create ${e.dir} and make it writable for this user.`)]
    }
    case 's3':
    case 'oss': {
      let settings
      try {
        settings = resolveS3Settings(entry as S3StoreConfig, options.env)
      } catch (error) {
        const pxp = toPxpError(error)
        return [fail(name, pxp.message, pxp.hint ?? 'Fix artifactStore in px-plugin.config.ts.')]
      }
      registerSecret(settings.credentials?.secretAccessKey)
      registerSecret(settings.credentials?.sessionToken)
      const credentials = awsCredentialsCheck(`${name} credentials`, options.env, true)
      const client = await createS3Client({ ...settings, connectTimeoutMs: options.timeoutMs, idleTimeoutMs: options.timeoutMs })
      const where = `bucket "${settings.bucket}" at ${settings.endpointHost}`
      try {
        const { HeadBucketCommand } = await loadS3Sdk()
        await client.send(new HeadBucketCommand({ Bucket: settings.bucket }), { abortSignal: AbortSignal.timeout(options.timeoutMs) })
        return [credentials, ok(name, `${where} reachable, credentials accepted (HeadBucket)`)]
      } catch (error) {
        if ((error as Error).name === 'CredentialsProviderError') {
          return [credentials, fail(name, `${where}: no credentials found, HeadBucket not attempted`, 'Export PX_ARTIFACT_STORE_ACCESS_KEY / PX_ARTIFACT_STORE_SECRET (or configure the AWS credential chain).')]
        }
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
        if (status === 404) return [credentials, fail(name, `${where}: no such bucket`, 'Create the bucket or fix artifactStore.bucket.')]
        if (status === 403 || status === 401) return [credentials, fail(name, `${where}: credentials refused (HTTP ${status})`, 'Check PX_ARTIFACT_STORE_ACCESS_KEY / PX_ARTIFACT_STORE_SECRET and the bucket policy (s3:ListBucket).')]
        if (status) return [credentials, warn(name, `${where} answered HTTP ${status} to HeadBucket`, 'The store is reachable; check its status and the bucket policy.')]
        return [credentials, fail(name, `${where} unreachable (${failureReason(error)})`, 'Check artifactStore.endpoint / PX_ARTIFACT_STORE_ENDPOINT and network access.')]
      } finally {
        client.destroy()
      }
    }
    case 'signed-url': {
      if (typeof e.url !== 'string') return [fail(name, 'artifactStore.url is not set', 'Set artifactStore.url (a pre-signed PUT URL or a template).')]
      const probe = await tcpProbe(e.url, options.timeoutMs)
      return [probe.ok ? ok(name, `${safeUrl(e.url, false)} reachable`) : fail(name, `${safeUrl(e.url, false)} unreachable (${probe.reason})`, 'Check the signed URL host and network access.')]
    }
    default:
      return [skip(name, `no built-in check for store type "${entry.type}"`)]
  }
}

async function checkSandbox(config: ResolvedConfig, options: CheckOptions): Promise<CheckResult[]> {
  const sandbox = config.sandbox!
  const results: CheckResult[] = []
  let health: string
  try {
    const base = new URL(sandbox.url)
    base.pathname = base.pathname.replace(/\/+$/, '') + '/healthz'
    base.search = ''
    health = base.href
  } catch {
    return [fail('sandbox', 'sandbox.url is not a URL', 'Set sandbox.url to the sandbox (e.g. http://127.0.0.1:8787) or PowerX Core admin API.')]
  }
  const probe = await httpProbe(health, options.timeoutMs)
  if (!probe.ok) results.push(fail('sandbox', `${safeUrl(health)} unreachable (${probe.reason})`, 'Start it with `pxp sandbox` or fix sandbox.url.'))
  else if (probe.status! >= 200 && probe.status! < 300) results.push(ok('sandbox', `${safeUrl(health)} healthy (HTTP ${probe.status})`))
  else results.push(fail('sandbox', `${safeUrl(health)} answered HTTP ${probe.status}`, 'The sandbox is up but unhealthy; check its logs.'))
  if (typeof sandbox.tokenEnv === 'string') {
    registerSecret(options.env[sandbox.tokenEnv])
    results.push(options.env[sandbox.tokenEnv]
      ? ok('sandbox token', `${sandbox.tokenEnv} is set`)
      : fail('sandbox token', `${sandbox.tokenEnv} is not set`, `Export ${sandbox.tokenEnv} with a token that has plugin:dev on tenant ${sandbox.tenant}.`))
  }
  return results
}

async function checkTelemetry(config: ResolvedConfig, options: CheckOptions): Promise<CheckResult> {
  const url = String((config.telemetry as { url?: unknown }).url ?? '')
  try {
    const parsed = new URL(url)
    if (parsed.password) registerSecret(decodeURIComponent(parsed.password))
  } catch {
    return fail('telemetry', 'telemetry.url is not a URL', 'Set telemetry.url to the telemetry service base URL.')
  }
  // Any answer will do: doctor never posts a metric.
  const probe = await httpProbe(url, options.timeoutMs)
  return probe.ok
    ? ok('telemetry', `${safeUrl(url)} reachable (HTTP ${probe.status})`)
    : warn('telemetry', `${safeUrl(url)} unreachable (${probe.reason}); builds spool metrics under <out>/.telemetry/`, 'Check telemetry.url and network access; spooled payloads are sent on a later run.')
}

async function checkAlerts(config: ResolvedConfig, options: CheckOptions): Promise<CheckResult> {
  const webhook = String((config.alerts as { webhook?: unknown }).webhook ?? '')
  registerSecret(webhook)
  let url: URL
  try {
    url = new URL(webhook)
  } catch {
    return fail('alerts', 'alerts.webhook is not a URL', 'Set alerts.webhook to the Slack incoming-webhook URL or a JSON endpoint.')
  }
  if (url.pathname.length > 1) registerSecret(url.pathname + url.search)
  // Connect only: a test message would page people.
  const probe = await tcpProbe(webhook, options.timeoutMs)
  const kind = (config.alerts as { kind?: string }).kind ?? (/(^|\.)slack\.com$/.test(url.hostname) ? 'slack' : 'json')
  return probe.ok
    ? ok('alerts', `${kind} webhook at ${url.origin} reachable`)
    : warn('alerts', `${kind} webhook at ${url.origin} unreachable (${probe.reason})`, 'Check alerts.webhook and network access; builds go on without alerts.')
}
