import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { pxpBin, runCli, userEnv } from '../helpers/cli.js'
import { BUNDLE, copyPlayground, sha256File, tempDir, write } from '../helpers/fixtures.js'

const FLAGS = ['--no-upload', '--no-install', '--os', 'linux', '--arch', 'amd64']

/** `pxp build --watch` as a real child process, read line by line. */
class WatchRun {
  readonly child: ChildProcessWithoutNullStreams
  readonly lines: string[] = []
  stderr = ''
  private waiting: Array<() => void> = []
  readonly exited: Promise<number>

  constructor(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [pxpBin, 'build', '--watch', ...args], { cwd, env: userEnv(env) })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.lines.push(line)
      for (const wake of this.waiting.splice(0)) wake()
    })
    this.child.stderr.on('data', (d) => {
      this.stderr += d
      for (const wake of this.waiting.splice(0)) wake()
    })
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code ?? -1)))
  }

  /** Waits until `done()` holds (checked after every output), or fails after `ms`. */
  async until(done: () => boolean, what: string, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`)
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve)
        setTimeout(resolve, 200)
      })
    }
  }

  /** The `n`th build's JSON line (1-based). */
  async build(n: number): Promise<any> {
    await this.until(() => this.lines.length >= n, `build ${n}`)
    return JSON.parse(this.lines[n - 1]!)
  }

  async stop(): Promise<number> {
    this.child.kill('SIGINT')
    return this.exited
  }
}

const running: WatchRun[] = []
afterEach(() => {
  for (const run of running.splice(0)) run.child.kill('SIGKILL')
})
function startWatch(args: string[], cwd: string, env?: NodeJS.ProcessEnv): WatchRun {
  const run = new WatchRun(args, cwd, env)
  running.push(run)
  return run
}

const entry = (bundle: string, path: string) => spawnSync('tar', ['-xzOf', bundle, path], { encoding: 'utf8' })

describe('pxp build --watch', () => {
  it('rebuilds on a change with the bytes of a cold build, reports a broken save and keeps watching', async () => {
    const root = copyPlayground()
    const watch = startWatch(['--json', ...FLAGS], root)
    const first = await watch.build(1)
    expect(first).toMatchObject({ ok: true, changed: [] })
    const bundle = BUNDLE(join(root, 'dist'))
    expect(first.targets[0].pxp).toBe(bundle)

    write(root, 'web-admin/.output/public/index.html', '<!doctype html><title>changed while watching</title>\n')
    const second = await watch.build(2)
    expect(second.ok).toBe(true)
    expect(second.changed).toEqual(['web-admin/.output/public/index.html'])
    expect(second.targets[0].sha256).not.toBe(first.targets[0].sha256)
    expect(sha256File(bundle)).toBe(second.targets[0].sha256)
    expect(entry(bundle, 'web-admin/.output/public/index.html').stdout).toBe('<!doctype html><title>changed while watching</title>\n')
    // The rebuild wrote exactly what a one-shot build without any cache writes.
    const cold = tempDir()
    expect((await runCli(['build', ...FLAGS, '--out', cold], { cwd: root, env: { PXP_NO_CACHE: '1' } })).code).toBe(0)
    expect(sha256File(BUNDLE(cold))).toBe(second.targets[0].sha256)

    // The build's own outputs (dist/ inside the plugin root) never start another build.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(watch.lines.map((line) => JSON.parse(line).changed), watch.stderr).toEqual([[], ['web-admin/.output/public/index.html']])

    // A broken plugin.yaml fails that build, names the file and leaves the last bundle in place.
    const descriptor = readFileSync(join(root, 'plugin.yaml'), 'utf8')
    writeFileSync(join(root, 'plugin.yaml'), 'id: [unclosed\n')
    const broken = await watch.build(3)
    expect(broken.ok).toBe(false)
    expect(broken.errors[0]).toMatchObject({ code: 'DESCRIPTOR_MALFORMED' })
    expect(broken.errors[0].message).toContain('plugin.yaml')
    expect(sha256File(bundle)).toBe(second.targets[0].sha256)

    writeFileSync(join(root, 'plugin.yaml'), descriptor)
    const fixed = await watch.build(4)
    expect(fixed.ok).toBe(true)
    expect(fixed.targets[0].sha256).toBe(second.targets[0].sha256)

    // Ctrl-C ends watch mode with the exit code of the last build.
    expect(await watch.stop()).toBe(0)
  })

  it('recovers from a broken config and applies each config change to the next build', async () => {
    const root = copyPlayground()
    const out = tempDir()
    const config = join(root, 'px-plugin.config.ts')
    writeFileSync(config, "export default { offline: { ignore: 'README.md' } }\n") // ignore must be a list
    const watch = startWatch([...FLAGS, '--out', out], root)
    await watch.until(() => /offline\.ignore/.test(watch.stderr) && /Failed in \d+ ms\. Watching/.test(watch.stderr), 'the config error')
    expect(existsSync(BUNDLE(out))).toBe(false)

    writeFileSync(config, "export default { offline: { ignore: ['README.md'] } }\n")
    await watch.until(() => /Changed: px-plugin\.config\.ts; rebuilding/.test(watch.stderr) && /Built in \d+ ms/.test(watch.stderr), 'the fixed build')
    const listed = () => spawnSync('tar', ['-tzf', BUNDLE(out)], { encoding: 'utf8' }).stdout.split('\n')
    expect(listed()).not.toContain('README.md')
    expect(listed()).toContain('plugin.yaml')

    // A layer named in `extends` is read again too.
    const builds = () => watch.stderr.match(/Built in \d+ ms/g)?.length ?? 0
    writeFileSync(join(root, 'team.config.ts'), 'export default { offline: { ignore: [] } }\n')
    writeFileSync(config, "export default { extends: ['./team.config.ts'] }\n")
    await watch.until(() => builds() === 2, 'the rebuild after the config change')
    expect(listed()).toContain('README.md')
    writeFileSync(join(root, 'team.config.ts'), "export default { offline: { ignore: ['README.md'] } }\n")
    await watch.until(() => builds() === 3, 'the rebuild after the layer change')
    expect(listed()).not.toContain('README.md')

    // The last build succeeded: Ctrl-C exits 0.
    expect(await watch.stop()).toBe(0)
    expect(watch.stderr).toContain('Stopped watching.')
  })

  it('follows the config to a new output directory without building its own writes there', async () => {
    const root = copyPlayground()
    const watch = startWatch(['--json', ...FLAGS], root)
    const first = await watch.build(1)
    expect(first.targets[0].pxp).toBe(BUNDLE(join(root, 'dist')))

    writeFileSync(join(root, 'px-plugin.config.ts'), "export default { out: 'release' }\n")
    const moved = await watch.build(2)
    expect(moved.ok).toBe(true)
    expect(moved.targets[0].pxp).toBe(BUNDLE(join(root, 'release')))
    expect(sha256File(BUNDLE(join(root, 'release')))).toBe(moved.targets[0].sha256)
    // Written before the watcher knew release/ was the output: still not a change to build.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(watch.lines.map((line) => JSON.parse(line).changed), watch.stderr).toEqual([[], ['px-plugin.config.ts']])

    // An edit after the move builds into release/ once.
    write(root, 'README.md', '# moved\n')
    const edited = await watch.build(3)
    expect(edited.changed).toEqual(['README.md'])
    expect(entry(BUNDLE(join(root, 'release')), 'README.md').stdout).toBe('# moved\n')
    expect(await watch.stop()).toBe(0)
  })

  it('stops a running build on Ctrl-C, keeps the last bundle and exits with the last finished build', async () => {
    // A plugin whose collect hook waits (honouring the abort signal) while SLOW exists in the root,
    // so Ctrl-C surely lands in the middle of a build. It says so in a file outside the tree.
    const root = copyPlayground()
    const marker = join(tempDir(), 'collect-waiting')
    writeFileSync(
      join(root, 'px-plugin.config.ts'),
      `import { existsSync, writeFileSync } from 'node:fs'
export default {
  plugins: [{
    name: 'slow-while-SLOW',
    async collect() {
      if (!existsSync(${JSON.stringify(join(root, 'SLOW'))})) return
      writeFileSync(process.env.MARKER, 'waiting')
      await new Promise((_, reject) => {
        const hanging = setTimeout(() => reject(new Error('never cancelled')), 60_000)
        this.signal.addEventListener('abort', () => (clearTimeout(hanging), reject(this.signal.reason)))
      })
    },
  }],
}
`,
    )

    // Interrupted before any build finished: 130, and nothing written.
    write(root, 'SLOW', '')
    let watch = startWatch([...FLAGS], root, { MARKER: marker })
    await watch.until(() => existsSync(marker), 'the first build to wait in collect')
    expect(await watch.stop()).toBe(130)
    expect(existsSync(BUNDLE(join(root, 'dist')))).toBe(false)

    rmSync(join(root, 'SLOW'))
    rmSync(marker)
    watch = startWatch(['--json', ...FLAGS], root, { MARKER: marker })
    const first = await watch.build(1)
    expect(first.ok).toBe(true)
    write(root, 'SLOW', '')
    await watch.until(() => existsSync(marker), 'the rebuild to wait in collect')
    expect(await watch.stop()).toBe(0)
    // The interrupted rebuild reported nothing and replaced nothing.
    expect(watch.lines).toHaveLength(1)
    expect(sha256File(BUNDLE(join(root, 'dist')))).toBe(first.targets[0].sha256)
  })

  it('refuses --resume with --watch as a usage error', async () => {
    const root = copyPlayground()
    const run = await runCli(['build', '--watch', '--resume', ...FLAGS], { cwd: root })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/--resume and --watch do not go together/)
  })
})
