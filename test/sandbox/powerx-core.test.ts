/**
 * `pxp install --mode powerx-core` against a loopback server following PowerX Core's admin API:
 * install/local with enable=false and `<id>-<version>.tar.gz`, switch_version, status polling,
 * and on failure a switch back to the previous version or an uninstall.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { copyPlayground } from '../helpers/fixtures.js'
import { startFakeCore, type FakeCore } from '../helpers/powerx-core.js'
import { buildBundle } from '../helpers/sandbox.js'

const ID = 'com.powerx.plugins.hello'
const TOKEN = 'core-admin-token-123456'
let core: FakeCore
let bundle: string

beforeAll(async () => {
  ;[core, bundle] = await Promise.all([startFakeCore({ token: TOKEN }), buildBundle(copyPlayground())])
}, 60_000)
afterAll(() => core?.close())

const install = (extra: string[] = []) =>
  runCli(['install', bundle, '--mode', 'powerx-core', '--sandbox', core.url, '--tenant', 't-100', '--set', 'HELLO_BOARD_NAME=Core', '--yes', '--json', ...extra], { env: { PXP_SANDBOX_TOKEN: TOKEN } })

describe('powerx-core mode', () => {
  it('installs disabled, switches to the version and polls its status', async () => {
    const run = await install()
    expect(run.code, run.stderr).toBe(0)
    expect(run.json).toMatchObject({ ok: true, status: 'running', logsUrl: `${core.url}/admin/plugins/${ID}/logs?tail=200` })
    const calls = core.calls.map((c) => `${c.method} ${c.path.replace(core.url.replace(/^http:\/\/[^/]+/, ''), '')}`)
    expect(calls).toEqual([`GET /admin/plugins/${ID}/status`, 'POST /admin/plugins/install/local', `POST /admin/plugins/${ID}/switch_version`, `GET /admin/plugins/${ID}/status`])
    const upload = core.calls[1]!
    expect(upload.filename).toBe(`${ID}-1.2.0.tar.gz`)
    expect(upload.fields).toMatchObject({ enable: 'false', force: 'false' })
    expect(JSON.parse(upload.fields!.metadata!)).toMatchObject({ scope: 'tenant', config: { env: { HELLO_BOARD_NAME: 'Core' } } })
    expect(core.calls[2]!.body).toEqual({ version: '1.2.0', enable: true })
    expect(core.calls.every((c) => c.tenant === 't-100')).toBe(true)
  })

  it('switches back to the previous version when the new one fails', async () => {
    core.calls.length = 0
    const p = core.plugins.get(ID)!
    p.versions.delete('1.2.0')
    p.versions.add('1.1.0')
    p.current = '1.1.0'
    core.failing.add('1.2.0')
    const run = await install()
    expect(run.code).toBe(1)
    expect(run.json).toMatchObject({ ok: false, status: 'failed', stage: 'start', errorCode: 'process_start_failed', rolledBack: true })
    const switches = core.calls.filter((c) => c.path.endsWith('/switch_version')).map((c) => c.body)
    expect(switches).toEqual([{ version: '1.2.0', enable: true }, { version: '1.1.0', enable: true }])
    expect(core.plugins.get(ID)).toMatchObject({ current: '1.1.0', state: 'running' })
  })

  it('uninstalls a failed first install, and reports Core error codes', async () => {
    core.plugins.clear()
    core.calls.length = 0
    const run = await install()
    expect(run.json).toMatchObject({ ok: false, rolledBack: true })
    expect(core.calls.at(-1)).toMatchObject({ method: 'POST', body: { version: '1.2.0', purge: false } })
    expect(core.calls.at(-1)!.path).toMatch(/\/uninstall$/)
    expect(core.plugins.has(ID)).toBe(false)

    const denied = await runCli(['install', bundle, '--mode', 'powerx-core', '--sandbox', core.url, '--tenant', 't-100', '--set', 'HELLO_BOARD_NAME=x', '--yes', '--json'], { env: { PXP_SANDBOX_TOKEN: 'wrong-token-123' } })
    expect(denied.code).toBe(1)
    expect(denied.json.error).toMatchObject({ code: 'SANDBOX_AUTH' })
    expect(denied.stdout + denied.stderr).not.toContain('wrong-token-123')
  })
})
