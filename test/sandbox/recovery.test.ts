/**
 * `kill -9` of the sandbox in the middle of an install, then a restart on the same data directory:
 * the interrupted install ends `failed` (rolled back per the journal), nothing half-installed
 * remains, processes the dead server left behind are gone, and the running plugin runs again.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SandboxClient, installBundle } from '../../src/sandbox/client/index.js'
import { processAlive } from '../../src/sandbox/runner.js'
import { pxpBin } from '../helpers/cli.js'
import { copyPlayground, tempDir, write } from '../helpers/fixtures.js'
import { buildBundle, editDescriptor, getJson, listFiles, startSandboxProc, variant, waitFor, type SandboxProc } from '../helpers/sandbox.js'

const TOKEN = 'recovery-token-0123456789'
const env = { PXP_SANDBOX_TOKEN: TOKEN }
const ID = 'com.powerx.plugins.hello'
const SLOW = 'com.powerx.plugins.slow'
let playground: string
let slow: string
let dataDir: string
let second: SandboxProc | undefined

beforeAll(async () => {
  const slowDir = variant((d) => {
    editDescriptor(d, (t) => t.replace(`id: ${ID}`, `id: ${SLOW}`))
    write(d, 'backend/bin/migrate', '#!/usr/bin/env node\nconsole.log("migrating slowly")\nsetTimeout(() => {}, 60000)\n', 0o755)
  })
  ;[playground, slow] = await Promise.all([buildBundle(copyPlayground()), buildBundle(slowDir, [], SLOW)])
  dataDir = tempDir('pxp-sbx-recovery-')
}, 120_000)

afterAll(async () => {
  await second?.stop()
})

const state = () => JSON.parse(readFileSync(join(dataDir, 'state.json'), 'utf8'))

describe('pxp sandbox --install (the README command)', () => {
  it('installs the newest host bundle of a build directory and prints its entry URL', async () => {
    const outDir = join(playground, '..', '..', '..', '..')
    const t0 = Date.now()
    const sbx = await startSandboxProc(['--allow-unsigned', '--install', outDir, '--set', 'HELLO_BOARD_NAME=Readme'], { env: { PXP_SANDBOX_TOKEN: '' } })
    const entry = await waitFor(() => /PXP_ENTRY_URL=(\S+)/.exec(sbx.output())?.[1], 30_000)
    console.log(`[sandbox] pxp sandbox --install: entry URL printed ${Date.now() - t0} ms after start`)
    expect(entry).toBe(`${sbx.url}/_p/dev/${ID}/`)
    expect((await getJson(entry)).body.board).toBe('Readme')
    // The generated token is printed once, on stderr, for the developer.
    expect(sbx.output()).toMatch(/token for tenant dev \(shown once/)
    expect(await sbx.stop()).toBe(0)
    expect(await fetch(entry).then(() => 'up', () => 'down')).toBe('down')
  })
})

describe('the interactive wizard', () => {
  it('asks on a terminal (a real pty through script(1)) and installs with the answers', async () => {
    const sbx = await startSandboxProc(['--allow-unsigned'], { env })
    try {
      const cmd = [process.execPath, pxpBin, 'install', playground, '--sandbox', sbx.url, '--tenant', 'dev'].map((a) => `'${a}'`).join(' ')
      // A pty without a size is 0 columns wide: give it one, or prompts wrap after every character.
      const child = spawn('script', ['-qfec', `stty cols 160 rows 40; exec ${cmd}`, '/dev/null'], { env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] })
      // Each prompt is answered once its label is on the screen: Enter keeps a default.
      const script: Array<[RegExp, string]> = [[/HELLO_GREETING/, '\r'], [/HELLO_BOARD_NAME/, 'From a TTY\r'], [/HELLO_API_TOKEN/, '\r'], [/Log level/, '\r']]
      let screen = ''
      child.stdout.on('data', (d) => {
        screen += String(d)
        const next = script[0]
        if (next && next[0].test(screen)) {
          script.shift()
          screen = ''
          child.stdin.write(next[1])
        }
      })
      const guard = setTimeout(() => child.kill('SIGKILL'), 30_000)
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
      clearTimeout(guard)
      expect(script.map(([label]) => String(label)), 'prompts never shown').toEqual([])
      expect(code).toBe(0)
      expect((await getJson(`${sbx.url}/_p/dev/${ID}/`)).body).toMatchObject({ board: 'From a TTY', greeting: 'Hello from PowerX' })
    } finally {
      await sbx.stop()
    }
  })
})

describe('crash recovery', () => {
  it('rolls back the interrupted install and restarts the running plugin', async () => {
    const first = await startSandboxProc(['--allow-unsigned'], { dataDir, env })
    const ok = await installBundle({ file: playground, url: first.url, tenant: 'dev', token: TOKEN, answers: { env: { HELLO_BOARD_NAME: 'Before' } }, progress: false })
    expect(ok.status).toBe('running')
    const oldPluginPid: number = state().plugins[`dev/${ID}`].pid
    expect(processAlive(oldPluginPid)).toBe(true)

    const client = new SandboxClient(first.url, 'dev', TOKEN)
    const accepted = await client.upload(slow, { env: { HELLO_BOARD_NAME: 'x' }, secrets: {} })
    const installId: string = accepted.data.install_id
    // Wait until the migration runs (its pid is journaled), then kill the server without warning.
    const migrationPid: number = await waitFor(() => {
      const rec = state().installs[installId]
      return rec?.stage === 'provision' && rec.pid ? rec.pid : undefined
    })
    await first.kill9()
    expect(processAlive(migrationPid)).toBe(true) // orphaned by the crash
    expect(existsSync(join(dataDir, 'tenants/dev/plugins', SLOW, '1.2.0'))).toBe(true)

    second = await startSandboxProc(['--allow-unsigned'], { dataDir, env })
    const rec = (await getJson(`${second.url}/api/plugins/installs/${installId}`, TOKEN)).body.data
    expect(rec).toMatchObject({ status: 'failed', stage: 'provision', error_code: 'interrupted', rolled_back: true })
    const events = (await getJson(`${second.url}/api/events?since=0`, TOKEN)).body.data.events
    expect(events.find((e: any) => e.type === 'plugin.install.failed' && e.install_id === installId)?.data).toMatchObject({ stage: 'provision', rolled_back: true, error_code: 'interrupted' })
    const audit = (await getJson(`${second.url}/api/tenants/dev/audit`, TOKEN)).body.data
    expect(audit.chain.ok).toBe(true)
    expect(audit.entries.some((e: any) => e.action === 'install.failed' && e.metadata.install_id === installId)).toBe(true)

    // Nothing half-installed, nothing left running from the dead server.
    expect(existsSync(join(dataDir, 'tenants/dev/plugins', SLOW))).toBe(false)
    expect(listFiles(join(dataDir, 'tenants/dev/staging'))).toEqual([])
    await waitFor(() => !processAlive(migrationPid) && !processAlive(oldPluginPid), 5000)
    expect(readdirSync(join(dataDir, 'tenants/dev/plugins'))).toEqual([ID])

    // The plugin that was running runs again, behind the new server.
    const plugin = (await getJson(`${second.url}/api/tenants/dev/plugins/${ID}`, TOKEN)).body.data
    expect(plugin).toMatchObject({ status: 'running', current_version: '1.2.0' })
    expect((await getJson(`${second.url}/_p/dev/${ID}/`)).body.board).toBe('Before')
    const newPid: number = state().plugins[`dev/${ID}`].pid
    expect(newPid).not.toBe(oldPluginPid)

    // A graceful stop takes the plugin down with it.
    expect(await second.stop()).toBe(0)
    second = undefined
    expect(processAlive(newPid)).toBe(false)
  })
})
