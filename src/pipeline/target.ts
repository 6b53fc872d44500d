/**
 * The lifecycle of one target: collect → transform → validate → hash → sign → emit → commit →
 * upload → install. `buildEnd` is the caller's job so that it runs whatever happens here.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { configError, PxpError, toPxpError } from '../errors.js'
import { assertValidDescriptor, parseDescriptor } from '../descriptor/index.js'
import { artefactGroups, hashGroup, type ArtefactDigest } from '../bundle/hashing.js'
import { DESCRIPTOR_FILE, INTEGRITY_FILE, MANIFEST_FILE, SIGNATURE_FILE, archiveOrder, formatIntegrity } from '../bundle/layout.js'
import { buildManifest, serializeManifest } from '../bundle/manifest.js'
import { currentActor } from '../report/audit-log.js'
import type { BundleFile, BundleModel, IntegrityEntry, SignerIdentity, TargetConfig, UploadReceipt } from '../plugin-api.js'
import type { SignerConfig, SignerEntry } from '../config/types.js'
import type { ValidDescriptor } from '../descriptor/types.js'
import type { PluginDriver } from '../host/driver.js'
import { BundleGraph } from './graph.js'
import { budgetError, checkBudget, summariseSizes, type BudgetBreach } from './budgets.js'
import { commitDirectory, finalDirOf, recoverInterruptedCommit } from './output-dir.js'
import type { RunState, TargetState } from './context.js'
import { Checkpoints, findResumePoint, type Payload, type ResumePoint, type Signed } from './checkpoint.js'

export interface TargetOptions {
  upload: boolean
  install: boolean
  /** Continue from the newest checkpoint whose inputs are unchanged (`--resume`). */
  resume: boolean
}

type Stage = <T>(name: string, work: () => Promise<T>) => Promise<T>

export async function buildTarget(run: RunState, state: TargetState, driver: PluginDriver, options: TargetOptions): Promise<void> {
  const { config } = run
  const { result, target } = state
  const stage: Stage = async (name, work) => {
    const started = performance.now()
    run.signal.throwIfAborted()
    try {
      return await work()
    } finally {
      result.durations[name] = Math.round(performance.now() - started)
    }
  }
  const checkpoints = new Checkpoints(run.tmpRoot, config, target)
  const resumed = options.resume ? resumePoint(run, state) : undefined

  const payload = resumed?.payload ?? (await preparePayload(run, state, driver, stage))
  checkpoints.hashed(payload)
  const { files, descriptor, entries, artefacts } = payload
  result.pluginId = descriptor.id
  result.version = descriptor.version
  result.fileCount = files.length
  if (resumed) result.warnings.push(...payload.warnings)
  result.integrity = entries
  result.sizes = summariseSizes(entries)
  const sizeOf = new Map(entries.map((e) => [e.path, e.size]))
  const roleBytes = (role: string) => files.filter((f) => f.role === role).reduce((n, f) => n + sizeOf.get(f.path)!, 0)
  enforceBudget(run, state, checkBudget(config, 'backend', roleBytes('backend')))
  enforceBudget(run, state, checkBudget(config, 'frontend', roleBytes('frontend')))

  const signed = resumed?.signed ?? (await signBundle(run, state, driver, { descriptor, target, artefacts, stage }))
  checkpoints.signed(signed)
  Object.assign(result, { signature: signed.signature, signer: signed.signer, signingPolicy: signed.signingPolicy, approval: signed.approval, signingFallbacks: signed.signingFallbacks })
  result.manifest = signed.manifest
  result.integrity = signed.integrity

  const outDir = finalDirOf(config.out, descriptor.id, descriptor.version, target.os, target.arch)
  if (resumed?.emitted) {
    result.artifacts = resumed.emitted
    result.bundle = resumed.emitted.find((a) => a.kind === 'bundle')
  } else {
    await stage('emit', async () => {
      await driver.run('emit', bundleModel(state, payload, signed, outDir))
      if (!result.bundle) throw new PxpError('NO_EMITTER', 'No plugin emitted a bundle.', { hint: 'Keep the default emit-pxp plugin or add one that emits a file of kind "bundle".' })
      enforceBudget(run, state, checkBudget(config, 'bundle', result.bundle.size))
      recoverInterruptedCommit(outDir, config.out)
      commitDirectory(state.stagingDir, outDir, config.out)
      for (const artifact of result.artifacts) artifact.path = `${outDir}/${artifact.fileName}`
    })
    run.audit.append('bundle.emitted', { pluginId: descriptor.id, version: descriptor.version, target: targetName(state), sha256: result.bundle!.sha256, size: result.bundle!.size, signer: result.signer?.signer ?? null })
  }
  checkpoints.emitted(result.artifacts)

  if (options.upload && driver.has('upload')) {
    const receipts = await stage('upload', () => driver.run('upload', result.artifacts))
    result.uploads = receipts.values.flatMap((r) => (r ? (Array.isArray(r) ? r : [r]) : [])) as UploadReceipt[]
  }
  if (options.install && driver.has('install')) {
    const outcome = await stage('install', () => driver.run('install', result.artifacts, result.uploads))
    result.install = outcome.value ?? undefined
  }
}

