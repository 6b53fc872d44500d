import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { build } from '../../src/pipeline/run.js'
import { definePlugin, type PxpPlugin } from '../../src/plugin-api.js'
import { PluginDriver } from '../../src/host/driver.js'
import { HOOK_KINDS } from '../../src/host/hooks.js'
import { createConsola } from 'consola'
import { BUNDLE, copyPlayground, tempDir, write } from '../helpers/fixtures.js'

const quiet = () => createConsola({ level: -999 })
const onlyAmd64 = { os: 'linux', arch: 'amd64', upload: false, install: false } as const

describe('hook kinds are data', () => {
  it('matches the lifecycle table of plugin-host.md', () => {
    expect(HOOK_KINDS).toEqual({
      configResolved: 'sequential', collect: 'parallel', transform: 'sequential', hash: 'first', resolveSigner: 'first',
      sign: 'first', emit: 'sequential', upload: 'parallel', install: 'first', buildEnd: 'parallel',
    })
  })

  it('first stops at the first non-null result; sequential awaits in order; parallel overlaps', async () => {
    const calls: string[] = []
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
    const plugins: PxpPlugin[] = [
      { name: 'a', async install() { calls.push('install:a'); return null }, async emit() { await sleep(20); calls.push('emit:a') }, async upload() { calls.push('upload:a:start'); await sleep(30); calls.push('upload:a:end'); return null } },
      { name: 'b', async install() { calls.push('install:b'); return { status: 'running' } }, async emit() { calls.push('emit:b') }, async upload() { calls.push('upload:b:start'); await sleep(5); calls.push('upload:b:end'); return null } },
      { name: 'c', async install() { calls.push('install:c'); return { status: 'never' } } },
    ]
    const driver = new PluginDriver(plugins, () => ({}) as never)
    const first = await driver.run('install', [], [])
    expect(first.value).toEqual({ status: 'running' })
    expect(first.plugin?.name).toBe('b')
    await driver.run('emit', {} as never)
    await driver.run('upload', [])
    expect(calls).toEqual(['install:a', 'install:b', 'emit:a', 'emit:b', 'upload:a:start', 'upload:b:start', 'upload:b:end', 'upload:a:end'])
  })
})

