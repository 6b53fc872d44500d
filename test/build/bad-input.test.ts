import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { BUNDLE, BUNDLE_DIR, copyPlayground, sha256File, tempDir, write } from '../helpers/fixtures.js'

const BUILD = ['build', '--no-upload', '--no-install', '--os', 'linux', '--arch', 'amd64']

interface Case {
  name: string
  /** Breaks the copy of the playground. */
  mutate: (root: string) => void
  args?: string[]
  code: 1 | 2
  message: RegExp
  errorCode: string
  hint?: RegExp
  fileSizeLimitKiB?: number
}

/** An ELF header for the given machine (0xb7 = aarch64, 0x3e = x86-64). */
function elf(machine: number): Buffer {
  const b = Buffer.alloc(64)
  b.writeUInt32BE(0x7f454c46, 0)
  b[4] = 2
  b[5] = 1
  b[6] = 1
  b.writeUInt16LE(2, 16)
  b.writeUInt16LE(machine, 18)
  return b
}

const replaceInDescriptor = (root: string, from: string | RegExp, to: string) => {
  const file = join(root, 'plugin.yaml')
  writeFileSync(file, readFileSync(file, 'utf8').replace(from, to))
}

const cases: Case[] = [
  { name: 'missing plugin.yaml', mutate: (r) => unlinkSync(join(r, 'plugin.yaml')), code: 2, errorCode: 'DESCRIPTOR_MISSING', message: /No plugin\.yaml at the plugin root/ },
  { name: 'malformed plugin.yaml', mutate: (r) => replaceInDescriptor(r, 'version: 1.2.0', 'version: [1.2.0'), code: 2, errorCode: 'DESCRIPTOR_MALFORMED', message: /plugin\.yaml:\d+:\d+ is not valid YAML/ },
  { name: 'version that is not SemVer', mutate: (r) => replaceInDescriptor(r, 'version: 1.2.0', 'version: "1.2"'), code: 2, errorCode: 'DESCRIPTOR_INVALID', message: /version: "1\.2" is not SemVer/ },
  { name: 'unknown runtime kind', mutate: (r) => replaceInDescriptor(r, 'kind: process', 'kind: docker'), code: 2, errorCode: 'DESCRIPTOR_INVALID', message: /runtime\.kind: must be one of process, static, remote \(got "docker"\)/ },
  { name: 'runtime.entry not in the bundle', mutate: (r) => rmSync(join(r, 'backend/bin/linux-amd64/plugin')), code: 2, errorCode: 'DESCRIPTOR_INVALID', message: /runtime\.entry: "backend\/bin\/plugin" is not in the bundle/ },
  { name: 'http_base_path without a leading slash', mutate: (r) => replaceInDescriptor(r, 'http_base_path: /api/v1', 'http_base_path: api/v1'), code: 2, errorCode: 'DESCRIPTOR_INVALID', message: /endpoints\.http_base_path: "api\/v1" must start with \// },
  { name: 'a duration that is not Go syntax', mutate: (r) => replaceInDescriptor(r, 'timeout: 1m30s', 'timeout: 90 seconds'), code: 2, errorCode: 'DESCRIPTOR_INVALID', message: /migrations\.timeout: "90 seconds" is not a Go duration/ },
  { name: 'missing migration entry', mutate: (r) => rmSync(join(r, 'backend/bin/migrate')), code: 2, errorCode: 'DESCRIPTOR_INVALID', message: /migrations\.entry: "backend\/bin\/migrate" is not in the bundle/ },
  { name: 'malformed config file', mutate: (r) => write(r, 'px-plugin.config.ts', 'export default { offline: { targets: [ }'), code: 2, errorCode: 'CONFIG_LOAD_FAILED', message: /Could not load the config/ },
  {
    name: 'config value of the wrong type',
    mutate: (r) => write(r, 'px-plugin.config.ts', "export default { offline: { targets: [{ os: 'beos', arch: 'amd64' }] } }\n"),
    args: [],
    code: 2,
    errorCode: 'CONFIG_INVALID',
    message: /offline\.targets\[0\]\.os must be one of linux, darwin, windows, freebsd \(got "beos"\) \(in .*px-plugin\.config\.ts\)/,
  },
  { name: 'unknown plugin', mutate: (r) => write(r, 'px-plugin.config.ts', "export default { plugins: ['pxp-plugin-does-not-exist'] }\n"), code: 2, errorCode: 'PLUGIN_NOT_FOUND', message: /Unknown plugin "pxp-plugin-does-not-exist" listed in .*px-plugin\.config\.ts/ },
  {
    name: 'a plugin that throws',
    mutate: (r) => write(r, 'px-plugin.config.ts', "export default { plugins: [{ name: 'team-lint', collect() { throw new Error('lint rule L7 failed') } }] }\n"),
    code: 1,
    errorCode: 'PLUGIN_FAILED',
    message: /Plugin "team-lint" failed in its collect hook: lint rule L7 failed/,
  },
  { name: 'a Windows-reserved name', mutate: (r) => write(r, 'config/aux.yaml', 'a: 1\n'), code: 1, errorCode: 'PATH_UNSAFE', message: /Cannot pack "config\/aux\.yaml": "aux\.yaml" is a reserved name on Windows/ },
  { name: 'names that collide case-insensitively', mutate: (r) => write(r, 'config/Schema.yaml', 'a: 1\n'), code: 1, errorCode: 'PATH_COLLISION', message: /"config\/schema\.yaml" and "config\/Schema\.yaml" differ only in letter case|"config\/Schema\.yaml" and "config\/schema\.yaml" differ only in letter case/ },
  { name: 'a shared binary colliding with a per-target one', mutate: (r) => write(r, 'backend/bin/plugin', '#!/bin/sh\n', 0o755), code: 1, errorCode: 'PATH_COLLISION', message: /"backend\/bin\/plugin" is added twice/ },
  { name: 'a symlink', mutate: (r) => symlinkSync('schema.yaml', join(r, 'config/link.yaml')), code: 1, errorCode: 'SYMLINK_REFUSED', message: /config\/link\.yaml is a symlink/ },
  {
    name: 'a dereferenced symlink leaving the root',
    mutate: (r) => {
      symlinkSync('/etc/hostname', join(r, 'config/host.txt'))
      write(r, 'px-plugin.config.ts', 'export default { offline: { dereference: true } }\n')
    },
    code: 1,
    errorCode: 'SYMLINK_OUTSIDE_ROOT',
    message: /config\/host\.txt is a symlink to \/etc\/hostname, outside the plugin root/,
  },
  {
    name: 'a dereferenced symlink loop',
    mutate: (r) => {
      symlinkSync('..', join(r, 'extensions/loop'))
      write(r, 'px-plugin.config.ts', 'export default { offline: { dereference: true } }\n')
    },
    code: 1,
    errorCode: 'SYMLINK_LOOP',
    message: /extensions\/loop links back to a directory that contains it/,
  },
  { name: 'a wrong-platform binary', mutate: (r) => write(r, 'backend/bin/linux-amd64/helper', elf(0xb7), 0o755), code: 1, errorCode: 'PLATFORM_MISMATCH', message: /backend\/bin\/linux-amd64\/helper is a ELF linux\/arm64 executable, but the target is linux\/amd64/ },
  { name: 'a dotenv file', mutate: (r) => write(r, 'config/.env.production', 'DB_PASSWORD=hunter2\n'), code: 1, errorCode: 'SECRET_IN_TREE', message: /Refusing to pack config\/\.env\.production: its name marks it as a secret/ },
  {
    name: 'a PEM private key inside a file',
    mutate: (r) => write(r, 'extensions/notes.txt', 'setup notes\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIO\n-----END EC PRIVATE KEY-----\n'),
    code: 1,
    errorCode: 'SECRET_IN_TREE',
    message: /Refusing to pack extensions\/notes\.txt: it contains a PEM private key block/,
  },
  { name: 'a file matching secretPatterns', mutate: (r) => { write(r, 'config/vault.token', 'x'); write(r, 'px-plugin.config.ts', "export default { offline: { secretPatterns: ['*.token'] } }\n") }, code: 1, errorCode: 'SECRET_IN_TREE', message: /Refusing to pack config\/vault\.token/ },
  {
    name: 'a plugin hook that awaits a promise nothing settles (Node would end silently with code 13)',
    mutate: (r) => write(r, 'px-plugin.config.ts', "export default { plugins: [{ name: 'forgetful', enforce: 'pre', hash: () => new Promise(() => {}) }] }\n"),
    code: 1,
    errorCode: 'HOOK_NEVER_SETTLED',
    message: /The run stopped inside plugin "forgetful" \(hash hook\): it awaits a promise that nothing is left to settle/,
    hint: /fix the plugin/,
  },
  {
    name: 'a bundle the disk cannot take (a 2 MiB file-size limit, a 3 MB incompressible file)',
    mutate: (r) => write(r, 'web-admin/.output/public/blob.bin', randomBytes(3_000_000)),
    fileSizeLimitKiB: 2048,
    code: 1,
    errorCode: 'OUTPUT_NOT_WRITABLE',
    message: /Cannot write the bundle .*\.tmp.*com\.powerx\.plugins\.hello-1\.2\.0-linux-amd64\.pxp \(EFBIG\)/,
    hint: /ulimit -f.*The previous bundle is untouched/,
  },
  { name: 'an unwritable output directory', mutate: () => undefined, args: ['--out', '/dev/null/out'], code: 1, errorCode: 'OUTPUT_NOT_WRITABLE', message: /Cannot write the output directory \/dev\/null\/out/ },
]

describe('bad input is refused with a clear message and loses nothing', () => {
  let good: { root: string; out: string; bundleSha: string; reportSha: string }

  beforeAll(async () => {
    const root = copyPlayground()
    const out = tempDir()
    const first = await runCli([...BUILD, '--out', out], { cwd: root })
    expect(first.code).toBe(0)
    good = { root, out, bundleSha: sha256File(BUNDLE(out)), reportSha: sha256File(join(out, 'report.json')) }
  })

  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      // Each case breaks its own copy but writes into the shared output that holds the good bundle.
      const root = copyPlayground()
      c.mutate(root)
      const args = [...BUILD, '--out', good.out, '--json', ...(c.args ?? [])]
      // The JSON and the human run go together: same input, same refusal, twice the speed.
      const options = { cwd: root, fileSizeLimitKiB: c.fileSizeLimitKiB }
      const [run, human] = await Promise.all([runCli(args, options), runCli(args.filter((a) => a !== '--json'), options)])
      expect(run.code, run.stderr).toBe(c.code)
      const error = run.json.error ?? run.json.errors?.[0]
      expect(error.code).toBe(c.errorCode)
      expect(error.message).toMatch(c.message)
      expect(error.hint ?? '').toMatch(c.hint ?? /./)
      // Human output says the same thing.
      expect(human.code).toBe(c.code)
      expect(human.stderr).toMatch(c.message)
      // The earlier bundle and run report are untouched.
      expect(sha256File(BUNDLE(good.out))).toBe(good.bundleSha)
      expect(sha256File(join(good.out, 'report.json'))).toBe(good.reportSha)
      expect(readFileSync(join(BUNDLE_DIR(good.out), 'integrity.txt'), 'utf8')).toMatch(/plugin\.yaml/)
      // A failed run keeps its report for `pxp clean`, never a torn bundle.
      expect(readdirSync(join(good.out, '.tmp'), { recursive: true }).filter((p) => String(p).endsWith('.pxp'))).toEqual([])
    })
  }

  it('stores a symlink target that stays inside the root when dereference is on', async () => {
    const root = copyPlayground()
    symlinkSync('schema.yaml', join(root, 'config/alias.yaml'))
    write(root, 'px-plugin.config.ts', 'export default { offline: { dereference: true } }\n')
    const out = tempDir()
    const run = await runCli([...BUILD, '--out', out, '--json'], { cwd: root })
    expect(run.code, run.stderr).toBe(0)
    const listing = (await import('node:child_process')).execFileSync('tar', ['-tvzf', BUNDLE(out)], { encoding: 'utf8' })
    expect(listing).toMatch(/^-rw-r--r-- .* config\/alias\.yaml$/m)
  })

  it('does not leave a final directory behind when the first build of a version fails', async () => {
    const root = copyPlayground()
    write(root, 'config/.env', 'X=1\n')
    const out = tempDir()
    mkdirSync(out, { recursive: true })
    const run = await runCli([...BUILD, '--out', out], { cwd: root })
    expect(run.code).toBe(1)
    expect(() => readFileSync(BUNDLE(out))).toThrow()
  })
})
