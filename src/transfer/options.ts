/**
 * Run-wide upload options. They travel in the resolved config's own `upload` section, so the CLI
 * sets them as a `<cli>` layer override (`pxp upload --resume`, `pxp build --resume`, `--json`)
 * and every uploader — ours or a team's — reads them the same way:
 *
 *   upload: { resume?: boolean, progress?: false | 'auto' | 'bar' | 'lines' }
 *
 * PXP_UPLOAD_RESUME=1 is honoured too, for wrappers that cannot pass flags.
 */
import type { ResolvedConfig, StoreEntry } from '../config/types.js'
import { resolveProgressMode, type ProgressMode } from './progress.js'

export interface UploadRunOptions {
  resume: boolean
  progress: ProgressMode
}

export function uploadRunOptions(config: Pick<ResolvedConfig, 'raw'>, env: NodeJS.ProcessEnv = process.env): UploadRunOptions {
  const section = (config.raw?.upload ?? {}) as { resume?: unknown; progress?: unknown }
  const progress = section.progress
  return {
    resume: section.resume === true || env.PXP_UPLOAD_RESUME === '1',
    progress: resolveProgressMode(progress === false || progress === 'auto' || progress === 'bar' || progress === 'lines' || progress === 'off' ? progress : undefined, env),
  }
}

/** The entries of `artifactStore` with the given type (it may be one entry or an array). */
export function storeEntriesOfType<T extends StoreEntry>(config: Pick<ResolvedConfig, 'artifactStore'>, type: string): T[] {
  const stores = config.artifactStore
  if (!stores) return []
  return (Array.isArray(stores) ? stores : [stores]).filter((entry): entry is T => !!entry && entry.type === type)
}

/**
 * The `<cli>` config layer for upload flags, for `pxp build` and `pxp upload` alike:
 * `--resume` continues saved multipart uploads, `--json` silences progress on stderr.
 */
export function uploadOverrides(flags: { resume?: boolean; json?: boolean }): { upload?: { resume?: true; progress?: false } } {
  const upload = { ...(flags.resume ? { resume: true as const } : {}), ...(flags.json ? { progress: false as const } : {}) }
  return Object.keys(upload).length > 0 ? { upload } : {}
}
