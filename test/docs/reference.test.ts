/**
 * The generated references (docs/reference/*.md) must match the code: regenerated here from the
 * compiled CLI and key table and compared with the committed files. The key table itself must
 * cover every key the config types declare and every key the validator checks.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { REFERENCE_FILES } from '../../dist/src/docs-gen/index.js'
import { CONFIG_KEYS, ENV_VARS } from '../../dist/src/config/keys.js'
import { repoRoot } from '../helpers/cli.js'

const documented = new Set(CONFIG_KEYS.map((k) => k.key))

/** Declared (non-index) property names of an interface in src/config/types.ts. */
function interfaceKeys(name: string): string[] {
  const file = join(repoRoot, 'src/config/types.ts')
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true)
  let keys: string[] | undefined
  source.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === name) {
      keys = node.members.filter(ts.isPropertySignature).map((m) => (m.name as ts.Identifier).text)
    }
  })
  if (!keys) throw new Error(`interface ${name} not found in src/config/types.ts`)
  return keys
}

describe('generated references', () => {
  for (const [file, generate] of Object.entries(REFERENCE_FILES)) {
    it(`${file} is up to date (run \`npm run docs:gen\` after changing commands, options or src/config/keys.ts)`, () => {
      const path = join(repoRoot, file)
      expect(existsSync(path), `${file} is missing: run npm run docs:gen`).toBe(true)
      expect(readFileSync(path, 'utf8'), `${file} is stale: run npm run docs:gen`).toBe(generate())
    })
  }

  it('the key table covers every key declared in the config types', () => {
    const expected: Array<[string, string, string | undefined]> = [
      ...interfaceKeys('UserConfig').filter((k) => !['signer', 'artifactStore', 'sandbox', 'telemetry', 'alerts', 'limits', 'offline'].includes(k)).map((k) => [k, 'UserConfig', undefined] as [string, string, undefined]),
      ...interfaceKeys('OfflineConfig').map((k) => [`offline.${k}`, 'OfflineConfig', undefined] as [string, string, undefined]),
      ...interfaceKeys('TargetConfig').map((k) => [`offline.targets[].${k}`, 'TargetConfig', undefined] as [string, string, undefined]),
      ...interfaceKeys('LimitsConfig').map((k) => [`limits.${k}`, 'LimitsConfig', undefined] as [string, string, undefined]),
      ...interfaceKeys('SandboxConfig').map((k) => [`sandbox.${k}`, 'SandboxConfig', undefined] as [string, string, undefined]),
      ...interfaceKeys('PemSignerConfig').map((k) => [`signer.${k}`, 'PemSignerConfig', 'pem'] as [string, string, string]),
      ...interfaceKeys('KmsSignerConfig').map((k) => [`signer.${k}`, 'KmsSignerConfig', 'kms'] as [string, string, string]),
      ...interfaceKeys('HttpSignerConfig').map((k) => [`signer.${k}`, 'HttpSignerConfig', 'http'] as [string, string, string]),
      ...interfaceKeys('S3StoreConfig').map((k) => [`artifactStore.${k}`, 'S3StoreConfig', 's3'] as [string, string, string]),
      ...interfaceKeys('FsStoreConfig').map((k) => [`artifactStore.${k}`, 'FsStoreConfig', 'fs'] as [string, string, string]),
      ...interfaceKeys('SignedUrlStoreConfig').map((k) => [`artifactStore.${k}`, 'SignedUrlStoreConfig', 'signed-url'] as [string, string, string]),
      ...['signer', 'artifactStore', 'sandbox', 'telemetry', 'alerts'].map((k) => [k, 'UserConfig', undefined] as [string, string, undefined]),
      ['telemetry.url', 'UserConfig', undefined],
      ['alerts.webhook', 'UserConfig', undefined],
      ['alerts.kind', 'UserConfig', undefined],
    ]
    expect(expected.length).toBeGreaterThan(40)
    const missing = expected.filter(([key, , variant]) => {
      const entry = CONFIG_KEYS.find((k) => k.key === key)
      return !entry || (variant !== undefined && key !== 'signer.type' && key !== 'artifactStore.type' && !entry.types?.includes(variant))
    })
    expect(missing.map(([key, from, variant]) => `${key}${variant ? ` (${variant})` : ''} from ${from}`), 'add these to src/config/keys.ts').toEqual([])
  })

  it('the key table covers every key the validator checks, and every PX_* variable the loader reads', () => {
    const validator = readFileSync(join(repoRoot, 'src/config/validate.ts'), 'utf8')
    const checked = [...validator.matchAll(/check\(\s*(['`])([^'`]+)\1/g)]
      .map((m) => m[2]!.replace(/\[\$\{\w+\}\]/g, '[]').replace(/\$\{keyPath\}|\$\{section\}/g, 'X'))
      .filter((k) => !k.includes('${') && !k.startsWith('X'))
      .map((k) => k.replace(/^(offline\.targets)\[\]/, '$1[]'))
    expect(checked.length).toBeGreaterThan(15)
    expect(checked.filter((k) => !documented.has(k)), 'add these to src/config/keys.ts').toEqual([])

    const envSource = readFileSync(join(repoRoot, 'src/config/env.ts'), 'utf8')
    const read = [...new Set([...envSource.matchAll(/\b(PX_[A-Z_]+[A-Z])\b/g)].map((m) => m[1]!))]
    expect(read.length).toBeGreaterThan(3)
    const envDocumented = new Set(ENV_VARS.map((v) => v.name))
    expect(read.filter((v) => !envDocumented.has(v)), 'add these to ENV_VARS in src/config/keys.ts').toEqual([])
  })

  it('relative links in README.md and docs/ point at files that exist', () => {
    const files = [join(repoRoot, 'README.md'), ...readdirSync(join(repoRoot, 'docs'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md')).map((f) => join(repoRoot, 'docs', f))]
    const broken: string[] = []
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
        const target = m[1]!
        if (/^[a-z]+:/i.test(target)) continue
        if (!existsSync(resolve(dirname(file), target))) broken.push(`${file.slice(repoRoot.length)} → ${target}`)
      }
    }
    expect(broken).toEqual([])
  })
})
