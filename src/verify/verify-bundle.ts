/**
 * `verifyBundle`: the whole of pxp-format.md "Verification" in one streaming pass over the gzip
 * tar, with memory bounded by the limits rather than by the bundle size. The leading entries make
 * this possible: integrity.txt and the signature come first, so the signature is checked before any
 * payload byte is read, and every later entry is hashed as it streams by.
 *
 * Errors are collected where going on is safe (a tampered or unexpected file, a bad signature);
 * structural problems (corrupt archive, unsafe names, limits) stop the pass at once.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { DESCRIPTOR_FILE, INTEGRITY_FILE, MANIFEST_FILE, SIGNATURE_FILE } from '../bundle/layout.js'
import { caseFoldKey, unsafePathReason } from '../bundle/paths.js'
import { readCertificateFiles } from '../crypto/certs.js'
import { verifyDetachedSignedData } from '../crypto/cms-verify.js'
import { PxpError } from '../errors.js'
import { ByteSource, TruncatedError } from './byte-source.js'
import { Extractor, type PendingFile } from './extract.js'
import { parseIntegrity } from './integrity.js'
import { resolveLimits, type Limits } from './limits.js'
import {
  artefactSpecs,
  checkConsistency,
  parseDescriptor,
  parseManifest,
  startDirectoryArtefact,
  type ArtefactSpec,
  type DirectoryArtefact,
} from './manifest-check.js'
import { decodeEmbeddedSignature, readSignatureFile } from './signature-file.js'
import { tarEntries, type ArchiveEntry } from './tar-entries.js'
import { zipEntries } from './zip-entries.js'
import type { VerifyIssue, VerifyOptions, VerifyReport } from './types.js'

/** More issues than this are summarised: a wholesale tampered bundle needs no 10 000-line report. */
const MAX_ISSUES = 100
const MAX_SIGNATURE_BYTES = 1024 * 1024

class Stop extends Error {
  constructor(readonly issue: PxpError) {
    super(issue.message)
  }
}

async function sniff(file: string): Promise<'gzip' | 'zip' | 'other'> {
  const handle = await open(file, 'r').catch((cause: unknown) => {
    throw new PxpError('USAGE', `Cannot read ${file}.`, { file, cause, exitCode: 2, hint: 'Check the bundle path.' })
  })
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(4), 0, 4, 0)
    if (bytesRead >= 2 && buffer[0] === 0x1f && buffer[1] === 0x8b) return 'gzip'
    if (bytesRead >= 2 && buffer[0] === 0x50 && buffer[1] === 0x4b) return 'zip'
    return 'other'
  } finally {
    await handle.close()
  }
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

export async function verifyBundle(file: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const limits = resolveLimits(options.limits)
  // Unreadable inputs are usage errors (thrown); everything about the bundle goes in the report.
  const trustRoots = [...(options.trustDer ?? []), ...(await readCertificateFiles(options.trust ?? []))]
  // An unreadable sidecar is a usage error; one that is not a signature is a verification failure.
  const sidecar = options.signature
    ? await readSignatureFile(options.signature).catch((error: unknown) => {
        if (error instanceof PxpError && error.code === 'SIGNATURE_INVALID') return error
        throw error
      })
    : undefined
  const kind = await sniff(file)
  const extractor = options.extractTo ? await Extractor.create(options.extractTo) : undefined
  const run = new VerifyRun(file, options, limits, trustRoots, sidecar, extractor)
  let report: VerifyReport | undefined
  try {
    if (kind === 'gzip') report = await run.verifyGzipTar()
    else if (kind === 'zip') report = await run.verifyZip()
    else {
      run.add(new PxpError('ARCHIVE_CORRUPT', 'The file is not a gzip-compressed tar nor a legacy zip (wrong magic bytes).', { hint: 'Pass a .pxp bundle.' }))
      report = run.report(await sha256OfFile(file))
    }
    return report
  } finally {
    await extractor?.finish(report?.ok !== true)
  }
}