function resumePoint(run: RunState, state: TargetState): ResumePoint | undefined {
  const found = findResumePoint(run.config, state.target, run.tmpRoot)
  if ('reason' in found) {
    run.logger.warn(`--resume: starting clean for ${targetName(state)}: ${found.reason}.`)
    run.audit.append('build.resume_declined', { target: targetName(state), reason: found.reason })
    return undefined
  }
  const from = found.emitted ? 'upload' : found.signed ? 'emit' : 'sign'
  run.logger.info(`--resume: ${targetName(state)} continues at ${from}, from ${found.runDir}`)
  run.audit.append('build.resumed', { target: targetName(state), from, run: found.runDir })
  return found
}

/** collect → transform → validate plugin.yaml → hash: everything signing needs. */
async function preparePayload(run: RunState, state: TargetState, driver: PluginDriver, stage: Stage): Promise<Payload> {
  const { config } = run
  const graph = (state.graph = new BundleGraph())
  await stage('collect', () => driver.run('collect'))
  await stage('transform', () => transformAll(driver, graph))
  const files = graph.list()

  // validate plugin.yaml against what will really be in the bundle
  const descriptorFile = graph.get(DESCRIPTOR_FILE)
  if (!descriptorFile) {
    throw configError('DESCRIPTOR_MISSING', `No plugin.yaml at the plugin root ${config.root}.`, {
      file: `${config.root}/plugin.yaml`,
      hint: 'Run pxp in the plugin repository (or set `root`/--cwd); plugin.yaml must sit at its root.',
    })
  }
  const descriptorText = descriptorFile.content ? Buffer.from(descriptorFile.content).toString('utf8') : await readFile(descriptorFile.source!, 'utf8')
  const descriptorPath = descriptorFile.source ?? DESCRIPTOR_FILE
  const dirs = new Set(files.flatMap((f) => f.path.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))))
  const { descriptor, conventions } = assertValidDescriptor(parseDescriptor(descriptorText, descriptorPath), {
    hasFile: (p) => graph.get(p) !== undefined,
    hasDir: (p) => dirs.has(p),
  }, descriptorPath)
  const warningsBefore = state.result.warnings.length
  for (const issue of conventions) {
    const message = `${descriptorPath}: ${issue.field} ${issue.message}`
    if (config.offline.conventions === 'fail') {
      throw configError('DESCRIPTOR_CONVENTION', message, { file: descriptorPath, keyPath: issue.field, hint: 'Follow the installed-mode conventions, or set offline.conventions to "warn".' })
    }
    warn(run, state, 'DESCRIPTOR_CONVENTION', message)
  }

  // hash: every payload file, and the artefact digests in the same read
  const groups = artefactGroups(files)
  const hashed = await stage('hash', async () => {
    const outcome = await driver.run('hash', files, groups)
    if (!outcome.value) throw new PxpError('NO_HASHER', 'No plugin answered the hash hook.', { hint: 'Keep the default hash-sha256 plugin or add a plugin that implements hash.' })
    return outcome.value
  })
  const entries = new Map(hashed.entries.map((e) => [e.path, e]))
  for (const file of files) {
    if (!entries.has(file.path)) throw new PxpError('HASH_INCOMPLETE', `The hash hook returned no entry for "${file.path}".`, { hint: 'A custom hash plugin must hash every file it is given.' })
  }
  const artefacts: Record<string, ArtefactDigest> = { ...hashed.artefacts }
  for (const group of groups) artefacts[group.key] ??= (await hashGroup(group)).digest
  return { files, descriptor, entries: [...entries.values()], artefacts, warnings: state.result.warnings.slice(warningsBefore) }
}

