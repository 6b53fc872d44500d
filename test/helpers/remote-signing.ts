/**
 * Shared by the KMS, signing-service and third-party signer tests: build the playground with a
 * given signer config through the shipped CLI, then check the bundle two independent ways —
 * `pxp verify --trust` and `openssl cms -verify` over the sidecar integrity.txt.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'vitest'
import { runCli, type CliRun } from './cli.js'
import { BUNDLE, BUNDLE_DIR, copyPlayground, tempDir, write } from './fixtures.js'
import { opensslStatus } from './openssl.js'
import { verifyBundle } from '../../src/verify/index.js'
import { PxpError } from '../../src/errors.js'
import type { PluginContext, PxpPlugin } from '../../src/plugin-api.js'

/** Dummy static credentials for the standard AWS chain; nothing on the host is read. */
export const AWS_TEST_ENV: NodeJS.ProcessEnv = {
  AWS_ACCESS_KEY_ID: 'AKIAPXPTESTKEY000001',
  AWS_SECRET_ACCESS_KEY: 'pxp-test-secret-not-real',
  AWS_SESSION_TOKEN: '',
  AWS_PROFILE: '',
  AWS_CONFIG_FILE: '/nonexistent/aws-config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  AWS_EC2_METADATA_DISABLED: 'true',
}

export interface Project { root: string; out: string }

/** A playground copy whose px-plugin.config.ts holds `config` (JSON-serialisable) and `extra` source. */
export function project(config: Record<string, unknown>, options: { out?: string } = {}): Project {
  const root = copyPlayground()
  write(root, 'px-plugin.config.ts', `export default ${JSON.stringify(config, null, 2)}\n`)
  return { root, out: options.out ?? tempDir('pxp-out-') }
}

export function build(p: Project, env: NodeJS.ProcessEnv = {}, extraArgs: string[] = []): Promise<CliRun> {
  return runCli(['build', '--out', p.out, '--os', 'linux', '--arch', 'amd64', '--no-upload', '--no-install', '--json', ...extraArgs], { cwd: p.root, env: { ...AWS_TEST_ENV, ...env } })
}

/** The first error of a failed `build --json` (per-target or whole-run). */
export function firstError(run: CliRun): { code: string; message: string; hint?: string; details?: Record<string, unknown> } {
  return run.json?.errors?.[0] ?? run.json?.error
}

export function readJson(file: string): any {
  return JSON.parse(readFileSync(file, 'utf8'))
}

export const targetReport = (out: string) => readJson(join(BUNDLE_DIR(out), 'report.json'))

/**
 * `pxp verify --trust` and `openssl cms -verify` both accept the bundle; returns pxp's verdict.
 * `cli: false` runs the same verifier in-process (verifyBundle) to spare a CLI start.
 */
export async function expectVerifies(out: string, rootPem: string, options: { cli?: boolean } = {}): Promise<any> {
  let verdict: any
  if (options.cli === false) {
    verdict = await verifyBundle(BUNDLE(out), { trust: [rootPem] })
    expect(verdict, JSON.stringify(verdict.errors)).toMatchObject({ ok: true, signed: true })
  } else {
    const verify = await runCli(['verify', BUNDLE(out), '--trust', rootPem, '--json'])
    expect(verify.json, verify.stderr).toMatchObject({ ok: true, signed: true })
    verdict = verify.json
  }
  const dir = BUNDLE_DIR(out)
  const der = Buffer.from(readFileSync(join(dir, 'manifest.signature'), 'utf8').trim(), 'base64')
  const work = tempDir('pxp-cms-')
  writeFileSync(join(work, 'sig.der'), der)
  const status = opensslStatus(['cms', '-verify', '-binary', '-inform', 'DER', '-in', 'sig.der', '-content', join(dir, 'integrity.txt'), '-CAfile', rootPem, '-purpose', 'any', '-out', '/dev/null'], work)
  expect(status, status.stderr).toMatchObject({ ok: true })
  return verdict
}

/** The parts of the plugin context a signer uses, recording what it reports (for fast plugin-level tests). */
export function signerContext(options: { signal?: AbortSignal; warnDays?: number } = {}) {
  const warnings: Array<{ code: string; message: string }> = []
  const audit: Array<{ action: string; metadata?: Record<string, unknown> }> = []
  const logs: string[] = []
  const facts: Record<string, unknown> = {}
  const redacted: string[] = []
  const log = (...args: unknown[]) => logs.push(args.map(String).join(' '))
  const ctx = {
    config: { root: '/', offline: { certExpiryWarnDays: options.warnDays ?? 14 }, signing: { enabled: true } },
    signal: options.signal ?? new AbortController().signal,
    logger: { info: log, warn: log, error: log, debug: log, log },
    warn: (w: { code: string; message: string }) => warnings.push(w),
    error: (e: { code: string; message: string; hint?: string; exitCode?: 1 | 2 }) => {
      throw new PxpError(e.code, e.message, { hint: e.hint, exitCode: e.exitCode })
    },
    audit: (action: string, metadata?: Record<string, unknown>) => audit.push({ action, metadata }),
    report: (f: Record<string, unknown>) => Object.assign(facts, f),
    redact: (secret: string | undefined) => secret && redacted.push(secret),
  } as unknown as PluginContext
  return { ctx, warnings, audit, logs, facts, redacted }
}

type Hook = (this: PluginContext, ...args: any[]) => Promise<any>
export const callHook = (plugin: PxpPlugin, hook: 'resolveSigner' | 'sign', ctx: PluginContext, ...args: unknown[]) => (plugin[hook] as Hook).call(ctx, ...args)

/** Resolves (and optionally signs with) a signer plugin; returns the PxpError it throws, or fails. */
export async function rejection(promise: Promise<unknown>): Promise<PxpError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof PxpError) return error
    throw error
  }
  throw new Error('expected a PxpError, got success')
}
