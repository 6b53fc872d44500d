import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import { PxpError } from '../../src/errors.js'
import { runCli } from '../helpers/cli.js'
import { BUNDLE, tempDir, write } from '../helpers/fixtures.js'

const STATIC_PLUGIN = 'id: com.example.zero\nversion: 0.1.0\nruntime:\n  kind: static\n'

describe('config loading (c12)', () => {
  it('builds a repository that has only plugin.yaml, with defaults', async () => {
    const root = tempDir()
    write(root, 'plugin.yaml', STATIC_PLUGIN)
    const run = await runCli(['build', '--json'], { cwd: root })
    expect(run.code, run.stderr).toBe(0)
    const t = run.json.targets[0]
    // Default target: the host, in Go's names; default output: <root>/dist.
    expect(t.pxp).toBe(BUNDLE(join(root, 'dist'), `${t.os}-${t.arch}`, 'com.example.zero', '0.1.0'))
    expect(['linux', 'darwin', 'windows']).toContain(t.os)
  })

  it('merges extends layers, lets the project override a preset-like base key by key, and resolves paths per layer', async () => {
    const root = tempDir()
    write(root, 'team/base.config.ts', `export default { out: './team-out', trust: ['./roots/team.pem'], offline: { targets: [{ os: 'linux', arch: 'arm64' }], ignore: ['docs/**'] }, limits: { maxBundleBytes: 1000 } }\n`)
    write(root, 'px-plugin.config.ts', `import { defineConfig } from 'pxp'\nexport default defineConfig({ extends: ['./team/base.config.ts'], offline: { targets: [{ os: 'linux', arch: 'amd64' }] }, limits: { onExceed: 'fail' } })\n`)
    const { config } = await loadConfig({ cwd: root, env: {} })
    expect(config.offline.targets).toEqual([{ os: 'linux', arch: 'amd64' }])
    expect(config.offline.ignore).toEqual(['docs/**'])
    expect(config.limits).toEqual({ maxBundleBytes: 1000, onExceed: 'fail' })
    // Relative paths resolve against the layer that set them.
    expect(config.out).toBe(join(root, 'team', 'team-out'))
    expect(config.trust).toEqual([join(root, 'team', 'roots', 'team.pem')])
    expect(config.configFile).toBe(join(root, 'px-plugin.config.ts'))
  })

  it('applies $production / $development / $env keys by environment name', async () => {
    const root = tempDir()
    write(root, 'px-plugin.config.ts', `export default { limits: { onExceed: 'warn' }, $production: { limits: { onExceed: 'fail' } }, $env: { staging: { out: './staging-out' } } }\n`)
    expect((await loadConfig({ cwd: root, env: {} })).config.limits.onExceed).toBe('fail')
    expect((await loadConfig({ cwd: root, env: {}, envName: 'development' })).config.limits.onExceed).toBe('warn')
    expect((await loadConfig({ cwd: root, env: {}, envName: 'staging' })).config.out).toBe(join(root, 'staging-out'))
  })

  it('reads .env and the PX_* variables, with flags above both', async () => {
    const root = tempDir()
    write(root, '.env', 'PX_TRUST_ROOTS=/etc/pxp/root-a.pem,/etc/pxp/root-b.pem\n')
    write(root, 'px-plugin.config.ts', `export default { artifactStore: { type: 's3', bucket: 'releases' }, signer: { type: 'http', url: 'https://sign.invalid' } }\n`)
    const env = { PX_ARTIFACT_STORE_ENDPOINT: 'http://127.0.0.1:9000', PX_SIGNING_ENDPOINT: 'http://127.0.0.1:9100/sign' } as NodeJS.ProcessEnv
    // c12 loads .env into process.env; pass it through the same object the loader reads.
    const { config } = await loadConfig({ cwd: root, env: Object.assign(process.env, env) })
    expect(config.trust).toEqual(['/etc/pxp/root-a.pem', '/etc/pxp/root-b.pem'])
    expect(config.artifactStore).toMatchObject({ type: 's3', bucket: 'releases', endpoint: 'http://127.0.0.1:9000' })
    expect(config.signer).toMatchObject({ type: 'http', url: 'http://127.0.0.1:9100/sign' })
    const flagged = await loadConfig({ cwd: root, env: process.env, overrides: { out: '/tmp/flag-out' } })
    expect(flagged.config.out).toBe('/tmp/flag-out')
    for (const key of ['PX_ARTIFACT_STORE_ENDPOINT', 'PX_SIGNING_ENDPOINT', 'PX_TRUST_ROOTS']) delete process.env[key]
  })

  it('PX_CLI_SIGNING=0 turns signing off and PX_OFFLINE_IMPORT=0 ignores the offline section', async () => {
    const root = tempDir()
    write(root, 'px-plugin.config.ts', `export default { offline: { targets: [{ os: 'windows', arch: 'amd64' }] } }\n`)
    const off = await loadConfig({ cwd: root, env: { PX_CLI_SIGNING: '0', PX_OFFLINE_IMPORT: '0' }, approval: 'CHG-1' })
    expect(off.config.signing).toEqual({ enabled: false, approval: 'CHG-1' })
    expect(off.config.offline.targets).not.toEqual([{ os: 'windows', arch: 'amd64' }])
  })

  it('names the key path and the layer file of an invalid value, even when it is inherited', async () => {
    const root = tempDir()
    write(root, 'base.config.ts', `export default { offline: { targets: [{ os: 'linux', arch: 'sparc' }] } }\n`)
    write(root, 'px-plugin.config.ts', `export default { extends: ['./base.config.ts'], limits: { maxBundleBytes: -5 } }\n`)
    const error = await loadConfig({ cwd: root, env: {} }).catch((e) => e as PxpError)
    expect(error).toBeInstanceOf(PxpError)
    expect(error.exitCode).toBe(2)
    expect(error.message).toContain(`offline.targets[0].arch must be one of`)
    expect(error.message).toContain(`(in ${join(root, 'base.config.ts')})`)
    expect(error.message).toContain(`limits.maxBundleBytes must be a positive number (in ${join(root, 'px-plugin.config.ts')})`)
  })

  it('refuses a literal secret in a committed config', async () => {
    const root = tempDir()
    write(root, 'px-plugin.config.ts', `export default { sandbox: { url: 'http://127.0.0.1:1', tenant: 'dev', token: 'abc123456' } }\n`)
    const error = await loadConfig({ cwd: root, env: {} }).catch((e) => e as PxpError)
    expect(error.code).toBe('CONFIG_INVALID')
    expect(error.message).toMatch(/sandbox\.token is a literal secret; put it in an env var and reference it with `tokenEnv`/)
    expect(error.message).not.toContain('abc123456')
  })

  it('exits 2 when --config names a missing file', async () => {
    const root = tempDir()
    write(root, 'plugin.yaml', STATIC_PLUGIN)
    const run = await runCli(['build', '--config', 'nope.config.ts'], { cwd: root })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/Config file .*nope\.config\.ts does not exist/)
  })
})