class VerifyRun {
  readonly errors: VerifyIssue[] = []
  #dropped = 0
  signed = false
  signer?: VerifyReport['signer']
  manifest?: Record<string, unknown>
  descriptor?: Record<string, unknown>
  /** Whether entries may be written: the signature passed (or unsigned was allowed) and nothing failed yet. */
  #trusted = false
  #integrity?: Map<string, string>
  #integrityBytes?: Buffer
  #embeddedSignature?: Uint8Array
  #signatureEntry = false
  #signatureChecked = false
  readonly #seen = new Set<string>()
  readonly #folded = new Map<string, string>()
  readonly #ancestors = new Set<string>()
  readonly #filePaths = new Set<string>()
  readonly #hashes = new Map<string, string>()
  readonly #sizes = new Map<string, number>()
  #specs: ArtefactSpec[] = []
  readonly #directories = new Map<string, DirectoryArtefact>()
  #entries = 0
  #declaredBytes = 0
  #compressedBytes = 0

  constructor(
    readonly file: string,
    readonly options: VerifyOptions,
    readonly limits: Limits,
    readonly trustRoots: Uint8Array[],
    readonly sidecar: Uint8Array | PxpError | undefined,
    readonly extractor: Extractor | undefined,
  ) {}

  add(error: PxpError): void {
    // Fail closed: after the first problem nothing more is extracted.
    this.#trusted = false
    if (this.errors.length >= MAX_ISSUES) {
      this.#dropped++
      return
    }
    this.errors.push({ code: error.code, ...(error.path && { path: error.path }), message: error.message })
  }

