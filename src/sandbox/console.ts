/**
 * The sandbox's web console (`/console`): static files from the repository's `console/` folder
 * (plain HTML, CSS and ES modules; no build step, nothing from the network). The console talks to
 * the sandbox only through its public API, with the token the user types in; this module serves
 * files and nothing else, so it needs no authentication of its own.
 */
import { existsSync, readFileSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { dirname, extname, join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

/** Every response of the console carries these: nothing but this origin, nothing cached. */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
}

let cachedDir: string | undefined

/** The `console/` folder next to pxp's package.json, found by walking up from this module (src/ or dist/src/). */
export function consoleDir(): string {
  if (cachedDir) return cachedDir
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'pxp') return (cachedDir = join(dir, 'console'))
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir)
    if (up === dir) throw new Error('pxp console: cannot find the package root (package.json named "pxp").')
    dir = up
  }
}

function plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...CONSOLE_HEADERS, 'content-type': 'text/plain; charset=utf-8', ...extra })
  res.end(`${text}\n`)
}

/**
 * Maps a request path under `/console` to a file of the console folder, or undefined when it is not
 * one: `..` segments, encoded slashes or backslashes, NUL bytes, dot files and unknown types are refused.
 */
export function consoleFile(path: string, root = consoleDir()): string | undefined {
  let rel = path === '/console' || path === '/console/' ? 'index.html' : path.slice('/console/'.length)
  try {
    rel = decodeURIComponent(rel)
  } catch {
    return undefined
  }
  if (!rel || rel.includes('\0') || rel.includes('\\')) return undefined
  const segments = rel.split('/')
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.'))) return undefined
  if (!CONTENT_TYPES[extname(rel).toLowerCase()]) return undefined
  const file = resolve(root, ...segments)
  if (!file.startsWith(resolve(root) + sep)) return undefined
  return file
}

/** Serves `GET|HEAD /console[/…]`. */
export async function serveConsole(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  req.resume()
  const method = req.method ?? 'GET'
  if (method !== 'GET' && method !== 'HEAD') return plain(res, 405, 'Method not allowed.', { allow: 'GET, HEAD' })
  const file = consoleFile(path)
  if (!file) return plain(res, 404, 'Not found.')
  let body: Buffer
  try {
    if (!(await stat(file)).isFile()) return plain(res, 404, 'Not found.')
    body = await readFile(file)
  } catch {
    return plain(res, 404, 'Not found.')
  }
  res.writeHead(200, { ...CONSOLE_HEADERS, 'content-type': CONTENT_TYPES[extname(file).toLowerCase()]!, 'content-length': String(body.length) })
  res.end(method === 'HEAD' ? undefined : body)
}
