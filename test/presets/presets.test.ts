/**
 * The built-in presets (presets/*) build the playground through the shipped CLI, with loopback
 * stand-ins where a preset needs a service: a NAS directory (powerx-intranet), the loopback KMS of
 * test/helpers/kms-server.ts (holding the dev signing key) plus s3rver for S3 (aws), and s3rver for
 * OSS's S3-compatible API (aliyun), and the local sandbox (`pxp sandbox`, a real child process)
 * that powerx-intranet installs into.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ListObjectsV2Command } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// The compiled loader, as shipped (and so jiti loads the compiled pxp for `import … from 'pxp'`).
import { loadConfig } from '../../dist/src/config/load.js'
import { runCli } from '../helpers/cli.js'
import { BUNDLE, copyPlayground, tempDir, write } from '../helpers/fixtures.js'
import { startS3Server, type S3Server } from '../helpers/s3-server.js'
import { KmsServer } from '../helpers/kms-server.js'
import { AWS_TEST_ENV } from '../helpers/remote-signing.js'
import { getJson, startSandboxProc, type SandboxProc } from '../helpers/sandbox.js'
import { directClient } from '../stores/s3-helpers.js'

const TARGET = ['--os', 'linux', '--arch', 'amd64']
let keys: string
let s3: S3Server
let kms: KmsServer
let sandbox: SandboxProc
const SANDBOX_TOKEN = 'preset-test-sandbox-token'

beforeAll(async () => {
  keys = tempDir('pxp-preset-keys-')
  const made = await runCli(['keys', 'dev', '--out', keys, '--json'])
  expect(made.code, made.stderr).toBe(0)
  s3 = await startS3Server('pxp-presets')
  // The KMS key is the dev signing key, under the alias the aws preset uses by default.
  kms = new KmsServer('eu-west-1', [{ id: '5f0c7d1e-0000-4000-8000-00000000a715', keyFile: join(keys, 'dev-signing.key'), aliases: ['alias/powerx-plugin-signing'] }])
  await kms.start()
  sandbox = await startSandboxProc(['--trust', join(keys, 'dev-root-ca.pem')], { env: { PXP_SANDBOX_TOKEN: SANDBOX_TOKEN } })
})
afterAll(async () => {
  await s3?.close()
  await kms?.close()
  await sandbox?.stop()
})

/** A playground copy with the dev keys in ./keys and the given config. */
function project(config: string): string {
  const dir = copyPlayground()
  for (const f of ['dev-root-ca.pem', 'dev-signing.pem', 'dev-signing.key']) write(dir, `keys/${f}`, readFileSync(join(keys, f)))
  write(dir, 'px-plugin.config.ts', config)
  return dir
}

async function buildJson(dir: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const run = await runCli(['build', ...TARGET, '--json', ...extra], { cwd: dir, env })
  expect(run.code, run.stdout + run.stderr).toBe(0)
  expect(run.json.ok).toBe(true)
  return run.json.targets[0]
}

async function verifySigned(dir: string) {
  const run = await runCli(['verify', BUNDLE(join(dir, 'dist')), '--trust', join(dir, 'keys/dev-root-ca.pem'), '--json'], { cwd: dir })
  expect(run.code, run.stdout + run.stderr).toBe(0)
  expect(run.json).toMatchObject({ ok: true, signed: true })
}

