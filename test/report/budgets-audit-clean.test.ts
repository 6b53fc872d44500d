import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { BUNDLE, BUNDLE_DIR, copyPlayground, sha256File, tempDir, write } from '../helpers/fixtures.js'

const BUILD = ['build', '--no-upload', '--no-install', '--os', 'linux', '--arch', 'amd64', '--json']

describe('size budgets', () => {
  let root: string
  let out: string
  let good: string
  beforeAll(async () => {
    root = copyPlayground()
    out = tempDir()
    expect((await runCli([...BUILD, '--out', out], { cwd: root })).code).toBe(0)
    good = sha256File(BUNDLE(out))
  })

  it('lists the largest files and the size per top-level folder in report.json', () => {
    const report = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8'))
    expect(report.sizes.bundle_bytes).toBe(readFileSync(BUNDLE(out)).length)
    expect(Object.keys(report.sizes.by_folder)).toEqual(expect.arrayContaining(['backend', 'web-admin', 'migrations', 'docs', '.']))
    const largest = report.sizes.largest_files
    expect(largest.length).toBeGreaterThan(3)
    expect(largest[0].size).toBeGreaterThanOrEqual(largest[1].size)
    expect(report.sizes.uncompressed_bytes).toBe(Object.values(report.sizes.by_folder as Record<string, number>).reduce((a, b) => a + b, 0))
  })

  it('fails an over-budget frontend by default, naming the budget, and keeps the last bundle', async () => {
    write(root, 'px-plugin.config.ts', 'export default { limits: { maxFrontendBytes: 100 } }\n')
    const run = await runCli([...BUILD, '--out', out], { cwd: root })
    expect(run.code).toBe(1)
    expect(run.json.errors[0].code).toBe('SIZE_BUDGET_EXCEEDED')
    expect(run.json.errors[0].message).toMatch(/web-admin\/ is 0\.0 MiB, over the frontend budget of 0\.0 MiB \(limits\.maxFrontendBytes\)/)
    expect(sha256File(BUNDLE(out))).toBe(good)
  })

  it('only warns when that budget is set to warn, and records it in report.json', async () => {
    write(root, 'px-plugin.config.ts', "export default { limits: { maxFrontendBytes: 100, onExceed: { frontend: 'warn' } } }\n")
    const run = await runCli([...BUILD, '--out', out], { cwd: root })
    expect(run.code).toBe(0)
    const report = JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8'))
    expect(report.warnings.map((w: any) => w.code)).toContain('SIZE_BUDGET_EXCEEDED')
    good = sha256File(BUNDLE(out))
  })

  it('checks the compressed bundle against the bundle budget before it replaces the last one', async () => {
    write(root, 'px-plugin.config.ts', 'export default { limits: { maxBundleBytes: 1000 } }\n')
    const run = await runCli([...BUILD, '--out', out], { cwd: root })
    expect(run.code).toBe(1)
    expect(run.json.errors[0].message).toMatch(/The bundle is .* over the bundle budget/)
    expect(sha256File(BUNDLE(out))).toBe(good)
  })
})

describe('pxp audit verify', () => {
  it('accepts an intact chain and names the first edited or deleted line', async () => {
    const root = copyPlayground()
    const out = tempDir()
    await runCli([...BUILD, '--out', out], { cwd: root })
    await runCli([...BUILD, '--out', out], { cwd: root })
    const log = join(out, 'audit.log')
    const ok = await runCli(['audit', 'verify', log, '--json'])
    expect(ok.code).toBe(0)
    expect(ok.json).toMatchObject({ ok: true })
    expect(ok.json.lines).toBeGreaterThan(6)
    // Without FILE it finds <out>/audit.log through the project's config.
    write(root, 'px-plugin.config.ts', `export default { out: ${JSON.stringify(out)} }\n`)
    const implicit = await runCli(['audit', 'verify'], { cwd: root })
    expect(implicit.stderr + implicit.stdout, String(implicit.code)).toMatch(/hash chain intact/)

    const lines = readFileSync(log, 'utf8').split('\n')
    const edited = [...lines]
    edited[3] = edited[3]!.replace('"build.', '"build-')
    writeFileSync(log, edited.join('\n'))
    const broken = await runCli(['audit', 'verify', log, '--json'])
    expect(broken.code).toBe(1)
    expect(broken.json).toMatchObject({ ok: false, brokenAt: 5 })

    writeFileSync(log, lines.filter((_, i) => i !== 2).join('\n'))
    const deleted = await runCli(['audit', 'verify', log])
    expect(deleted.code).toBe(1)
    expect(deleted.stderr).toMatch(/line 3: prev does not match the SHA-256 of line 2/)
  })
})

describe('pxp clean', () => {
  it('keeps failed-run staging with its report until clean, and never touches bundles', async () => {
    const root = copyPlayground()
    const out = tempDir()
    expect((await runCli([...BUILD, '--out', out], { cwd: root })).code).toBe(0)
    expect(existsSync(join(out, '.tmp'))).toBe(true)
    expect(readdirSync(join(out, '.tmp'))).toEqual([])
    // A rebuild discards the bundle it replaces into .trash (the next run deletes it).
    expect((await runCli([...BUILD, '--out', out], { cwd: root })).code).toBe(0)
    expect(readdirSync(join(out, '.trash'))).toHaveLength(1)
    write(root, 'config/.env', 'X=1\n')
    expect((await runCli([...BUILD, '--out', out], { cwd: root })).code).toBe(1)
    const [failed] = readdirSync(join(out, '.tmp'))
    const failure = JSON.parse(readFileSync(join(out, '.tmp', failed!, 'report.json'), 'utf8'))
    expect(failure.ok).toBe(false)
    expect(failure.targets[0].error.code).toBe('SECRET_IN_TREE')

    const dry = await runCli(['clean', '--dry-run', '--out', out, '--json'], { cwd: root })
    expect(dry.json.removed.map((r: any) => r.path)).toEqual(expect.arrayContaining([join(out, '.tmp'), join(out, '.trash')]))
    expect(existsSync(join(out, '.tmp', failed!))).toBe(true)
    const real = await runCli(['clean', '--out', out], { cwd: root })
    expect(real.code).toBe(0)
    expect(existsSync(join(out, '.tmp'))).toBe(false)
    expect(existsSync(join(out, '.trash'))).toBe(false)
    expect(existsSync(BUNDLE(out))).toBe(true)
    expect(existsSync(join(out, 'audit.log'))).toBe(true)
  })

  it('prunes automatically to the newest three failed runs', async () => {
    const root = copyPlayground()
    const out = tempDir()
    write(root, 'config/.env', 'X=1\n')
    for (let i = 0; i < 5; i++) await runCli([...BUILD, '--out', out], { cwd: root })
    expect(readdirSync(join(out, '.tmp'))).toHaveLength(4) // three kept + the one that just failed
  })
})
