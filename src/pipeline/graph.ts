/**
 * The bundle graph: the files of one target, keyed by archive path. Every way in (collect,
 * transform) goes through here, so the name rules and collision checks live in one place.
 */
import { statSync } from 'node:fs'
import { PxpError } from '../errors.js'
import { caseFoldKey, unsafePathReason } from '../bundle/paths.js'
import { StatCache } from '../bundle/stat-cache.js'
import type { AddFileInput, BundleFile, FileRole } from '../plugin-api.js'

export class BundleGraph {
  private readonly files = new Map<string, BundleFile & { addedBy: string }>()
  private readonly folded = new Map<string, string>()

  add(input: AddFileInput, addedBy: string): void {
    const path = input.path
    const reason = unsafePathReason(path)
    if (reason) {
      throw new PxpError('PATH_UNSAFE', `Cannot pack "${path}": ${reason}.`, {
        path,
        plugin: addedBy,
        hint: 'Rename the file, or exclude it with offline.ignore.',
      })
    }
    const existing = this.files.get(path)
    if (existing) {
      throw new PxpError('PATH_COLLISION', `"${path}" is added twice (by ${existing.addedBy} and ${addedBy}).`, {
        path,
        hint: 'A file may come from one place only: remove one copy (a file in backend/bin/ and in backend/bin/<os>-<arch>/ also collide).',
      })
    }
    const otherCase = this.folded.get(caseFoldKey(path))
    if (otherCase) {
      throw new PxpError('PATH_COLLISION', `"${path}" and "${otherCase}" differ only in letter case and would overwrite each other on Windows and macOS.`, {
        path,
        hint: 'Rename one of them.',
      })
    }
    if ((input.source === undefined) === (input.content === undefined)) {
      throw new PxpError('PLUGIN_FAILED', `addFile("${path}") needs exactly one of source or content.`, { plugin: addedBy })
    }
    const content = typeof input.content === 'string' ? Buffer.from(input.content, 'utf8') : input.content
    // The one stat of a source file in a build, unless its collector walked it already.
    const stat = content ? undefined : (input.stat ?? StatCache.signatureOf(statSync(input.source!, { bigint: true })))
    const size = content ? content.byteLength : stat!.size
    const executable = input.executable ?? path.startsWith('backend/bin/')
    this.files.set(path, {
      path,
      source: input.source,
      content,
      mode: executable || path.startsWith('backend/bin/') ? 0o755 : 0o644,
      role: input.role ?? roleOf(path),
      size,
      ...(stat && { stat }),
      addedBy,
    })
    this.folded.set(caseFoldKey(path), path)
  }

  remove(path: string): void {
    this.files.delete(path)
    this.folded.delete(caseFoldKey(path))
  }

  get(path: string): BundleFile | undefined {
    return this.files.get(path)
  }

  list(): BundleFile[] {
    return [...this.files.values()].map(({ addedBy: _addedBy, ...file }) => file)
  }

  get size(): number {
    return this.files.size
  }
}

/** The role a payload path plays (pxp-format.md "What goes in"). */
export function roleOf(path: string): FileRole {
  if (path === 'plugin.yaml') return 'descriptor'
  if (path.startsWith('plugin.d/')) return 'catalog'
  if (path.startsWith('config/')) return 'config'
  if (path.startsWith('backend/')) return 'backend'
  if (path.startsWith('web-admin/')) return 'frontend'
  if (path.startsWith('migrations/')) return 'migrations'
  if (path.startsWith('contracts/') || path.startsWith('docs/contracts/')) return 'contracts'
  if (path.startsWith('extensions/')) return 'extensions'
  if (path.startsWith('skills/')) return 'skills'
  if (path === 'README.md' || path === 'LICENSE') return 'docs'
  return 'asset'
}
