/** The sandbox's small parts in isolation: multipart parsing, Go durations, config files, the wizard. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadSettings } from '../../src/sandbox/config.js'
import { parseGoDuration } from '../../src/sandbox/durations.js'
import { MultipartError, parseMultipart } from '../../src/sandbox/multipart.js'
import { missingAnswers, resolveEnv, wizardQuestions } from '../../src/sandbox/wizard.js'
import { completeAnswers, parsePairs } from '../../src/sandbox/client/index.js'
import { tempDir } from '../helpers/fixtures.js'

const form = (boundary: string, file: Buffer) =>
  Buffer.concat([
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="tenant_id"\r\n\r\ndev\r\n`),
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="package"; filename="p.pxp"\r\n\r\n`),
    file,
    Buffer.from(`\r\n--${boundary}\r\ncontent-disposition: form-data; name="config"\r\n\r\n{"env":{}}\r\n--${boundary}--\r\n`),
  ])

async function* chunks(buf: Buffer, size: number) {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size)
}

describe('multipart', () => {
  it('streams the file part intact whatever the chunking, including bytes that look like a boundary', async () => {
    const boundary = 'xYz123'
    const file = Buffer.concat([Buffer.from('\r\n--xYz12'), Buffer.alloc(70_000, 0xab), Buffer.from('\r\n--xY')])
    for (const size of [1, 7, 13, 4096, 65536, 1 << 20]) {
      const got: Buffer[] = []
      const fields = await parseMultipart(chunks(form(boundary, file), size), boundary, { onFile: () => ({ write: async (c) => void got.push(Buffer.from(c)) }) })
      expect(fields).toEqual({ tenant_id: 'dev', config: '{"env":{}}' })
      expect(Buffer.concat(got).equals(file)).toBe(true)
    }
  })

  it('refuses a truncated upload and oversized fields', async () => {
    const whole = form('b0undary', Buffer.alloc(1000, 1))
    await expect(parseMultipart(chunks(whole.subarray(0, 600), 100), 'b0undary', { onFile: () => ({ write: async () => {} }) })).rejects.toThrow(/ended in the middle of a part/)
    await expect(parseMultipart(chunks(whole, 100), 'b0undary', { onFile: () => ({ write: async () => {} }), maxFieldBytes: 2 })).rejects.toBeInstanceOf(MultipartError)
  })
})

describe('durations, config, wizard', () => {
  it('parses Go durations', () => {
    expect(parseGoDuration('1m30s')).toBe(90_000)
    expect(parseGoDuration('300ms')).toBe(300)
    expect(parseGoDuration('1h')).toBe(3_600_000)
    expect(parseGoDuration('0')).toBe(0)
    expect(parseGoDuration('90')).toBeUndefined()
    expect(parseGoDuration('5 s')).toBeUndefined()
  })

  it('merges limits over defaults and names the bad key', () => {
    const dir = tempDir('pxp-sbx-cfg-')
    writeFileSync(join(dir, 'sandbox.yaml'), 'tenants:\n  a: {}\n  b: { allow_unsigned: true }\ntokens:\n  - { token_env: TOK_A, tenant: a, permissions: [plugin:dev] }\n')
    writeFileSync(join(dir, 'limits.yaml'), 'defaults: { max_plugins: 3, health_timeout: 1m30s }\ntenants:\n  b: { max_plugins: 1 }\n')
    const { settings } = loadSettings({ configFile: join(dir, 'sandbox.yaml'), limitsFile: join(dir, 'limits.yaml'), env: { TOK_A: 'abcdefghijk' } })
    expect(settings.tenants.get('a')!.limits).toMatchObject({ max_plugins: 3, health_timeout: 90_000, max_memory_mb: 512 })
    expect(settings.tenants.get('b')!.limits.max_plugins).toBe(1)
    expect(settings.tenants.get('b')!.allowUnsigned).toBe(true)
    expect(() => loadSettings({ configFile: join(dir, 'sandbox.yaml'), env: {} })).toThrow(/tokens\[0\]\.token_env: the environment variable TOK_A is not set/)
    writeFileSync(join(dir, 'bad.yaml'), 'defaults: { install_timeout: soon }\n')
    expect(() => loadSettings({ limitsFile: join(dir, 'bad.yaml') })).toThrow(/defaults\.install_timeout: "soon" is not a Go duration/)
    writeFileSync(join(dir, 'bad2.yaml'), 'defaults: { max_plugns: 3 }\n')
    expect(() => loadSettings({ limitsFile: join(dir, 'bad2.yaml') })).toThrow(/unknown limit/)
  })

  it('derives questions from plugin.yaml and resolves the env with the injected port', () => {
    const d = { runtime: { env: { POWERX_BIND_ADDR: ':__POWERX_DYNAMIC_PORT__', A: '${A}', B: 'x-${B:-dflt}', T: '${TOKEN}', LOG_LEVEL: '${LOG_LEVEL:-info}' } }, secrets: [{ name: 'TOKEN' }, 'EXTRA'] }
    const q = wizardQuestions(d)
    expect(q.map((x) => `${x.key}:${x.kind}:${x.required}`)).toEqual(['A:env:true', 'B:env:false', 'TOKEN:secret:true', 'EXTRA:secret:false', 'log_level:log_level:false'])
    expect(q.at(-1)!.default).toBe('info')
    const strict = wizardQuestions({ runtime: { env: { LOG_LEVEL: '${LOG_LEVEL}' } } })
    expect(missingAnswers(strict, { env: {}, secrets: {} })).toEqual(['log_level'])
    expect(missingAnswers(strict, { env: {}, secrets: {}, log_level: 'warn' })).toEqual([])
    expect(missingAnswers(q, { env: {}, secrets: {} })).toEqual(['A', 'TOKEN'])
    const { env, missing } = resolveEnv(d, { env: { A: 'a' }, secrets: { TOKEN: 'env:X' }, log_level: 'debug' }, { TOKEN: 'tok-value' }, 4242)
    expect(missing).toEqual([])
    expect(env).toMatchObject({ POWERX_BIND_ADDR: '127.0.0.1:4242', A: 'a', B: 'x-dflt', T: 'tok-value', LOG_LEVEL: 'debug', TOKEN: 'tok-value' })
  })

  it('the client lists every missing answer and refuses secret values', async () => {
    const q = wizardQuestions({ runtime: { env: { A: '${A}', B: '${B}' } }, secrets: ['S'] })
    await expect(completeAnswers(q, { env: {}, secrets: {} })).rejects.toMatchObject({ code: 'MISSING_ANSWERS', exitCode: 2, details: { missing: ['A', 'B'] } })
    await expect(completeAnswers(q, { env: { A: '1', B: '2' }, secrets: { S: 'plain-value' } })).rejects.toMatchObject({ code: 'SECRET_NOT_A_REFERENCE' })
    const asked: string[] = []
    const done = await completeAnswers(q, { env: { A: '1' }, secrets: {} }, async (question) => (asked.push(question.key), question.kind === 'secret' ? 'env:S' : question.kind === 'log_level' ? 'warn' : 'two'))
    expect(asked).toEqual(['B', 'S', 'log_level'])
    expect(done).toEqual({ env: { A: '1', B: 'two' }, secrets: { S: 'env:S' }, log_level: 'warn' })
    expect(() => parsePairs(['novalue'], '--set')).toThrow(/KEY=VALUE/)
    await expect(completeAnswers(q, { env: { A: '1', B: '2', S: 'the-value' }, secrets: {} })).rejects.toMatchObject({ code: 'SECRET_AS_VALUE', exitCode: 2 })
  })
})
