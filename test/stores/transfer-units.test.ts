/** The shared transfer toolkit: retry policy, key templates, progress output, redaction. */
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { PxpError } from '../../src/errors.js'
import { redactText } from '../../src/redact.js'
import { bundleCoordinates, renderKey } from '../../src/transfer/key-template.js'
import { createProgress } from '../../src/transfer/progress.js'
import { AttemptTimeoutError, RetriesExhaustedError, backoffDelay, isRetryableError, withRetry } from '../../src/transfer/retry.js'
import { effectivePartSize } from '../../src/transfer/s3/upload.js'
import { resolveS3Settings } from '../../src/transfer/s3/settings.js'

const httpError = (status: number, name = 'Error') => Object.assign(new Error(`HTTP ${status}`), { name, $metadata: { httpStatusCode: status } })

describe('retry', () => {
  it('backs off exponentially with full jitter under a cap', () => {
    expect(backoffDelay(0, 100, 1_000, () => 0.999)).toBe(99)
    expect(backoffDelay(3, 100, 1_000, () => 0.999)).toBe(799)
    expect(backoffDelay(10, 100, 1_000, () => 0.999)).toBe(999)
    expect(backoffDelay(5, 100, 1_000, () => 0)).toBe(0)
  })

  it('retries only throttling, 5xx, timeouts and dropped connections', () => {
    expect(isRetryableError(httpError(503, 'SlowDown'))).toBe(true)
    expect(isRetryableError(httpError(500))).toBe(true)
    expect(isRetryableError(httpError(429))).toBe(true)
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true)
    expect(isRetryableError(new Error('wrapped', { cause: Object.assign(new Error('y'), { code: 'EPIPE' }) }))).toBe(true)
    expect(isRetryableError(new AttemptTimeoutError(10))).toBe(true)
    expect(isRetryableError(httpError(400, 'RequestTimeout'))).toBe(true)
    expect(isRetryableError(httpError(400, 'BadDigest'))).toBe(true)
    expect(isRetryableError(httpError(400, 'InvalidArgument'))).toBe(false)
    expect(isRetryableError(httpError(403, 'SignatureDoesNotMatch'))).toBe(false)
    expect(isRetryableError(httpError(404, 'NoSuchBucket'))).toBe(false)
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false)
  })

  it('stops after the configured retries and reports the attempts', async () => {
    let calls = 0
    const error = await withRetry(async () => {
      calls++
      throw httpError(500)
    }, { retries: 3, baseDelayMs: 1, maxDelayMs: 2 }).catch((e: unknown) => e)
    expect(calls).toBe(4)
    expect(error).toBeInstanceOf(RetriesExhaustedError)
    expect((error as RetriesExhaustedError).attempts).toBe(4)
  })

  it('does not retry a permanent failure', async () => {
    let calls = 0
    await expect(withRetry(async () => {
      calls++
      throw httpError(403)
    }, { retries: 5, baseDelayMs: 1 })).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } })
    expect(calls).toBe(1)
  })

  it('aborts an attempt that outlives its deadline and counts the retry', async () => {
    let calls = 0
    const result = await withRetry(({ signal }) => new Promise<string>((resolve, reject) => {
      calls++
      if (calls > 1) return resolve('second')
      signal.addEventListener('abort', () => reject(new Error('aborted')))
    }), { retries: 2, baseDelayMs: 1, attemptTimeoutMs: 50 })
    expect(result).toEqual({ value: 'second', retries: 1 })
  })

  it('stops waiting as soon as the run is aborted', async () => {
    const controller = new AbortController()
    const started = Date.now()
    setTimeout(() => controller.abort(new Error('stop')), 30)
    await expect(withRetry(async () => {
      throw httpError(503)
    }, { retries: 10, baseDelayMs: 10_000, maxDelayMs: 10_000, signal: controller.signal, random: () => 0.99 })).rejects.toThrow('stop')
    expect(Date.now() - started).toBeLessThan(2_000)
  })
})

describe('object keys', () => {
  const vars = { id: 'acme', version: '1.2.0', os: 'linux', arch: 'arm64', file: 'acme-1.2.0-linux-arm64.pxp' }
  it('renders the default layout, a prefix and a custom template', () => {
    expect(renderKey(undefined, vars)).toBe('acme/1.2.0/linux-arm64/acme-1.2.0-linux-arm64.pxp')
    expect(renderKey(undefined, vars, '/releases/')).toBe('releases/acme/1.2.0/linux-arm64/acme-1.2.0-linux-arm64.pxp')
    expect(renderKey('bundles/{id}-{version}', vars)).toBe('bundles/acme-1.2.0/acme-1.2.0-linux-arm64.pxp')
  })
  it('rejects unknown placeholders and dot segments with a config error', () => {
    expect(() => renderKey('{id}/{branch}/{file}', vars)).toThrow(PxpError)
    expect(() => renderKey('{id}/../{file}', vars)).toThrow(/\.\./)
  })
  it('reads coordinates from the output layout, else from the file name', () => {
    expect(bundleCoordinates('/o/acme-tools/2.0.0-rc.1/darwin-arm64/acme-tools-2.0.0-rc.1-darwin-arm64.pxp')).toEqual({ id: 'acme-tools', version: '2.0.0-rc.1', os: 'darwin', arch: 'arm64' })
    expect(bundleCoordinates('/tmp/acme-tools-2.0.0-linux-amd64.pxp')).toEqual({ id: 'acme-tools', version: '2.0.0', os: 'linux', arch: 'amd64' })
    expect(() => bundleCoordinates('/tmp/bundle.pxp')).toThrow(/STORE_KEY_UNRESOLVED|Cannot tell/)
  })
})

