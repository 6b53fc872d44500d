/**
 * uploader-signed-url: `PUT <signed URL>` for the bundle and its sidecars. A signed URL addresses
 * one object, so the config gives either a URL with a `{file}` placeholder (a service that signs a
 * prefix), or one URL for the bundle plus `urls` per sidecar file name. Every URL can come from an
 * environment variable instead (`urlEnv`, `urlsEnv`), because a signed URL is a credential and does
 * not belong in a committed config.
 *
 *   artifactStore: { type: 'signed-url', urlEnv: 'PXP_UPLOAD_URL',
 *                    urlsEnv: { 'integrity.txt': 'PXP_INTEGRITY_URL' } }
 */
import {
  HttpStatusError, RETRY_METRIC, createProgress, definePlugin, displayUrl, httpPutFile, storeEntriesOfType, toStoreError, uploadOrder,
  uploadRunOptions, withRetry, type EmittedArtifact, type PluginContext, type ResolvedConfig, type SignedUrlStoreConfig, type UploadReceipt,
} from '../../src/plugin-api.js'

export default definePlugin(() => ({
  name: 'uploader-signed-url',
  apply: (config: ResolvedConfig) => storeEntriesOfType(config, 'signed-url').length > 0,
  async upload(artifacts) {
    const run = uploadRunOptions(this.config)
    const receipts: UploadReceipt[] = []
    for (const entry of storeEntriesOfType<SignedUrlStoreConfig>(this.config, 'signed-url')) {
      const storeId = typeof entry.name === 'string' ? entry.name : 'signed-url'
      const planned: Array<{ artifact: EmittedArtifact; url: string }> = []
      for (const artifact of uploadOrder(artifacts)) {
        const url = urlFor(this, entry, artifact)
        if (url) planned.push({ artifact, url })
        else if (artifact.kind !== 'bundle') this.warn({ code: 'STORE_SIDECAR_SKIPPED', message: `No signed URL for ${artifact.fileName} in store ${storeId}; it was not uploaded there.` })
        else this.error({ code: 'STORE_CONFIG', message: `The signed-url store ${storeId} has no URL for the bundle.`, hint: 'Set artifactStore.url or artifactStore.urlEnv.', exitCode: 2 })
      }
      const progress = createProgress({ label: `upload ${storeId}`, total: planned.reduce((s, p) => s + p.artifact.size, 0), mode: run.progress })
      let outcome: 'done' | 'failed' = 'failed'
      try {
        for (const { artifact, url } of planned) {
          const started = Date.now()
          const where = displayUrl(url)
          let retries = 0
          let sentThisAttempt = 0
          let result
          try {
            result = await withRetry(async ({ signal }) => {
              progress.advance(-sentThisAttempt)
              sentThisAttempt = 0
              return httpPutFile({
                url, path: artifact.path, size: artifact.size, signal,
                headers: stringRecord(entry.headers),
                idleTimeoutMs: typeof entry.idleTimeoutMs === 'number' ? entry.idleTimeoutMs : 60_000,
                onBytes: (n) => {
                  sentThisAttempt += n
                  progress.advance(n)
                },
              })
            }, {
              signal: this.signal,
              retries: typeof entry.retries === 'number' ? entry.retries : 4,
              attemptTimeoutMs: typeof entry.attemptTimeoutMs === 'number' ? entry.attemptTimeoutMs : 0,
              onRetry: ({ error, delayMs }) => {
                retries++
                this.logger.warn(`${artifact.fileName}: PUT ${where} failed (${error instanceof HttpStatusError ? error.message : (error as { code?: string }).code ?? 'error'}), retry in ${delayMs} ms`)
              },
            })
          } catch (error) {
            throw toStoreError(error, {
              storeId, endpointHost: new URL(url).host, fileName: artifact.fileName, operation: `PUT ${where}`,
              authHint: 'The signed URL was refused: it may have expired, or was signed for another method, content type or object. Ask for a fresh URL.',
            })
          }
          this.metric(RETRY_METRIC, retries, { store: storeId, file: artifact.fileName })
          this.audit('upload', { store: storeId, url: where, sha256: artifact.sha256, size: artifact.size })
          receipts.push({
            store: storeId, url: where, sha256: artifact.sha256, size: artifact.size, durationMs: Date.now() - started, retries, fileName: artifact.fileName,
            ...(result.value.etag ? { etag: result.value.etag } : {}), ...(result.value.versionId ? { versionId: result.value.versionId } : {}),
          })
        }
        outcome = 'done'
      } finally {
        progress.finish(outcome)
      }
    }
    return receipts
  },
}))

function urlFor(ctx: PluginContext, entry: SignedUrlStoreConfig, artifact: EmittedArtifact): string | undefined {
  const fromEnv = (name: unknown) => (typeof name === 'string' ? process.env[name] : undefined)
  const urls = stringRecord(entry.urls)
  const urlsEnv = stringRecord(entry.urlsEnv)
  const specific = urls[artifact.fileName] ?? urls[artifact.kind] ?? fromEnv(urlsEnv[artifact.fileName] ?? urlsEnv[artifact.kind])
  const base = (typeof entry.url === 'string' && entry.url) || fromEnv(entry.urlEnv)
  let url = specific
  if (!url && base) {
    if (base.includes('{file}')) url = base.replace('{file}', encodeURIComponent(artifact.fileName))
    else if (artifact.kind === 'bundle') url = base
  }
  if (!url) return undefined
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    ctx.error({ code: 'STORE_CONFIG', message: `The signed URL for ${artifact.fileName} is not a valid URL.`, exitCode: 2, hint: 'Check artifactStore.url / urlEnv.' })
  }
  // The query string is the credential: mask it, and each of its values, everywhere.
  ctx.redact(parsed.search.slice(1))
  for (const value of parsed.searchParams.values()) ctx.redact(value)
  return url
}

function stringRecord(value: unknown): Record<string, string> {
  if (!value || typeof value !== 'object') return {}
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'))
}
