/**
 * A real PKI made by the `openssl` CLI, the independent peer for everything pxp signs or verifies.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tempDir } from './fixtures.js'

export function openssl(args: string[], options: { cwd: string; input?: string | Buffer } = { cwd: tmpdir() }): Buffer {
  return execFileSync('openssl', args, { cwd: options.cwd, input: options.input, stdio: ['pipe', 'pipe', 'pipe'] })
}

/** Like `openssl` but returns exit status and stderr instead of throwing. */
export function opensslStatus(args: string[], cwd: string): { ok: boolean; stderr: string } {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    return { ok: true, stderr: '' }
  } catch (error) {
    return { ok: false, stderr: String((error as { stderr?: Buffer }).stderr ?? error) }
  }
}

export type KeyKind = 'rsa' | 'ec'

export class Pki {
  /** Removed after the test file, like every tempDir. */
  readonly dir = tempDir('pxp-pki-')
  #serial = 1

  path(name: string): string {
    return join(this.dir, name)
  }

  read(name: string): Buffer {
    return readFileSync(this.path(name))
  }

  /** Unencrypted PKCS#8 key. */
  key(name: string, kind: KeyKind, bits = 2048): string {
    const args = kind === 'rsa' ? ['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`] : ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']
    openssl([...args, '-out', `${name}.key`], { cwd: this.dir })
    return this.path(`${name}.key`)
  }

  /** A self-signed root CA. */
  root(name: string, kind: KeyKind, days = 365): string {
    this.key(name, kind)
    openssl(['req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.pem`, '-days', String(days), '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash'], { cwd: this.dir })
    return this.path(`${name}.pem`)
  }

  /**
   * A certificate `name` issued by `issuer`. `notBefore`/`notAfter` use OpenSSL's
   * `YYYYMMDDHHMMSSZ`, which `openssl ca` accepts (x509 -req in 3.0 cannot backdate).
   */
  issue(name: string, issuer: string, options: { kind?: KeyKind; ca?: boolean; keyUsage?: string; extendedKeyUsage?: string; days?: number; notBefore?: Date; notAfter?: Date; md?: string } = {}): string {
    if (!options.kind && !this.exists(`${name}.key`)) throw new Error('kind needed for a new key')
    if (options.kind) this.key(name, options.kind)
    openssl(['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], { cwd: this.dir })
    const ext = [
      options.ca ? 'basicConstraints=critical,CA:TRUE' : 'basicConstraints=CA:FALSE',
      `keyUsage=critical,${options.keyUsage ?? (options.ca ? 'keyCertSign,cRLSign' : 'digitalSignature')}`,
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      ...(options.extendedKeyUsage ? [`extendedKeyUsage=${options.extendedKeyUsage}`] : []),
    ]
    writeFileSync(this.path(`${name}.ext`), `[v3]\n${ext.join('\n')}\n`)
    const fmt = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'
    writeFileSync(this.path('ca.cnf'), `[ca]\ndefault_ca=x\n[x]\ndatabase=${this.path('index.txt')}\nserial=${this.path('serial')}\nnew_certs_dir=${this.dir}\npolicy=p\n[p]\ncommonName=supplied\n`)
    writeFileSync(this.path('index.txt'), '')
    writeFileSync(this.path('serial'), `${(this.#serial++).toString(16).padStart(4, '0')}\n`)
    const start = options.notBefore ?? new Date(Date.now() - 3600_000)
    const end = options.notAfter ?? new Date(start.getTime() + (options.days ?? 30) * 86_400_000)
    openssl(['ca', '-batch', '-config', 'ca.cnf', '-in', `${name}.csr`, '-cert', `${issuer}.pem`, '-keyfile', `${issuer}.key`, '-out', `${name}.pem`, '-notext',
      '-md', options.md ?? 'sha256', '-startdate', fmt(start), '-enddate', fmt(end), '-extfile', `${name}.ext`, '-extensions', 'v3'], { cwd: this.dir })
    return this.path(`${name}.pem`)
  }

  exists(name: string): boolean {
    try {
      readFileSync(this.path(name))
      return true
    } catch {
      return false
    }
  }

  /** `openssl cms -sign` over a file: detached DER. */
  cmsSign(content: string, signer: string, options: { md?: string; out?: string; certfile?: string } = {}): string {
    const out = options.out ?? `${signer}.cms.der`
    openssl(['cms', '-sign', '-binary', '-outform', 'DER', '-md', options.md ?? 'sha256', '-in', content, '-signer', `${signer}.pem`, '-inkey', `${signer}.key`,
      ...(options.certfile ? ['-certfile', options.certfile] : []), '-out', out], { cwd: this.dir })
    return this.path(out)
  }
}
