import { execFileSync, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { pxpBin, runCli, userEnv } from '../helpers/cli.js'
import { BUNDLE, BUNDLE_DIR, copyPlayground, sha256File, tempDir, write } from '../helpers/fixtures.js'
import { SigningService } from '../helpers/signing-service.js'

const BUILD = ['build', '--os', 'linux', '--arch', 'amd64', '--no-install', '--json']

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  await new Promise((r) => server.close(r))
  return port
}

const report = (out: string) => JSON.parse(readFileSync(join(BUNDLE_DIR(out), 'report.json'), 'utf8'))
const distLines = (out: string) => readFileSync(join(out, 'dist.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))

let keys: string
beforeAll(async () => {
  keys = tempDir('pxp-keys-')
  expect((await runCli(['keys', 'dev', '--out', keys])).code).toBe(0)
})

/** A playground copy whose config signs with the DEV key and can be killed at a chosen hook. */
function project(extra = ''): { root: string; out: string } {
  const root = copyPlayground()
  const out = tempDir()
  write(root, 'px-plugin.config.ts', `
const crash = (hook) => async function () {
  if (process.env.CRASH_AT === hook) process.kill(process.pid, 'SIGKILL')
  if (process.env.WAIT_AT === hook) {
    (await import('node:fs')).writeFileSync(process.env.MARKER, hook)
    // Like a call that hangs until cancelled (its timer keeps the process alive, as a socket would).
    await new Promise((_, reject) => {
      const hanging = setTimeout(() => reject(new Error('never cancelled')), 60_000)
      this.signal.addEventListener('abort', () => (clearTimeout(hanging), reject(this.signal.reason)))
    })
  }
}
export default {
  out: ${JSON.stringify(out)},
  signer: { type: 'pem', cert: ${JSON.stringify(join(keys, 'dev-signing.pem'))}, key: ${JSON.stringify(join(keys, 'dev-signing.key'))} },
  trust: [${JSON.stringify(join(keys, 'dev-root-ca.pem'))}],
  plugins: [{ name: 'crash-test', enforce: 'pre', hash: crash('hash'), sign: crash('sign'), upload: crash('upload') }, { name: 'crash-after-emit', enforce: 'post', emit: crash('emit') }],
  ${extra}
}
`)
  return { root, out }
}

async function expectVerifies(out: string): Promise<void> {
  const verify = await runCli(['verify', BUNDLE(out), '--json', '--trust', join(keys, 'dev-root-ca.pem')])
  expect(verify.json, verify.stderr).toMatchObject({ ok: true, signed: true })
}

describe('pxp build --resume', () => {
  it('signs and emits a hashed payload later when the signing service was down, without collecting again', async () => {
    const port = await freePort()
    const { root, out } = project()
    write(root, 'px-plugin.config.ts', readFileSync(join(root, 'px-plugin.config.ts'), 'utf8')
      .replace(/signer: \{[^}]+\}/, `signer: { type: 'http', url: 'http://127.0.0.1:${port}', retries: 0, timeoutMs: 2000 }`))
    const down = await runCli([...BUILD, '--no-upload'], { cwd: root })
    expect(down.code).toBe(1)
    expect(down.json.errors[0].code).toBe('SIGNER_UNREACHABLE')
    expect(existsSync(BUNDLE(out))).toBe(false)
    // dist.log records the failure with its code, place, details and stack.
    const failure = distLines(out).find((l) => l.event === 'dist.target' && !l.ok)
    expect(failure.error).toMatchObject({ code: 'SIGNER_UNREACHABLE', plugin: 'signer-http', details: expect.objectContaining({ signer: 'http' }) })
    expect(failure.error.stack).toMatch(/SIGNER_UNREACHABLE|PxpError/)

    const service = new SigningService({ keyFile: join(keys, 'dev-signing.key'), certFile: join(keys, 'dev-signing.pem') })
    await service.start(port)
    try {
      const resumed = await runCli([...BUILD, '--no-upload', '--resume'], { cwd: root })
      expect(resumed.code, resumed.stderr).toBe(0)
      expect(resumed.stderr).toMatch(/--resume: linux-amd64 continues at sign/)
      // Nothing was collected or hashed again: those stages did not run in the resumed build.
      expect(Object.keys(report(out).durations_ms)).not.toContain('collect')
      expect(Object.keys(report(out).durations_ms)).not.toContain('hash')
      expect(report(out).signing).toMatchObject({ policy: 'signed', signer: 'http' })
      await expectVerifies(out)
    } finally {
      await service.close()
    }
  })

  it('starts clean, saying why, when an input changed since the failed run', async () => {
    const { root, out } = project()
    const killed = await runCli([...BUILD, '--no-upload'], { cwd: root, env: { CRASH_AT: 'sign' } })
    expect(killed.code).not.toBe(0)
    write(root, 'migrations/0003_more.sql', 'SELECT 1;\n')
    const resumed = await runCli([...BUILD, '--no-upload', '--resume'], { cwd: root })
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toMatch(/--resume: starting clean for linux-amd64: .*migrations changed since the interrupted run/)
    expect(Object.keys(report(out).durations_ms)).toContain('collect')
    expect(readFileSync(join(out, 'audit.log'), 'utf8')).toMatch(/"action":"build.resume_declined"/)
    await expectVerifies(out)
  })

  for (const [hook, from] of [['sign', 'sign'], ['emit', 'emit'], ['upload', 'upload']] as const) {
    it(`continues after a build killed during ${hook}`, async () => {
      const store = tempDir('pxp-store-')
      const { root, out } = project(`artifactStore: { type: 'fs', dir: ${JSON.stringify(store)} },`)
      const killed = await runCli(BUILD, { cwd: root, env: { CRASH_AT: hook } })
      expect(killed.code).not.toBe(0)
      // Killed before the commit, no bundle is at its final path; killed after, the bundle is complete.
      expect(existsSync(BUNDLE(out))).toBe(hook === 'upload')
      const resumed = await runCli([...BUILD, '--resume'], { cwd: root })
      expect(resumed.code, resumed.stderr).toBe(0)
      expect(resumed.stderr).toMatch(new RegExp(`--resume: linux-amd64 continues at ${from}`))
      await expectVerifies(out)
      const r = report(out)
      expect(r.uploads.map((u: any) => u.fileName)).toContain('com.powerx.plugins.hello-1.2.0-linux-amd64.pxp')
      expect(existsSync(join(store, 'com.powerx.plugins.hello/1.2.0/linux-amd64/com.powerx.plugins.hello-1.2.0-linux-amd64.pxp'))).toBe(true)
      expect(distLines(out).filter((l) => l.event === 'dist.target').at(-1)).toMatchObject({ ok: true, signer: 'pem' })
    })
  }

  it('stops at Ctrl-C with INTERRUPTED (exit 1), keeps the last bundle, and --resume continues where it stopped', async () => {
    const { root, out } = project()
    expect((await runCli([...BUILD, '--no-upload'], { cwd: root })).code).toBe(0)
    const before = sha256File(BUNDLE(out))
    write(root, 'README.md', '# interrupted while signing\n')
    const marker = join(tempDir(), 'waiting')
    const child = spawn(process.execPath, [pxpBin, ...BUILD, '--no-upload'], { cwd: root, env: userEnv({ WAIT_AT: 'sign', MARKER: marker }) })
    let stdout = ''
    child.stdout.on('data', (d) => (stdout += d))
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)))
    for (const deadline = Date.now() + 30_000; !existsSync(marker); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > deadline) throw new Error('the build never reached sign')
    }
    child.kill('SIGINT')
    expect(await exited).toBe(1)
    expect(JSON.parse(stdout).errors[0]).toMatchObject({ code: 'INTERRUPTED', hint: expect.stringMatching(/untouched/) })
    expect(sha256File(BUNDLE(out))).toBe(before)

    const resumed = await runCli([...BUILD, '--no-upload', '--resume'], { cwd: root })
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toMatch(/--resume: linux-amd64 continues at sign/)
    await expectVerifies(out)
    expect(execFileSync('tar', ['-xzOf', BUNDLE(out), 'README.md'], { encoding: 'utf8' })).toBe('# interrupted while signing\n')
  })

  it('starts clean after a build killed during hashing, and when there is nothing to resume', async () => {
    const { root, out } = project()
    const fresh = await runCli([...BUILD, '--no-upload', '--resume'], { cwd: root })
    expect(fresh.code).toBe(0)
    expect(fresh.stderr).toMatch(/starting clean for linux-amd64: no interrupted or failed run of this target to resume/)
    const killed = await runCli([...BUILD, '--no-upload'], { cwd: root, env: { CRASH_AT: 'hash' } })
    expect(killed.code).not.toBe(0)
    const resumed = await runCli([...BUILD, '--no-upload', '--resume'], { cwd: root })
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toMatch(/starting clean for linux-amd64: the last interrupted run stopped before its payload was hashed/)
    await expectVerifies(out)
  })
})