/** The model handed to `emit`: generated root files first, archive order throughout. */
function bundleModel(state: TargetState, payload: Payload, signed: Signed, outDir: string): BundleModel {
  const { descriptor } = payload
  const { target } = state
  const generated = (path: string, content: Buffer): BundleFile => ({ path, content, mode: 0o644, role: 'generated', size: content.length })
  const signature = signed.signature && generated(SIGNATURE_FILE, Buffer.from(Buffer.from(signed.signature.cms).toString('base64') + '\n', 'utf8'))
  const allFiles = [generated(INTEGRITY_FILE, signed.integrityBytes), ...(signature ? [signature] : []), generated(MANIFEST_FILE, signed.manifestBytes), ...payload.files]
  return {
    pluginId: descriptor.id,
    version: descriptor.version,
    target,
    baseName: `${descriptor.id}-${descriptor.version}-${target.os}-${target.arch}`,
    files: archiveOrder(allFiles).flatMap((e) => (e.type === 'file' ? [e.file] : [])),
    integrity: signed.integrity,
    integrityText: signed.integrityBytes,
    signature: signed.signature,
    manifest: signed.manifest,
    descriptor: descriptor.raw,
    outDir,
  }
}

async function transformAll(driver: PluginDriver, graph: BundleGraph): Promise<void> {
  const hooks = driver.hooks('transform')
  if (hooks.length === 0) return
  for (const original of graph.list()) {
    let file = original
    for (const bound of hooks) {
      if (!bound.matches(file.path)) continue
      const read = async () => (file.content ? Buffer.from(file.content) : readFile(file.source!))
      const out = await driver.call(bound, 'transform', [file, read])
      if (out === null) {
        graph.remove(file.path)
        break
      }
      if (!out) continue
      graph.remove(file.path)
      graph.add({
        path: out.path ?? file.path,
        ...(out.content !== undefined ? { content: out.content } : file.content ? { content: file.content } : { source: file.source, stat: file.stat }),
        executable: out.executable ?? file.mode === 0o755,
        role: file.role,
      }, bound.plugin.name)
      file = graph.get(out.path ?? file.path)!
    }
  }
}

interface SignInput {
  descriptor: ValidDescriptor
  target: TargetConfig
  artefacts: Record<string, ArtefactDigest>
  stage: <T>(name: string, work: () => Promise<T>) => Promise<T>
}

/**
 * manifest.json → integrity.txt → signature. manifest.json names the signer's chain and is itself
 * listed in integrity.txt, so each signer of a fallback chain gets its own manifest: when the KMS
 * signer fails and the PEM one takes over, the bundle names the PEM chain.
 */