describe('the plugin host in a real build', () => {
  it('orders by enforce, then by per-hook order, honours apply, filters transform and always calls buildEnd', async () => {
    const root = copyPlayground()
    const seen: string[] = []
    const mark = (name: string): PxpPlugin => ({ name, configResolved() { seen.push(`configResolved:${name}`) } })
    const result = await build({
      cwd: root,
      ...onlyAmd64,
      overrides: { out: tempDir() },
      logger: quiet(),
      env: {},
      // Plugins from config are given inline here; the same objects work in px-plugin.config.ts.
    } as never).catch((e) => e)
    expect(result.ok).toBe(true)

    const root2 = copyPlayground()
    write(root2, 'px-plugin.config.ts', 'export default {}\n')
    const out = tempDir()
    const transformed: string[] = []
    const plugins: PxpPlugin[] = [
      { ...mark('post'), enforce: 'post' },
      mark('normal'),
      { ...mark('pre'), enforce: 'pre' },
      { name: 'late-hook', configResolved: { order: 'post', handler() { seen.push('configResolved:late-hook') } } },
      { name: 'verify-only', apply: 'verify', configResolved() { seen.push('configResolved:verify-only') } },
      { name: 'never', apply: () => false, configResolved() { seen.push('configResolved:never') } },
      {
        name: 'stamp-json',
        transform: {
          filter: { include: ['docs/contracts/**/*.json'], exclude: [/events/] },
          async handler(file, read) {
            transformed.push(file.path)
            const json = JSON.parse((await read()).toString('utf8'))
            return { content: JSON.stringify({ ...json, 'x-stamped': true }) }
          },
        },
      },
      { name: 'drop-css', transform: { filter: { include: '**/*.css' }, handler: () => null } },
      { name: 'ends', buildEnd(info) { seen.push(`buildEnd:${info.ok}`) } },
    ]
    const built = await build({ cwd: root2, ...onlyAmd64, overrides: { out, plugins }, logger: quiet(), env: {} })
    expect(built.ok).toBe(true)
    const order = seen.filter((s) => s.startsWith('configResolved:'))
    expect(order).toEqual(['configResolved:pre', 'configResolved:normal', 'configResolved:post', 'configResolved:late-hook'])
    expect(transformed).toEqual(['docs/contracts/openapi.json'])
    const listing = execFileSync('tar', ['-tzf', BUNDLE(out)], { encoding: 'utf8' })
    expect(listing).not.toMatch(/\.css/)
    const extracted = tempDir()
    execFileSync('tar', ['-xzf', BUNDLE(out), '-C', extracted])
    expect(JSON.parse(readFileSync(join(extracted, 'docs/contracts/openapi.json'), 'utf8'))['x-stamped']).toBe(true)
    execFileSync('sha256sum', ['-c', '--quiet', 'integrity.txt'], { cwd: extracted })
    expect(seen).toContain('buildEnd:true')
  })

  it('calls buildEnd with the error when a hook throws, and reports plugin and hook', async () => {
    const root = copyPlayground()
    const ends: Array<{ ok: boolean; code?: string; plugin?: string; hook?: string }> = []
    const result = await build({
      cwd: root,
      ...onlyAmd64,
      logger: quiet(),
      env: {},
      overrides: {
        out: tempDir(),
        plugins: [
          { name: 'boom', hash() { throw new Error('disk on fire') } , enforce: 'pre' },
          { name: 'watcher', buildEnd(info) { ends.push({ ok: info.ok, code: info.error?.code, plugin: info.error?.plugin, hook: info.error?.hook }) } },
        ],
      },
    })
    expect(result.ok).toBe(false)
    expect(ends).toEqual([{ ok: false, code: 'PLUGIN_FAILED', plugin: 'boom', hook: 'hash' }])
    expect(result.errors[0]!.error.message).toMatch(/Plugin "boom" failed in its hash hook: disk on fire/)
  })

  it('loads factories, local .ts plugins and npm packages through jiti, and flattens presets in order', async () => {
    const root = copyPlayground()
    write(root, 'tools/stamp.ts', `import { definePlugin } from 'pxp'\ninterface Options { text: string }\nexport default definePlugin((o: Options) => ({ name: 'local-stamp', collect() { this.addFile({ path: 'extensions/stamp.txt', content: o.text }) } }))\n`)
    write(root, 'node_modules/pxp-plugin-hello/package.json', JSON.stringify({ name: 'pxp-plugin-hello', version: '1.0.0', type: 'module', main: 'index.js' }))
    write(root, 'node_modules/pxp-plugin-hello/index.js', `export default () => ({ name: 'npm-hello', collect() { this.addFile({ path: 'extensions/npm.txt', content: 'from npm' }) } })\n`)
    write(root, 'presets/team.ts', `export default { name: 'team', plugins: [{ name: 'team-a', collect() { this.addFile({ path: 'extensions/order.txt', content: 'team' }) } }], config: { offline: { ignore: ['docs/**'] } } }\n`)
    write(root, 'px-plugin.config.ts', `export default {\n  presets: ['./presets/team.ts'],\n  plugins: [['./tools/stamp.ts', { text: 'stamped' }], 'pxp-plugin-hello', () => ({ name: 'inline-factory' })],\n}\n`)
    const out = tempDir()
    const names: string[] = []
    const result = await build({ cwd: root, ...onlyAmd64, logger: quiet(), env: {}, overrides: { out, plugins: [{ name: 'spy', configResolved() {}, buildEnd() {} }] } })
    expect(result.ok, result.errors[0]?.error.message).toBe(true)
    const extracted = tempDir()
    execFileSync('tar', ['-xzf', BUNDLE(out), '-C', extracted])
    expect(readFileSync(join(extracted, 'extensions/stamp.txt'), 'utf8')).toBe('stamped')
    expect(readFileSync(join(extracted, 'extensions/npm.txt'), 'utf8')).toBe('from npm')
    expect(readFileSync(join(extracted, 'extensions/order.txt'), 'utf8')).toBe('team')
    // The preset's config applied (docs/ ignored) while the project could still override it.
    expect(execFileSync('tar', ['-tzf', BUNDLE(out)], { encoding: 'utf8' })).not.toMatch(/^docs\//m)
    const audit = readFileSync(join(out, 'audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
    const started = audit.find((e) => e.action === 'build.started')
    names.push(...started.metadata.plugins)
    // default preset, then the team preset, then the project's plugins (CLI layer's first, as the top layer).
    const defaults = names.slice(0, names.indexOf('team-a'))
    expect(defaults).toEqual(expect.arrayContaining(['collect-fs', 'hash-sha256', 'emit-pxp', 'report']))
    expect(defaults.every((n) => !['local-stamp', 'npm-hello', 'inline-factory', 'spy'].includes(n))).toBe(true)
    expect(names).toEqual(expect.arrayContaining(['local-stamp', 'npm-hello', 'inline-factory', 'spy']))
    expect(names.indexOf('team-a')).toBeLessThan(names.indexOf('local-stamp'))
  })

  it('gives hooks a context: logger, warn with codes into report and audit, metric, audit, emitFile', async () => {
    const root = copyPlayground()
    const out = tempDir()
    const plugin = definePlugin({
      name: 'ctx-probe',
      collect() {
        this.warn({ code: 'TEAM_RULE', message: 'README is short' })
        this.metric('team.files', 3, { kind: 'probe' })
        this.audit('team.checked', { rule: 'readme' })
        this.logger.info('probing')
      },
      async emit() {
        await this.emitFile({ fileName: 'sbom.json', content: '{"sbom":true}\n' })
      },
    })
    const result = await build({ cwd: root, ...onlyAmd64, logger: quiet(), env: {}, overrides: { out, plugins: [plugin] } })
    expect(result.ok).toBe(true)
    const t = result.targets[0]!
    expect(t.warnings).toContainEqual({ code: 'TEAM_RULE', message: 'README is short', plugin: 'ctx-probe' })
    expect(t.metrics).toContainEqual({ name: 'team.files', value: 3, tags: { kind: 'probe' } })
    expect(readFileSync(join(out, 'com.powerx.plugins.hello/1.2.0/linux-amd64/sbom.json'), 'utf8')).toBe('{"sbom":true}\n')
    const report = JSON.parse(readFileSync(join(out, 'com.powerx.plugins.hello/1.2.0/linux-amd64/report.json'), 'utf8'))
    expect(report.warnings).toContainEqual({ code: 'TEAM_RULE', message: 'README is short', plugin: 'ctx-probe' })
    const audit = readFileSync(join(out, 'audit.log'), 'utf8')
    expect(audit).toMatch(/"action":"team.checked","actor":"[^"]+","metadata":\{"plugin":"ctx-probe","target":"linux-amd64","rule":"readme"\}/)
    expect(readFileSync(join(out, 'dist.log'), 'utf8')).toMatch(/"tag":"ctx-probe","message":"probing"/)
  })
})
