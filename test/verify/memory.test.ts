import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { createDetachedSignedData, keyObjectSigner, loadPrivateKeyPem, parsePemCertificates } from '../../src/plugin-api.js'
import { bundleEntries, writeLargeBundle, zeroSha256 } from '../helpers/bundle.js'
import { tempDir } from '../helpers/fixtures.js'
import { Pki } from '../helpers/openssl.js'

const measure = fileURLToPath(new URL('./fixtures/measure-cli.mjs', import.meta.url))
const work = tempDir('pxp-memory-')

function verifyWithCli(file: string, root: string): Promise<{ json: any; code: number | null; maxRssKb: number }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [measure, 'verify', file, '--trust', root, '--json'], { maxBuffer: 1 << 20 }, (_error, stdout, stderr) => {
      resolve({ json: JSON.parse(stdout), code: child.exitCode, maxRssKb: Number(/PXP_MAX_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? NaN) })
    })
  })
}

it('`pxp verify` of a 400 MB bundle keeps peak RSS under 200 MB', async () => {
  const pki = new Pki()
  pki.root('root', 'ec')
  pki.issue('leaf', 'root', { kind: 'ec' })
  const key = loadPrivateKeyPem(pki.read('leaf.key').toString(), { file: 'leaf.key' })
  const certificates = parsePemCertificates(pki.read('leaf.pem').toString())
  const size = 400 * 1024 * 1024
  // Incompressible for gzip, so the bundle is really ~400 MB and the ratio limit stays out of the way.
  const pattern = randomBytes(1 << 20)
  const built = await bundleEntries({
    listedOnly: { 'assets/big.bin': zeroSha256(size, pattern) },
    sign: (integrity) => createDetachedSignedData({ content: integrity, certificates, signingTime: new Date(), signer: keyObjectSigner(key) }),
  })
  const file = join(work, 'big.pxp')
  await writeLargeBundle(file, [...built.entries, { path: 'assets/', type: 'Directory' }], { path: 'assets/big.bin', size, pattern })
  expect(statSync(file).size).toBeGreaterThan(size)

  const small = join(work, 'small.pxp')
  await writeLargeBundle(small, [...built.entries, { path: 'assets/', type: 'Directory' }], { path: 'assets/big.bin', size: 0, pattern })
  const baseline = await verifyWithCli(small, pki.path('root.pem'))
  expect(baseline.json).toMatchObject({ ok: false, errors: [{ code: 'ENTRY_TAMPERED' }] })

  const big = await verifyWithCli(file, pki.path('root.pem'))
  expect(big.json).toMatchObject({ ok: true, signed: true, errors: [] })
  expect(big.code).toBe(0)
  console.log(`pxp verify peak RSS: ${Math.round(big.maxRssKb / 1024)} MB for 400 MB, ${Math.round(baseline.maxRssKb / 1024)} MB for a tiny bundle`)
  expect(big.maxRssKb).toBeLessThan(200 * 1024)
  // Flat: the 400 MB entry costs at most a few buffers more than an empty one.
  expect(big.maxRssKb - baseline.maxRssKb).toBeLessThan(48 * 1024)
}, 120_000)