describe('S3 settings', () => {
  it('uses path-style for custom endpoints and refuses bad part sizes and credentials in URLs', () => {
    const s = resolveS3Settings({ type: 's3', bucket: 'b1', endpoint: 'minio.local:9000' }, { PX_ARTIFACT_STORE_ACCESS_KEY: 'AK', PX_ARTIFACT_STORE_SECRET: 'SECRET-VALUE', PX_ARTIFACT_STORE_SESSION_TOKEN: 'TOKEN-VALUE' })
    expect(s).toMatchObject({ endpoint: 'https://minio.local:9000', endpointHost: 'minio.local:9000', forcePathStyle: true, partSize: 8 * 1024 * 1024, concurrency: 4 })
    expect(s.credentials).toEqual({ accessKeyId: 'AK', secretAccessKey: 'SECRET-VALUE', sessionToken: 'TOKEN-VALUE' })
    expect(resolveS3Settings({ type: 's3', bucket: 'b1', region: 'eu-west-1' }, {})).toMatchObject({ endpoint: undefined, forcePathStyle: false, credentials: undefined })
    expect(() => resolveS3Settings({ type: 's3', bucket: 'b1', partSizeMB: 1 }, {})).toThrow(/partSizeMB/)
    expect(() => resolveS3Settings({ type: 's3', bucket: 'b1', endpoint: 'https://u:p@host' }, {})).toThrow(/credentials/)
    expect(() => resolveS3Settings({ type: 's3', bucket: 'b1' }, { PX_ARTIFACT_STORE_ACCESS_KEY: 'AK' })).toThrow(/together/)
  })
  it('grows the part size beyond 10,000 parts', () => {
    const MiB = 1024 * 1024
    expect(effectivePartSize(100 * MiB, 8 * MiB)).toBe(8 * MiB)
    expect(Math.ceil(200_000 * MiB / effectivePartSize(200_000 * MiB, 8 * MiB))).toBeLessThanOrEqual(10_000)
  })
})

describe('progress', () => {
  it('prints plain lines with bytes, rate and ETA when not on a TTY, and a summary at the end', () => {
    let clock = 0
    let text = ''
    const stream = Object.assign(new Writable({ write(chunk, _e, cb) { text += chunk; cb() } }), { isTTY: false })
    const progress = createProgress({ label: 'upload s3-x', total: 100 * 1024 * 1024, stream, now: () => clock, intervalMs: 60_000 })
    progress.skip(20 * 1024 * 1024)
    clock = 4_000
    progress.advance(40 * 1024 * 1024)
    clock = 6_000
    progress.finish()
    expect(text).toBe('upload s3-x: done, 40.0 MB sent in 6s, 6.7 MB/s, 20.0 MB already stored\n')
  })
  it('draws a bar with percentage, rate and ETA on a TTY', () => {
    let clock = 0
    let text = ''
    const stream = Object.assign(new Writable({ write(chunk, _e, cb) { text += chunk; cb() } }), { isTTY: true, columns: 120 })
    const progress = createProgress({ label: 'upload', total: 1000, stream, now: () => clock })
    clock = 1_000
    progress.advance(500)
    progress.finish()
    expect(text).toContain('[############------------] upload: 50% 500 B/1000 B 500 B/s ETA 1s')
  })
  it('is silent when switched off (--json)', () => {
    let text = ''
    const stream = new Writable({ write(chunk, _e, cb) { text += chunk; cb() } })
    const progress = createProgress({ label: 'x', total: 10, stream, mode: 'off' })
    progress.advance(10)
    progress.finish()
    expect(text).toBe('')
  })
})

describe('redaction of signed URLs', () => {
  it('masks S3, OSS, GCS and SAS signatures in any text', () => {
    const text = redactText('PUT https://h/b/k?X-Amz-Credential=AKIA%2F&X-Amz-Signature=abc123 and https://o/k?OSSAccessKeyId=LTAI&Expires=1&Signature=zz and https://g/k?X-Goog-Signature=gg and https://a/c?sv=1&sig=ss')
    expect(text).not.toMatch(/abc123|LTAI|=zz|=gg|=ss/)
  })
})
