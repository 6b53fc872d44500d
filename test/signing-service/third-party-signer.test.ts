/**
 * The third-party signer example (playground/signers/pxp-signer-example) installed into a project's
 * node_modules the way npm would, loaded by name from `plugins`, signs a bundle that verifies.
 */
import { cpSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../helpers/cli.js'
import { Pki } from '../helpers/openssl.js'
import { build, expectVerifies, firstError, project, targetReport } from '../helpers/remote-signing.js'

describe('a third-party signer package', () => {
  const pki = new Pki()
  beforeAll(() => {
    pki.root('root', 'ec')
    pki.issue('vendor', 'root', { kind: 'ec' })
  })

  const install = (root: string) =>
    cpSync(join(repoRoot, 'playground/signers/pxp-signer-example'), join(root, 'node_modules/pxp-signer-example'), { recursive: true })

  it('loads by name from node_modules and signs a bundle that pxp verify and openssl accept', async () => {
    const p = project({ plugins: ['pxp-signer-example'], signer: { type: 'example', cert: pki.path('vendor.pem') } })
    install(p.root)
    const run = await build(p, { PXP_EXAMPLE_KEY_FILE: pki.path('vendor.key') })
    expect(run.code, JSON.stringify(run.json ?? run.stderr)).toBe(0)
    expect(targetReport(p.out).signing).toMatchObject({ signer: 'example', algorithm: 'ECDSA-P256-SHA256' })
    const verdict = await expectVerifies(p.out, pki.path('root.pem'), { cli: false })
    expect(verdict.signer.subject).toBe('CN=vendor')
  })

  it('reports its own configuration error with a stable code (exit 2)', async () => {
    const p = project({ plugins: ['pxp-signer-example'], signer: { type: 'example', cert: pki.path('vendor.pem') } })
    install(p.root)
    const run = await build(p, { PXP_EXAMPLE_KEY_FILE: '' })
    expect(run.code).toBe(2)
    expect(firstError(run)).toMatchObject({ code: 'SIGNER_CONFIG', plugin: 'pxp-signer-example' })
  })
  it('serves as the fallback of a KMS signer that is down: report.json and audit.log record the fallback', async () => {
    const p = project({
      plugins: ['pxp-signer-example'],
      signer: [
        { type: 'kms', keyId: 'alias/pxp-release', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9', cert: pki.path('vendor.pem'), retries: 0 },
        { type: 'example', cert: pki.path('vendor.pem') },
      ],
    })
    install(p.root)
    const run = await build(p, { PXP_EXAMPLE_KEY_FILE: pki.path('vendor.key') })
    expect(run.code, JSON.stringify(run.json ?? run.stderr)).toBe(0)
    const report = targetReport(p.out)
    expect(report.signing).toMatchObject({ signer: 'example', fallbacks: [expect.objectContaining({ signer: 'kms', code: 'SIGNER_UNREACHABLE' })] })
    expect(report.signing.fallbacks[0].message).toContain('alias/pxp-release')
    const audit = readFileSync(join(p.out, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    expect(audit.find((l) => l.action === 'sign.fallback')).toMatchObject({ metadata: expect.objectContaining({ from: 'kms', to: 'example', code: 'SIGNER_UNREACHABLE' }) })
    await expectVerifies(p.out, pki.path('root.pem'), { cli: false })
  })
})