describe('built-in presets build the playground', () => {
  it('default: by name is the always-present default plugin set, not a second copy', async () => {
    const dir = project(`import { defineConfig } from 'pxp'\nexport default defineConfig({ presets: ['pxp/presets/default', 'default'] })\n`)
    const target = await buildJson(dir)
    expect(existsSync(target.pxp)).toBe(true)
    expect(target.signature).toBeNull() // no signer in the default preset
    const loaded = await loadConfig({ cwd: dir, env: {} })
    expect(loaded.presets.map((p) => p.name)).toEqual(['default'])
  })

  it('powerx-intranet: PEM signer, NAS store, install into the local sandbox; options are paths relative to the config file', async () => {
    const dir = project(`import { defineConfig } from 'pxp'
export default defineConfig({
  presets: [['powerx-intranet', { cert: 'keys/dev-signing.pem', key: 'keys/dev-signing.key', nasDir: './nas', trust: ['keys/dev-root-ca.pem'], sandboxUrl: '${sandbox.url}' }]],
  sandbox: { values: { HELLO_BOARD_NAME: 'Intranet' } }, // added to the preset's sandbox section
})
`)
    const target = await buildJson(dir, [], { PXP_SANDBOX_TOKEN: SANDBOX_TOKEN })
    expect(target.signature).toBeTruthy()
    expect(target.uploads.map((u: { store: string }) => u.store).join()).toMatch(/fs/)
    const nasBundle = join(dir, 'nas', 'com.powerx.plugins.hello', '1.2.0', 'linux-amd64', 'com.powerx.plugins.hello-1.2.0-linux-amd64.pxp')
    expect(readFileSync(nasBundle).equals(readFileSync(target.pxp))).toBe(true)
    expect(target.install).toMatchObject({ status: 'running', entryUrl: `${sandbox.url}/_p/dev/com.powerx.plugins.hello/` })
    expect((await getJson(target.install.entryUrl)).body.board).toBe('Intranet')
    await verifySigned(dir)
  })

  it('powerx-intranet through `extends`, overridden key by key', async () => {
    const dir = project(`import { defineConfig } from 'pxp'
export default defineConfig({
  extends: ['pxp/presets/powerx-intranet'],
  // only these keys change; type, passphraseEnv, sandbox… stay the preset's
  signer: { cert: 'keys/dev-signing.pem', key: 'keys/dev-signing.key' },
  artifactStore: { dir: './share' },
})
`)
    const loaded = await loadConfig({ cwd: dir, env: {} })
    expect(loaded.presets.map((p) => p.name)).toEqual(['default', 'powerx-intranet'])
    expect(loaded.config.signer).toMatchObject({ type: 'pem', cert: join(dir, 'keys/dev-signing.pem'), passphraseEnv: 'PX_SIGNING_KEY_PASSPHRASE' })
    expect(loaded.config.sandbox).toMatchObject({ url: 'http://127.0.0.1:7077', tenant: 'dev', mode: 'pxp' })
    expect(loaded.config.artifactStore).toEqual({ type: 'fs', dir: join(dir, 'share') })
    await buildJson(dir, ['--no-install'])
    expect(readdirSync(join(dir, 'share', 'com.powerx.plugins.hello', '1.2.0', 'linux-amd64'))).toContain('com.powerx.plugins.hello-1.2.0-linux-amd64.pxp')
    await verifySigned(dir)
  })

  it('aws: KMS signer on a loopback KMS, S3 store on a loopback S3 (s3rver)', async () => {
    const dir = project(`import { defineConfig } from 'pxp'
export default defineConfig({
  presets: [['aws', { bucket: '${s3.bucket}', region: 'eu-west-1', s3Endpoint: '${s3.endpoint}', kmsEndpoint: '${kms.url}', cert: 'keys/dev-signing.pem' }]],
})
`)
    const target = await buildJson(dir, [], { ...AWS_TEST_ENV, PX_ARTIFACT_STORE_ACCESS_KEY: 'S3RVER', PX_ARTIFACT_STORE_SECRET: 'S3RVER' })
    expect(target.signature).toBeTruthy()
    expect(kms.calls.some((c) => c.op === 'Sign' && c.status === 200 && c.keyId === 'alias/powerx-plugin-signing')).toBe(true)
    const client = directClient(s3.endpoint)
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'plugins/' }))
    client.destroy()
    expect((listed.Contents ?? []).map((o) => o.Key)).toContain(`plugins/com.powerx.plugins.hello/1.2.0/linux-amd64/com.powerx.plugins.hello-1.2.0-linux-amd64.pxp`)
    await verifySigned(dir)
  })

  it('aliyun: OSS store through the S3-compatible API of a loopback server', async () => {
    const dir = project(`import { defineConfig } from 'pxp'
export default defineConfig({
  extends: ['aliyun'],
  artifactStore: { bucket: '${s3.bucket}', endpoint: '${s3.endpoint}', forcePathStyle: true, prefix: 'oss/' },
})
`)
    const target = await buildJson(dir, [], { PX_ARTIFACT_STORE_ACCESS_KEY: 'S3RVER', PX_ARTIFACT_STORE_SECRET: 'S3RVER' })
    expect(target.uploads[0]).toMatchObject({ store: `oss-${s3.bucket}` })
    const client = directClient(s3.endpoint)
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'oss/' }))
    client.destroy()
    expect((listed.Contents ?? []).some((o) => o.Key!.endsWith('linux-amd64.pxp'))).toBe(true)
  })
})

describe('team presets and resolution rules', () => {
  const teamPreset = `import { definePreset } from 'pxp'
export default (options: { prefix?: string } = {}) => definePreset({
  name: 'acme',
  config: { limits: { maxBundleBytes: 50_000_000 }, offline: { ignore: ['docs'] }, artifactStore: { type: 'fs', dir: options.prefix ?? './acme-share' } },
})
`
  it('a local file and an npm package both load as presets; later presets override earlier ones', async () => {
    const dir = project(`import { defineConfig } from 'pxp'
export default defineConfig({ presets: ['./team/preset.ts', ['@acme/pxp-preset', { prefix: './pkg-share' }]] })
`)
    write(dir, 'team/preset.ts', teamPreset)
    write(dir, 'node_modules/@acme/pxp-preset/package.json', JSON.stringify({ name: '@acme/pxp-preset', type: 'module', exports: './index.mjs' }))
    write(dir, 'node_modules/@acme/pxp-preset/index.mjs', `export default (o = {}) => ({ name: 'acme-npm', config: { artifactStore: { type: 'fs', dir: o.prefix } } })\n`)
    const loaded = await loadConfig({ cwd: dir, env: {} })
    expect(loaded.presets.map((p) => p.name)).toEqual(['default', 'acme', 'acme-npm'])
    expect(loaded.config.limits.maxBundleBytes).toBe(50_000_000)
    // A package preset's relative paths resolve against the package, a local file's against it.
    expect(loaded.config.artifactStore).toEqual({ type: 'fs', dir: join(dir, 'node_modules/@acme/pxp-preset/pkg-share') })
  })

  it('a preset file in `extends` is a preset, not a config layer', async () => {
    const dir = project(`export default { extends: ['./team/preset.ts'] }\n`)
    write(dir, 'team/preset.ts', teamPreset)
    const loaded = await loadConfig({ cwd: dir, env: {} })
    expect(loaded.presets.map((p) => p.name)).toEqual(['default', 'acme'])
    expect(loaded.config.artifactStore).toEqual({ type: 'fs', dir: join(dir, 'team/acme-share') })
  })

  it('an unknown preset is a config error with a stable code', async () => {
    const dir = project(`export default { presets: ['pxp-preset-does-not-exist'] }\n`)
    const run = await runCli(['build', ...TARGET, '--json'], { cwd: dir })
    expect(run.code).toBe(2)
    expect(run.json.error).toMatchObject({ code: 'PRESET_NOT_FOUND' })
    expect(run.json.error.message).toContain('pxp-preset-does-not-exist')
  })
})
