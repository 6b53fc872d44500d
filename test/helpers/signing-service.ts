/**
 * A loopback signing service implementing docs/signing-service.md: `GET /identity` and
 * `POST /sign` (signature mode: PKCS#1 v1.5 / ECDSA over the given SHA-256 digest with a real key;
 * cms mode: a detached CMS made by `openssl cms -sign`). Bearer-token auth, optional HTTPS with
 * client-certificate auth (mTLS), and scripted faults (status codes, hangs).
 */
import { execFile } from 'node:child_process'
import { constants, createPrivateKey, createPublicKey, privateEncrypt, randomUUID, type KeyObject } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parsePemCertificates } from '../../src/crypto/certs.js'

const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex')

export interface SigningServiceOptions {
  keyFile: string
  /** PEM signer certificate (+ optional intermediates file) served by /identity and used by cms mode. */
  certFile: string
  chainFile?: string
  /** A rogue service: /sign uses this key instead of `keyFile` (what /identity publishes). */
  signWith?: string
  /** A broken service: in cms mode it signs other bytes than it was sent. */
  cmsOverOtherBytes?: boolean
  /** Required bearer token; none → no auth. */
  token?: string
  /** Serve /identity without certificates (the config then supplies the chain). */
  serveCertificates?: boolean
  /** HTTPS: server cert/key, and the CA client certificates must chain to (mTLS). */
  tls?: { cert: string; key: string; clientCa?: string }
}

export interface ServiceCall { method: string; path: string; status: number; requestId: string; authorized: boolean; body?: any }

export class SigningService {
  readonly calls: ServiceCall[] = []
  url = ''
  #server: Server
  #sockets = new Set<Socket>()
  #key: KeyObject
  #signingKey: KeyObject
  #faults: Array<{ path: string; status: number | 'hang'; remaining: number }> = []
  #work = mkdtempSync(join(tmpdir(), 'pxp-signsvc-'))

  constructor(readonly options: SigningServiceOptions) {
    this.#key = createPrivateKey(readFileSync(options.keyFile))
    this.#signingKey = createPrivateKey(readFileSync(options.signWith ?? options.keyFile))
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.#handle(req, res)
    this.#server = options.tls
      ? createHttpsServer({ cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key), ...(options.tls.clientCa && { ca: readFileSync(options.tls.clientCa), requestCert: true, rejectUnauthorized: true }) }, handler)
      : createHttpServer(handler)
    this.#server.on(options.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
  }

  inject(path: '/identity' | '/sign', status: number | 'hang', count = 1): void {
    this.#faults.push({ path, status, remaining: count })
  }

  clearFaults(): void {
    this.#faults = []
  }

  async start(port = 0): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve))
    const address = this.#server.address() as { port: number }
    this.url = `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${address.port}/v1/pxp`
    return this.url
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #certificates(): string[] {
    const pem = readFileSync(this.options.certFile, 'utf8') + (this.options.chainFile ? readFileSync(this.options.chainFile, 'utf8') : '')
    return parsePemCertificates(pem).map((der) => Buffer.from(der).toString('base64'))
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = String(req.headers['x-request-id'] ?? randomUUID())
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const url = new URL(req.url ?? '/', 'http://x')
    const path = url.pathname.replace(/^\/v1\/pxp/, '')
    const authorized = !this.options.token || req.headers.authorization === `Bearer ${this.options.token}`
    let body: any
    const reply = (status: number, payload: unknown) => {
      this.calls.push({ method: req.method ?? '', path, status, requestId, authorized, body })
      res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': requestId })
      res.end(JSON.stringify(payload))
    }
    const fault = this.#faults.find((f) => f.remaining > 0 && f.path === path)
    if (fault) {
      fault.remaining--
      if (fault.status === 'hang') return void this.calls.push({ method: req.method ?? '', path, status: 0, requestId, authorized })
      return reply(fault.status, { error: { code: 'fault', message: `injected HTTP ${fault.status}` } })
    }
    // A careless service that echoes what it got: pxp must still never show the token.
    if (!authorized) return reply(401, { error: { code: 'unauthorized', message: `invalid bearer token (got "${String(req.headers.authorization ?? '')}")` } })

    if (req.method === 'GET' && path === '/identity') {
      const spki = createPublicKey(this.#key).export({ type: 'spki', format: 'der' }).toString('base64')
      const algorithm = this.#key.asymmetricKeyType === 'rsa' ? 'RSASSA-PKCS1-v1_5-SHA256' : 'ECDSA-P256-SHA256'
      return reply(200, { keyId: url.searchParams.get('keyId') ?? 'release-2026', algorithm, publicKey: spki, ...(this.options.serveCertificates !== false && { certificates: this.#certificates() }) })
    }
    if (req.method === 'POST' && path === '/sign') {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        return reply(400, { error: { code: 'bad_request', message: 'body is not JSON' } })
      }
      if (body.mode === 'cms') {
        const sent = Buffer.from(String(body.content), 'base64')
        const content = this.options.cmsOverOtherBytes ? Buffer.concat([sent, Buffer.from('extra\n')]) : sent
        const file = join(this.#work, `${requestId}.txt`)
        writeFileSync(file, content)
        const der = await opensslCms(file, this.options.certFile, this.options.keyFile, this.options.chainFile)
        return reply(200, { cms: der.toString('base64') })
      }
      const digest = Buffer.from(String(body.digest), 'base64')
      if (body.digestAlgorithm !== 'SHA-256' || digest.length !== 32) return reply(400, { error: { code: 'bad_request', message: 'digest must be 32 bytes of SHA-256' } })
      const signature = this.#signingKey.asymmetricKeyType === 'rsa'
        ? privateEncrypt({ key: this.#signingKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, digest]))
        : await pkeyutlSign(this.options.signWith ?? this.options.keyFile, digest)
      return reply(200, { signature: signature.toString('base64') })
    }
    return reply(404, { error: { code: 'not_found', message: `no route ${req.method} ${path}` } })
  }
}

function run(args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, { encoding: 'buffer' }, (error, stdout) => (error ? reject(error) : resolve(stdout)))
    child.stdin!.end(input)
  })
}

/** ECDSA over a precomputed digest (pkeyutl treats its input as the hash). */
const pkeyutlSign = (keyFile: string, digest: Buffer) => run(['pkeyutl', '-sign', '-inkey', keyFile], digest)

const opensslCms = (content: string, cert: string, key: string, chain?: string) =>
  run(['cms', '-sign', '-binary', '-outform', 'DER', '-md', 'sha256', '-in', content, '-signer', cert, '-inkey', key, ...(chain ? ['-certfile', chain] : [])])
