import { readFileSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { certificateInfo, keyMatchesCertificate, loadPkcs12, loadPrivateKeyPem, parsePemCertificates } from '../../src/plugin-api.js'
import { codeOfSync } from '../helpers/errors.js'
import { openssl, Pki } from '../helpers/openssl.js'

const PASS = 'correct horse battery'

describe('private key formats (made by OpenSSL)', () => {
  const pki = new Pki()
  const cert = (name: string) => parsePemCertificates(readFileSync(pki.path(`${name}.pem`), 'utf8'))[0]!
  const load = (file: string, passphrase?: string) => loadPrivateKeyPem(readFileSync(pki.path(file), 'utf8'), { file, passphrase })

  beforeAll(() => {
    pki.root('root', 'ec')
    pki.issue('rsa', 'root', { kind: 'rsa' })
    pki.issue('ec', 'root', { kind: 'ec' })
    const run = (args: string[]) => openssl(args, { cwd: pki.dir })
    run(['pkey', '-in', 'rsa.key', '-traditional', '-out', 'rsa-pkcs1.key'])
    run(['pkey', '-in', 'ec.key', '-traditional', '-out', 'ec-sec1.key'])
    run(['pkcs8', '-topk8', '-in', 'rsa.key', '-v2', 'aes-256-cbc', '-passout', `pass:${PASS}`, '-out', 'rsa-enc.key'])
    run(['pkcs8', '-topk8', '-in', 'ec.key', '-v2', 'aes-256-cbc', '-passout', `pass:${PASS}`, '-out', 'ec-enc.key'])
    run(['rsa', '-in', 'rsa.key', '-traditional', '-aes256', '-passout', `pass:${PASS}`, '-out', 'rsa-legacy-enc.key'])
    run(['pkcs12', '-export', '-inkey', 'rsa.key', '-in', 'rsa.pem', '-certfile', 'root.pem', '-passout', `pass:${PASS}`, '-out', 'rsa.p12'])
    run(['pkcs12', '-export', '-inkey', 'ec.key', '-in', 'ec.pem', '-certfile', 'root.pem', '-passout', `pass:${PASS}`, '-out', 'ec.p12'])
    run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', 'small.key'])
    run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', 'p384.key'])
    run(['genpkey', '-algorithm', 'ED25519', '-out', 'ed.key'])
  })

  it.each([
    ['rsa.key', 'rsa'],
    ['rsa-pkcs1.key', 'rsa'],
    ['ec.key', 'ec'],
    ['ec-sec1.key', 'ec'],
  ])('reads %s', (file, certName) => {
    expect(readFileSync(pki.path(file), 'utf8')).toMatch(/BEGIN (RSA |EC )?PRIVATE KEY/)
    expect(keyMatchesCertificate(load(file), cert(certName))).toBe(true)
  })

  it.each([
    ['rsa-enc.key', 'rsa'],
    ['ec-enc.key', 'ec'],
    ['rsa-legacy-enc.key', 'rsa'],
  ])('reads encrypted %s with the passphrase, refuses a wrong or missing one', (file, certName) => {
    expect(keyMatchesCertificate(load(file, PASS), cert(certName))).toBe(true)
    expect(codeOfSync(() => load(file, 'wrong passphrase'))).toBe('KEY_PASSPHRASE')
    expect(codeOfSync(() => load(file))).toBe('KEY_PASSPHRASE')
  })

  it.each(['rsa', 'ec'])('unpacks a %s PKCS#12 bundle (OpenSSL 3 defaults: AES + PBKDF2)', (name) => {
    const p12 = loadPkcs12(pki.read(`${name}.p12`), { file: `${name}.p12`, passphrase: PASS })
    expect(p12.certificates.map((c) => certificateInfo(c).fingerprint)).toEqual(
      expect.arrayContaining([certificateInfo(cert(name)).fingerprint, certificateInfo(cert('root')).fingerprint]),
    )
    expect(keyMatchesCertificate(p12.key, cert(name))).toBe(true)
    expect(codeOfSync(() => loadPkcs12(pki.read(`${name}.p12`), { file: `${name}.p12`, passphrase: 'nope' }))).toBe('KEY_PASSPHRASE')
  })

  it('refuses weak or unsupported keys', () => {
    expect(codeOfSync(() => load('small.key'))).toBe('KEY_UNSUPPORTED')
    expect(codeOfSync(() => load('p384.key'))).toBe('KEY_UNSUPPORTED')
    expect(codeOfSync(() => load('ed.key'))).toBe('KEY_UNSUPPORTED')
    expect(codeOfSync(() => load('rsa.pem'))).toBe('KEY_UNSUPPORTED')
  })

  it('detects a key that does not belong to the certificate', () => {
    expect(keyMatchesCertificate(load('rsa.key'), cert('ec'))).toBe(false)
  })
})