  report(bundleSha256: string): VerifyReport {
    const errors = [...this.errors]
    if (this.#dropped > 0) errors.push({ code: errors[errors.length - 1]!.code, message: `…and ${this.#dropped} more problems.` })
    return {
      ok: errors.length === 0,
      signed: this.signed,
      ...(this.signer && { signer: this.signer }),
      errors,
      ...(this.manifest && { manifest: this.manifest }),
      ...(this.descriptor && { descriptor: this.descriptor }),
      files: this.#filePaths.size,
      bundleSha256,
    }
  }

  async verifyGzipTar(): Promise<VerifyReport> {
    const bundleHash = createHash('sha256')
    const input = createReadStream(this.file)
    const meter = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.#compressedBytes += chunk.length
        bundleHash.update(chunk)
        callback(null, chunk)
      },
    })
    const gunzip = createGunzip()
    pipeline(input, meter, gunzip, () => {
      // Errors surface through the gunzip iterator below.
    })
    const source = new ByteSource(gunzip, () => this.#checkRatio(source.consumed))
    try {
      const complete = await this.#verifyEntries(tarEntries(source, { maxPaxBytes: Math.min(this.limits.maxMetadataBytes, 1024 * 1024) }))
      return this.report(complete ? bundleHash.digest('hex') : await sha256OfFile(this.file))
    } finally {
      await source.close().catch(() => {})
      input.destroy()
    }
  }

  async verifyZip(): Promise<VerifyReport> {
    await this.#verifyEntries(
      zipEntries(this.file, {
        maxMetadataBytes: this.limits.maxMetadataBytes,
        checkDeclared: (unpacked, compressed) => {
          this.#compressedBytes = compressed
          this.#checkRatio(unpacked)
        },
      }),
    )
    return this.report(await sha256OfFile(this.file))
  }

  /** Runs every check over the entries; true when the archive was read to its end. */
  async #verifyEntries(entries: AsyncIterable<ArchiveEntry>): Promise<boolean> {
    let complete = false
    try {
      for await (const entry of entries) await this.#entry(entry)
      complete = true
      if (!this.#integrity) throw new Stop(new PxpError('ENTRY_MISSING', 'The archive is empty: integrity.txt is missing.', { path: INTEGRITY_FILE }))
      await this.#checkSignature()
      this.#finalChecks()
    } catch (error) {
      this.add(this.#classify(error))
    }
    return complete
  }

  #classify(error: unknown): PxpError {
    if (error instanceof Stop) return error.issue
    if (error instanceof PxpError) return error
    if (error instanceof TruncatedError) return new PxpError('ARCHIVE_CORRUPT', `The archive is truncated: ${error.message}.`)
    const code = (error as NodeJS.ErrnoException).code ?? ''
    if (code.startsWith('Z_') || code.startsWith('ERR_ZLIB')) {
      return new PxpError('ARCHIVE_CORRUPT', `The gzip stream is corrupt or truncated (${(error as Error).message}).`, { hint: 'Download or rebuild the bundle.' })
    }
    return new PxpError('ARCHIVE_CORRUPT', `The bundle cannot be read: ${(error as Error).message ?? String(error)}.`)
  }

  #checkRatio(unpacked: number): void {
    if (unpacked > this.limits.ratioGraceBytes && unpacked / Math.max(this.#compressedBytes, 1) > this.limits.maxCompressionRatio) {
      throw new Stop(new PxpError('LIMIT_EXCEEDED', `The archive expands more than ${this.limits.maxCompressionRatio}:1 (a decompression bomb?).`, { hint: 'Raise limits.maxCompressionRatio only for a bundle you trust.' }))
    }
    // Header blocks and padding are not in the declared sizes; allow them generously, but no more.
    if (unpacked > this.limits.maxTotalBytes + this.limits.maxEntries * 2048 + 1024 * 1024) {
      throw new Stop(new PxpError('LIMIT_EXCEEDED', `The archive unpacks to more than ${this.limits.maxTotalBytes} bytes.`))
    }
  }

  /** Name, type and limit checks every entry must pass before any of its bytes are used. */
  #admit(entry: ArchiveEntry): void {
    const { path } = entry
    if (++this.#entries > this.limits.maxEntries) throw new Stop(new PxpError('LIMIT_EXCEEDED', `The archive has more than ${this.limits.maxEntries} entries.`))
    if (Buffer.byteLength(path) > this.limits.maxPathBytes) {
      throw new Stop(new PxpError('LIMIT_EXCEEDED', `An entry name is longer than ${this.limits.maxPathBytes} bytes.`, { path: path.slice(0, 80) + '…' }))
    }
    if (entry.kind === 'link' || entry.kind === 'device') {
      throw new Stop(new PxpError('PATH_UNSAFE', `"${path}" is a ${entry.typeName} entry; bundles hold only regular files and directories.`, { path }))
    }
    if (entry.kind === 'other') throw new Stop(new PxpError('ENTRY_UNEXPECTED', `"${path}" has unsupported tar entry type ${entry.typeName}.`, { path }))
    const reason = unsafePathReason(path)
    if (reason) throw new Stop(new PxpError('PATH_UNSAFE', `Entry "${path}" is unsafe: ${reason}.`, { path }))
    if (this.#seen.has(path)) throw new Stop(new PxpError('ENTRY_UNEXPECTED', `"${path}" appears twice in the archive.`, { path, hint: 'A duplicate could replace a verified file on extraction.' }))
    const folded = caseFoldKey(path)
    const twin = this.#folded.get(folded)
    if (twin !== undefined) throw new Stop(new PxpError('PATH_UNSAFE', `"${path}" and "${twin}" collide on case-insensitive file systems.`, { path }))
    if (this.#filePaths.has(path) || this.#ancestors.has(path) && entry.kind === 'file') {
      throw new Stop(new PxpError('PATH_UNSAFE', `"${path}" is both a file and a directory.`, { path }))
    }
    const segments = path.split('/')
    for (let i = 1; i < segments.length; i++) {
      const ancestor = segments.slice(0, i).join('/')
      if (this.#filePaths.has(ancestor)) throw new Stop(new PxpError('PATH_UNSAFE', `"${path}" is inside "${ancestor}", which is a file.`, { path }))
      this.#ancestors.add(ancestor)
    }
    if (entry.size > this.limits.maxEntryBytes) {
      throw new Stop(new PxpError('LIMIT_EXCEEDED', `"${path}" is ${entry.size} bytes; the limit for one entry is ${this.limits.maxEntryBytes}.`, { path }))
    }
    this.#declaredBytes += entry.size
    if (this.#declaredBytes > this.limits.maxTotalBytes) {
      throw new Stop(new PxpError('LIMIT_EXCEEDED', `The archive unpacks to more than ${this.limits.maxTotalBytes} bytes.`, { path }))
    }
    this.#seen.add(path)
    this.#folded.set(folded, path)
    if (entry.kind === 'file') this.#filePaths.add(path)
  }

  async #entry(entry: ArchiveEntry): Promise<void> {
    const position = this.#entries
    this.#admit(entry)
    const { path } = entry

    if (position === 0) {
      if (path !== INTEGRITY_FILE || entry.kind !== 'file') {
        throw new Stop(new PxpError('ENTRY_MISSING', `The first entry must be integrity.txt, found "${path}".`, { path: INTEGRITY_FILE, hint: 'Rebuild the bundle with `pxp build`.' }))
      }
      this.#integrityBytes = await this.#readSmall(entry, this.limits.maxMetadataBytes)
      try {
        this.#integrity = parseIntegrity(this.#integrityBytes)
      } catch (error) {
        throw new Stop(error as PxpError)
      }
      return
    }
    if (position === 1 && path === SIGNATURE_FILE && entry.kind === 'file') {
      this.#signatureEntry = true
      const bytes = await this.#readSmall(entry, MAX_SIGNATURE_BYTES)
      try {
        this.#embeddedSignature = decodeEmbeddedSignature(bytes)
      } catch (error) {
        this.add(error as PxpError)
        this.signed = true
      }
      return
    }
    await this.#checkSignature()
    const leading = this.#signatureEntry ? position - 2 : position - 1
    const expected = leading === 0 ? MANIFEST_FILE : leading === 1 ? DESCRIPTOR_FILE : undefined
    if (expected && path !== expected) {
      throw new Stop(new PxpError('ENTRY_MISSING', `${expected} must come right after ${leading === 0 ? 'integrity.txt and the signature' : MANIFEST_FILE}; found "${path}".`, { path: expected, hint: 'Rebuild the bundle with `pxp build`.' }))
    }
    if (entry.kind === 'directory') {
      if (this.#trusted && this.extractor) await this.extractor.directory(path)
      return
    }
    await this.#file(entry)
  }

  async #readSmall(entry: ArchiveEntry, max: number): Promise<Buffer> {
    if (entry.size > max) throw new Stop(new PxpError('LIMIT_EXCEEDED', `${entry.path} is ${entry.size} bytes; at most ${max} are read into memory.`, { path: entry.path }))
    const chunks: Buffer[] = []
    for await (const chunk of entry.body()) chunks.push(Buffer.from(chunk))
    return Buffer.concat(chunks)
  }

  async #checkSignature(): Promise<void> {
    if (this.#signatureChecked) return
    this.#signatureChecked = true
    const cms = this.sidecar ?? this.#embeddedSignature
    if (cms instanceof PxpError) {
      this.signed = true
      this.add(cms)
      return
    }
    if (!cms) {
      if (this.signed) return // an embedded signature that could not even be decoded: already reported
      if (this.options.allowUnsigned) this.#trusted = this.errors.length === 0
      else this.add(new PxpError('SIGNATURE_MISSING', 'The bundle is not signed.', { path: SIGNATURE_FILE, hint: 'Sign it (`pxp build --sign CERT --key KEY`), pass --signature FILE, or accept it with --allow-unsigned.' }))
      return
    }
    this.signed = true
    try {
      const verified = await verifyDetachedSignedData({ cms, content: this.#integrityBytes!, trustRoots: this.trustRoots, now: this.options.now })
      this.signer = { subject: verified.signer.subject, issuer: verified.signer.issuer, notAfter: verified.signer.not_after }
      this.#signerCertificate = verified.signer
      this.#trusted = this.errors.length === 0
    } catch (error) {
      if (!(error instanceof PxpError)) throw error
      this.add(error)
    }
    if (this.#trusted && this.extractor) {
      await this.#writeWhole(INTEGRITY_FILE, this.#integrityBytes!)
      if (this.#embeddedSignature) await this.#writeWhole(SIGNATURE_FILE, Buffer.from(Buffer.from(this.#embeddedSignature).toString('base64')))
    }
  }

  async #writeWhole(path: string, bytes: Buffer): Promise<void> {
    const pending = await this.extractor!.begin(path, 0o644)
    await pending.write(bytes)
    await pending.commit()
  }

  async #file(entry: ArchiveEntry): Promise<void> {
    const { path, size } = entry
    const listed = this.#integrity!.get(path)
    if (listed === undefined) {
      this.add(new PxpError('ENTRY_UNEXPECTED', `"${path}" is in the archive but not listed in integrity.txt.`, { path, hint: 'Someone added a file after signing; do not install this bundle.' }))
      for await (const _chunk of entry.body()) {
        // drained unread: the entry is already refused
      }
      return
    }
    const keep = path === MANIFEST_FILE || path === DESCRIPTOR_FILE
    if (keep && size > this.limits.maxMetadataBytes) throw new Stop(new PxpError('LIMIT_EXCEEDED', `${path} is larger than ${this.limits.maxMetadataBytes} bytes.`, { path }))
    const kept: Buffer[] = []
    const hasher = createHash('sha256')
    const directories = [...this.#directories.values()].filter((d) => this.#inArtefact(path, d.path))
    for (const directory of directories) {
      directory.hasher.update(directory.path === '.' ? path : path.slice(directory.path.length + 1))
      directory.total += size
    }
    let pending: PendingFile | undefined
    if (this.#trusted && this.extractor) pending = await this.extractor.begin(path, entry.mode)
    try {
      for await (const chunk of entry.body()) {
        hasher.update(chunk)
        for (const directory of directories) directory.hasher.update(chunk)
        if (keep) kept.push(Buffer.from(chunk))
        await pending?.write(chunk)
      }
    } catch (error) {
      await pending?.abandon()
      throw error
    }
    const actual = hasher.digest('hex')
    this.#hashes.set(path, actual)
    this.#sizes.set(path, size)
    if (actual !== listed) {
      await pending?.abandon()
      this.add(new PxpError('ENTRY_TAMPERED', `"${path}" does not match its integrity.txt hash.`, { path, hint: 'The file was changed after signing; do not install this bundle.' }))
      return
    }
    if (pending) {
      if (this.#trusted) await pending.commit()
      else await pending.abandon()
    }
    if (path === MANIFEST_FILE) this.#manifestRead(Buffer.concat(kept))
    if (path === DESCRIPTOR_FILE) {
      try {
        this.descriptor = parseDescriptor(Buffer.concat(kept))
      } catch (error) {
        this.add(error as PxpError)
      }
    }
  }

  #manifestRead(bytes: Buffer): void {
    try {
      this.manifest = parseManifest(bytes)
      this.#specs = artefactSpecs(this.manifest)
    } catch (error) {
      this.add(error as PxpError)
      return
    }
    // Artefacts that are directories are hashed while their files stream by.
    for (const spec of this.#specs) {
      if (!this.#integrity!.has(spec.path)) this.#directories.set(spec.path, startDirectoryArtefact(spec))
    }
  }

  /**
   * Membership as the builder groups files (src/bundle/hashing.ts): a directory artefact holds
   * everything under it; the root artefact `.` (assets) holds every payload file that no other
   * directory artefact holds, the descriptor and generated root files excepted.
   */
  #inArtefact(path: string, artefact: string): boolean {
    if (artefact !== '.') return path.startsWith(artefact + '/')
    if (path === DESCRIPTOR_FILE || path === MANIFEST_FILE) return false
    for (const other of this.#directories.keys()) if (other !== '.' && path.startsWith(other + '/')) return false
    return true
  }

  #signerCertificate?: { subject: string; issuer: string; not_after: string; fingerprint?: string }

  #finalChecks(): void {
    for (const path of this.#integrity!.keys()) {
      if (!this.#filePaths.has(path)) this.add(new PxpError('ENTRY_MISSING', `"${path}" is listed in integrity.txt but not in the archive.`, { path }))
    }
    // manifest.json is signed content: when it names a signer, the signature must be that signer's
    // (by fingerprint; manifests without one compare subject, issuer and expiry).
    const named = (this.manifest?.signature as { certificate_chain?: Array<Record<string, unknown>> } | null | undefined)?.certificate_chain?.[0]
    const actual = this.#signerCertificate
    if (named && actual) {
      const same = typeof named.fingerprint === 'string'
        ? named.fingerprint === actual.fingerprint
        : named.subject === actual.subject && named.issuer === actual.issuer && named.not_after === actual.not_after
      if (!same) {
        this.add(new PxpError('SIGNATURE_INVALID', `manifest.json names the signer "${String(named.subject)}" (${String(named.fingerprint ?? 'no fingerprint')}) but the signature is by "${actual.subject}" (${actual.fingerprint}).`, { path: MANIFEST_FILE, hint: 'The bundle was re-signed by someone else: rebuild and sign it with the key it was built for.' }))
      }
    }
    if (this.manifest && this.descriptor) {
      for (const problem of checkConsistency(this.manifest, this.descriptor, this.#specs, this.#directories, { hashes: this.#hashes, sizes: this.#sizes })) {
        this.add(problem)
      }
    }
  }
}
