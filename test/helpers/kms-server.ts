/**
 * A loopback AWS KMS that speaks the real wire protocol (JSON 1.1: `POST /`, `X-Amz-Target:
 * TrentService.<Op>`, `application/x-amz-json-1.1`, `x-amzn-RequestId`) for DescribeKey,
 * GetPublicKey and Sign, with real asymmetric keys and KMS's real error shapes
 * (`{"__type": "...", "message": "..."}` with KMS's HTTP statuses). The real @aws-sdk/client-kms
 * talks to it. Faults are scripted per operation: throttle N times, 5xx N times, hang.
 *
 * Signing honours MessageType DIGEST exactly as KMS does: RSASSA_PKCS1_V1_5_SHA_256 wraps the
 * given 32 bytes in a SHA-256 DigestInfo and applies PKCS#1 v1.5 with node:crypto; ECDSA_SHA_256
 * signs the given digest as is (`openssl pkeyutl -sign`, which treats its input as the digest) and
 * returns a DER ECDSA-Sig-Value.
 */
import { execFile } from 'node:child_process'
import { constants, createPrivateKey, createPublicKey, privateEncrypt, randomUUID, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

export interface KmsKey {
  /** The key id (a UUID in real KMS). */
  id: string
  /** PEM private key file (PKCS#8). */
  keyFile: string
  aliases?: string[]
  state?: 'Enabled' | 'Disabled' | 'PendingDeletion'
  usage?: 'SIGN_VERIFY' | 'ENCRYPT_DECRYPT'
}

export type KmsOp = 'DescribeKey' | 'GetPublicKey' | 'Sign'
export type Fault = 'throttle' | 'internal' | 'hang'

export interface KmsCall { op: string; keyId?: string; requestId: string; status: number; error?: string }

const ACCOUNT = '111122223333'
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex')

interface LoadedKey extends Required<Omit<KmsKey, 'aliases'>> { aliases: string[]; privateKey: KeyObject; spec: string; algorithms: string[] }

export class KmsServer {
  readonly calls: KmsCall[] = []
  /** Answer every call with AccessDeniedException (a caller without kms:* permissions). */
  denyAccess = false
  #server: Server
  #sockets = new Set<Socket>()
  #keys = new Map<string, LoadedKey>()
  #faults: Array<{ op: KmsOp | '*'; fault: Fault; remaining: number }> = []
  url = ''

  constructor(readonly region: string, keys: KmsKey[]) {
    for (const key of keys) this.addKey(key)
    this.#server = createServer((req, res) => void this.#handle(req, res))
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
  }

  addKey(key: KmsKey): void {
    const privateKey = createPrivateKey(readFileSync(key.keyFile))
    const details = privateKey.asymmetricKeyDetails ?? {}
    const rsa = privateKey.asymmetricKeyType === 'rsa'
    const spec = rsa ? `RSA_${details.modulusLength}` : details.namedCurve === 'prime256v1' ? 'ECC_NIST_P256' : 'ECC_SECG_P256K1'
    const algorithms = rsa ? ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PSS_SHA_256'] : ['ECDSA_SHA_256']
    this.#keys.set(key.id, { state: 'Enabled', usage: 'SIGN_VERIFY', ...key, aliases: key.aliases ?? [], privateKey, spec, algorithms })
  }

  arn(id: string): string {
    return `arn:aws:kms:${this.region}:${ACCOUNT}:key/${id}`
  }

  setState(id: string, state: LoadedKey['state']): void {
    this.#keys.get(id)!.state = state
  }

  /** The next `count` calls of `op` (or any op) fail with `fault`. */
  inject(op: KmsOp | '*', fault: Fault, count = 1): void {
    this.#faults.push({ op, fault, remaining: count })
  }

  clearFaults(): void {
    this.#faults = []
    this.denyAccess = false
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    const address = this.#server.address() as { port: number }
    this.url = `http://127.0.0.1:${address.port}`
    return this.url
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #find(keyId: unknown): LoadedKey | undefined {
    if (typeof keyId !== 'string') return undefined
    const aliasArn = /^arn:aws:kms:[^:]+:\d+:(alias\/.+)$/.exec(keyId)
    const keyArn = /^arn:aws:kms:([^:]+):\d+:key\/(.+)$/.exec(keyId)
    if (keyArn && keyArn[1] !== this.region) return undefined
    const name = aliasArn ? aliasArn[1]! : keyArn ? keyArn[2]! : keyId
    for (const key of this.#keys.values()) if (key.id === name || key.aliases.includes(name)) return key
    return undefined
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID()
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const target = String(req.headers['x-amz-target'] ?? '')
    const op = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : ''
    let body: Record<string, unknown> = {}
    const reply = (status: number, payload: Record<string, unknown>, error?: string) => {
      this.calls.push({ op, keyId: typeof body.KeyId === 'string' ? body.KeyId : undefined, requestId, status, ...(error && { error }) })
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': requestId })
      res.end(JSON.stringify(payload))
    }
    const fail = (status: number, type: string, message: string) => reply(status, { __type: type, message }, type)

    if (req.method !== 'POST' || !op) return fail(400, 'UnknownOperationException', `Unknown operation ${target}`)
    if (!String(req.headers['content-type']).startsWith('application/x-amz-json-1.1')) return fail(400, 'SerializationException', 'Expected application/x-amz-json-1.1')
    const auth = String(req.headers.authorization ?? '')
    if (!new RegExp(`^AWS4-HMAC-SHA256 Credential=[^/]+/\\d{8}/${this.region}/kms/aws4_request, ?SignedHeaders=[^,]*x-amz-target[^,]*, ?Signature=[0-9a-f]{64}$`).test(auth)) {
      return fail(400, 'IncompleteSignature', 'The request signature does not conform to AWS standards.')
    }
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')
    } catch {
      return fail(400, 'SerializationException', 'Malformed JSON')
    }

    const fault = this.#faults.find((f) => f.remaining > 0 && (f.op === '*' || f.op === op))
    if (fault) {
      fault.remaining--
      if (fault.fault === 'hang') {
        this.calls.push({ op, requestId, status: 0, error: 'hang' })
        return // never answers; the socket is destroyed on close()
      }
      if (fault.fault === 'throttle') return fail(400, 'ThrottlingException', 'Rate exceeded')
      return fail(500, 'KMSInternalException', 'An internal error occurred.')
    }
    if (this.denyAccess) {
      return fail(400, 'AccessDeniedException', `User: arn:aws:iam::${ACCOUNT}:user/ci is not authorized to perform: kms:${op} on resource: ${typeof body.KeyId === 'string' ? body.KeyId : '*'} because no identity-based policy allows the kms:${op} action`)
    }
    const key = this.#find(body.KeyId)
    if (!key) return fail(400, 'NotFoundException', `Key '${String(body.KeyId)}' does not exist`)
    const arn = this.arn(key.id)

    if (op === 'DescribeKey') {
      return reply(200, {
        KeyMetadata: {
          AWSAccountId: ACCOUNT, KeyId: key.id, Arn: arn, CreationDate: 1_700_000_000, Enabled: key.state === 'Enabled', Description: '',
          KeyUsage: key.usage, KeyState: key.state, Origin: 'AWS_KMS', KeyManager: 'CUSTOMER', CustomerMasterKeySpec: key.spec, KeySpec: key.spec,
          ...(key.usage === 'SIGN_VERIFY' ? { SigningAlgorithms: key.algorithms } : { EncryptionAlgorithms: ['RSAES_OAEP_SHA_256'] }), MultiRegion: false,
        },
      })
    }
    if (key.state === 'Disabled') return fail(409, 'DisabledException', `${arn} is disabled.`)
    if (key.state !== 'Enabled') return fail(409, 'KMSInvalidStateException', `${arn} is pending deletion.`)
    if (op === 'GetPublicKey') {
      const spki = createPublicKey(key.privateKey).export({ type: 'spki', format: 'der' })
      return reply(200, { KeyId: arn, PublicKey: spki.toString('base64'), KeySpec: key.spec, CustomerMasterKeySpec: key.spec, KeyUsage: key.usage, ...(key.usage === 'SIGN_VERIFY' && { SigningAlgorithms: key.algorithms }) })
    }
    if (op === 'Sign') {
      if (key.usage !== 'SIGN_VERIFY') return fail(400, 'InvalidKeyUsageException', `${arn} key usage is ${key.usage} which is not valid for Sign.`)
      const algorithm = String(body.SigningAlgorithm)
      if (!key.algorithms.includes(algorithm) || !['RSASSA_PKCS1_V1_5_SHA_256', 'ECDSA_SHA_256'].includes(algorithm)) {
        return fail(400, 'InvalidKeyUsageException', `Algorithm ${algorithm} is incompatible with key spec ${key.spec}.`)
      }
      const message = Buffer.from(String(body.Message ?? ''), 'base64')
      if (body.MessageType !== 'DIGEST') return fail(400, 'ValidationException', 'This test server only signs MessageType DIGEST.')
      if (message.length !== 32) return fail(400, 'ValidationException', 'Digest is invalid length for algorithm.')
      const signature = algorithm === 'ECDSA_SHA_256'
        ? await ecdsaSignDigest(key.keyFile, message)
        : privateEncrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, message]))
      return reply(200, { KeyId: arn, Signature: signature.toString('base64'), SigningAlgorithm: algorithm })
    }
    return fail(400, 'UnknownOperationException', `Operation ${op} is not implemented by this server`)
  }
}

/** ECDSA over a precomputed digest: `openssl pkeyutl -sign` treats its input as the hash. */
function ecdsaSignDigest(keyFile: string, digest: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', ['pkeyutl', '-sign', '-inkey', keyFile], { encoding: 'buffer' }, (error, stdout) => (error ? reject(error) : resolve(stdout)))
    child.stdin!.end(digest)
  })
}
