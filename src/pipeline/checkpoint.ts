/**
 * Checkpoints for `pxp build --resume`. After each completed stage a run records what it produced
 * under `<out>/.tmp/<run>/state/<os>-<arch>/`: the hashed payload, then the signature, then the
 * committed artifacts. A later `--resume` continues after the last stage of the newest checkpoint
 * whose inputs are unchanged: the same config, and every input file and the directories holding
 * them with the same stat signature (an added, removed or edited file changes one of those), so
 * nothing is collected or read again to decide.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { StatCache } from '../bundle/stat-cache.js'
import type { ArtefactDigest } from '../bundle/hashing.js'
import type { ValidDescriptor } from '../descriptor/types.js'
import type { BundleFile, EmittedArtifact, IntegrityEntry, ResolvedConfig, SignerIdentity, SignResult, TargetConfig, TargetResult } from '../plugin-api.js'
import { stagedRuns } from './staging.js'

export interface Payload {
  files: BundleFile[]
  descriptor: ValidDescriptor
  entries: IntegrityEntry[]
  artefacts: Record<string, ArtefactDigest>
  warnings: TargetResult['warnings']
}

export interface Signed {
  manifest: Record<string, unknown>
  manifestBytes: Buffer
  integrity: IntegrityEntry[]
  integrityBytes: Buffer
  signature?: SignResult
  signer?: SignerIdentity
  signingPolicy?: TargetResult['signingPolicy']
  approval?: TargetResult['approval']
  signingFallbacks?: TargetResult['signingFallbacks']
}

export interface ResumePoint {
  runDir: string
  payload: Payload
  signed?: Signed
  emitted?: EmittedArtifact[]
}

interface StoredPayload {
  version: 1
  fingerprint: string
  inputs: Record<string, string>
  payload: Omit<Payload, 'files'> & { files: Array<Omit<BundleFile, 'content'> & { content?: string }> }
}
type StoredSigned = Omit<Signed, 'manifestBytes' | 'integrityBytes' | 'signature'> & { manifestBytes: string; integrityBytes: string; signature?: Omit<SignResult, 'cms'> & { cms: string } }

// One file per stage: the payload (the large one) is written once, not again with every later stage.
const STAGE_FILES = { payload: 'payload.json', signed: 'signed.json', emitted: 'emitted.json' }
const fileOf = (runDir: string, target: TargetConfig, stage: keyof typeof STAGE_FILES) => join(runDir, 'state', `${target.os}-${target.arch}`, STAGE_FILES[stage])

function writeAtomically(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(`${file}.tmp`, JSON.stringify(value))
  renameSync(`${file}.tmp`, file)
}

function readJson<T>(file: string): T | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined
}

/** What must not differ for a checkpoint to be resumed: the config (but not run-wide upload options) and the target. */
export function configFingerprint(config: ResolvedConfig, target: TargetConfig): string {
  const { upload: _upload, ...raw } = config.raw as Record<string, unknown>
  return createHash('sha256').update(JSON.stringify({ raw, signing: config.signing, sourceDateEpoch: config.sourceDateEpoch, target, root: config.root })).digest('hex')
}

/** Stat signatures of the inputs; `collected` takes each file's from the build's own walk instead of a new stat. */
function inputSignatures(root: string, files: BundleFile[], collected = false): Record<string, string> {
  const known = new Map<string, string>()
  const paths = new Set<string>([root])
  for (const f of files) {
    if (!f.source) continue
    paths.add(f.source).add(dirname(f.source))
    if (collected && f.stat) known.set(f.source, f.stat.sig)
  }
  const out: Record<string, string> = {}
  for (const path of [...paths].sort()) out[path] = known.get(path) ?? StatCache.signature(path)?.sig ?? 'missing'
  return out
}

export class Checkpoints {
  private hasPayload = false
  constructor(private readonly runDir: string, private readonly config: ResolvedConfig, private readonly target: TargetConfig) {}

  hashed(payload: Payload): void {
    const stored: StoredPayload = {
      version: 1,
      fingerprint: configFingerprint(this.config, this.target),
      inputs: inputSignatures(this.config.root, payload.files, true),
      payload: { ...payload, files: payload.files.map(({ stat: _stat, ...f }) => ({ ...f, content: f.content ? Buffer.from(f.content).toString('base64') : undefined })) },
    }
    writeAtomically(fileOf(this.runDir, this.target, 'payload'), stored)
    this.hasPayload = true
  }

  signed(signed: Signed): void {
    if (!this.hasPayload) return
    const stored: StoredSigned = {
      ...signed,
      manifestBytes: signed.manifestBytes.toString('base64'),
      integrityBytes: signed.integrityBytes.toString('base64'),
      signature: signed.signature && { ...signed.signature, cms: Buffer.from(signed.signature.cms).toString('base64') },
    }
    writeAtomically(fileOf(this.runDir, this.target, 'signed'), stored)
  }

  emitted(artifacts: EmittedArtifact[]): void {
    if (this.hasPayload) writeAtomically(fileOf(this.runDir, this.target, 'emitted'), artifacts)
  }
}

/** The newest resumable checkpoint of this target, or why there is none. */
export function findResumePoint(config: ResolvedConfig, target: TargetConfig, currentRunDir: string): ResumePoint | { reason: string } {
  const earlier = stagedRuns(config.out).filter((dir) => dir !== currentRunDir).reverse()
  if (earlier.length === 0) return { reason: 'no interrupted or failed run of this target to resume' }
  const runDir = earlier[0]!
  if (!existsSync(fileOf(runDir, target, 'payload'))) return { reason: 'the last interrupted run stopped before its payload was hashed' }
  let stored: StoredPayload
  let s: StoredSigned | undefined
  let storedEmitted: EmittedArtifact[] | undefined
  try {
    stored = readJson<StoredPayload>(fileOf(runDir, target, 'payload'))!
    s = readJson<StoredSigned>(fileOf(runDir, target, 'signed'))
    storedEmitted = s && readJson<EmittedArtifact[]>(fileOf(runDir, target, 'emitted'))
  } catch {
    return { reason: `the checkpoint of ${runDir} is unreadable` }
  }
  if (stored.fingerprint !== configFingerprint(config, target)) return { reason: 'the configuration changed since the interrupted run' }
  const now = inputSignatures(config.root, stored.payload.files as BundleFile[])
  for (const [path, sig] of Object.entries(stored.inputs)) {
    if (now[path] !== sig) return { reason: `${path} changed since the interrupted run` }
  }
  const payload: Payload = {
    ...stored.payload,
    files: stored.payload.files.map((f) => ({ ...f, content: f.content === undefined ? undefined : Buffer.from(f.content, 'base64') })),
  }
  const signed: Signed | undefined = s && {
    ...s,
    manifestBytes: Buffer.from(s.manifestBytes, 'base64'),
    integrityBytes: Buffer.from(s.integrityBytes, 'base64'),
    signature: s.signature && { ...s.signature, cms: Buffer.from(s.signature.cms, 'base64') },
  }
  const emitted = storedEmitted?.every((a) => existsSync(a.path)) ? storedEmitted : undefined
  return { runDir, payload, signed, emitted }
}