async function signBundle(run: RunState, state: TargetState, driver: PluginDriver, input: SignInput): Promise<Signed> {
  const { config } = run
  const { result } = state
  const entries = entriesOf(config.signer)
  const prepare = (identity: SignerIdentity | undefined) => {
    const manifest = buildManifest({ descriptor: input.descriptor, target: input.target, artefacts: input.artefacts, signer: identity })
    const manifestBytes = serializeManifest(manifest)
    const integrity: IntegrityEntry[] = [...result.integrity, { path: MANIFEST_FILE, sha256: sha256(manifestBytes), size: manifestBytes.length }]
    return { manifest, manifestBytes, integrity, integrityBytes: Buffer.from(formatIntegrity(integrity), 'utf8') }
  }

  if (!config.signing.enabled) {
    if (!config.signing.approval) {
      throw configError('SIGNING_APPROVAL_REQUIRED', 'PX_CLI_SIGNING=0 asks for an unsigned bundle, which needs an approval reference.', {
        hint: 'Pass --approval <ticket or change id> (or PX_SIGNING_APPROVAL); it is recorded in report.json and audit.log.',
      })
    }
    const actor = currentActor()
    run.audit.append('sign.skipped', { target: targetName(state), approval: config.signing.approval, actor, reason: 'PX_CLI_SIGNING=0' })
    warn(run, state, 'UNSIGNED_APPROVED', `Building unsigned under approval ${config.signing.approval} (actor ${actor}).`)
    return { ...prepare(undefined), signingPolicy: 'unsigned-approved', approval: { reference: config.signing.approval, actor } }
  }

  for (const [i, entry] of entries.entries()) {
    try {
      const identity = await input.stage('resolveSigner', async () => (await driver.run('resolveSigner', entry)).value ?? undefined)
      if (!identity) {
        if (!entry) {
          warn(run, state, 'UNSIGNED', 'No signer is configured: the bundle is unsigned and `pxp verify` will refuse it without --allow-unsigned.')
          return { ...prepare(undefined), signingPolicy: 'unsigned' }
        }
        throw configError('SIGNER_NOT_FOUND', `The config asks for signer "${entry.type}" but no plugin provides it.`, {
          keyPath: entries.length > 1 ? `signer[${i}].type` : 'signer.type',
          file: config.configFile,
          hint: 'Check signer.type, or add the plugin that implements it to `plugins`.',
        })
      }
      const prepared = prepare(identity)
      const signature = await input.stage('sign', async () => {
        const outcome = await driver.run('sign', prepared.integrityBytes, identity)
        if (!outcome.value) throw new PxpError('SIGNER_UNAVAILABLE', `The signer "${identity.signer}" resolved an identity but no plugin signed.`, { hint: 'Check the signer plugin configuration.' })
        return outcome.value
      })
      return { ...prepared, signer: identity, signature, signingPolicy: 'signed', signingFallbacks: result.signingFallbacks }
    } catch (thrown) {
      const error = toPxpError(thrown)
      const next = entries[i + 1]
      // A fallback is for a signer that is down or refusing, not for a broken config.
      if (!next || error.exitCode === 2) throw error
      const signer = entry?.type ?? 'unknown'
      ;(result.signingFallbacks ??= []).push({ signer, code: error.code, message: error.message })
      run.audit.append('sign.fallback', { target: targetName(state), from: signer, to: next.type, code: error.code, message: error.message })
      warn(run, state, 'SIGNER_FALLBACK', `Signer "${signer}" failed (${error.code}: ${error.message}); falling back to "${next.type}".`)
    }
  }
  throw new PxpError('SIGNER_UNAVAILABLE', 'No signer could sign.', {})
}

function entriesOf(signer: SignerConfig | undefined): Array<SignerEntry | undefined> {
  if (!signer) return [undefined]
  return Array.isArray(signer) ? signer : [signer]
}

const targetName = (state: TargetState) => `${state.target.os}-${state.target.arch}`

function enforceBudget(run: RunState, state: TargetState, breach: BudgetBreach | undefined): void {
  if (!breach) return
  if (breach.mode === 'fail') throw budgetError(breach)
  warn(run, state, 'SIZE_BUDGET_EXCEEDED', breach.message)
}

function warn(run: RunState, state: TargetState, code: string, message: string): void {
  state.result.warnings.push({ code, message })
  run.logger.warn(`[${code}] ${message}`)
  run.audit.append('build.warning', { code, message, target: `${state.target.os}-${state.target.arch}` })
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')
