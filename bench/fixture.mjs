// Generates a realistic PowerX plugin tree for the benchmark: Go-sized incompressible binaries,
// thousands of admin UI chunks and hundreds of JSON schemas. Deterministic (seeded), cached on disk.
import { existsSync, mkdirSync, writeFileSync, cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const MiB = 1024 * 1024

function rng(seed) {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    return (x >>> 0) / 4294967296
  }
}

function noise(size, seed) {
  const out = Buffer.alloc(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out.writeUInt32LE(x >>> 0, i)
  }
  return out
}

const WORDS = ['state', 'props', 'render', 'tenant', 'plugin', 'task', 'board', 'fetch', 'value', 'index', 'router', 'store', 'emit', 'watch', 'computed', 'effect', 'ref', 'node', 'list', 'item']

/** Minified-looking JS: compresses about as well as real bundler output (3–5×). */
function jsChunk(size, random) {
  const parts = []
  let length = 0
  while (length < size) {
    const a = WORDS[Math.floor(random() * WORDS.length)]
    const b = WORDS[Math.floor(random() * WORDS.length)]
    const n = Math.floor(random() * 1e6).toString(36)
    const s = `function ${a}_${n}(${b},e){return e.${a}?${b}.${a}_${n}(e,"${n}${b}"):[${Math.floor(random() * 999)},${b}]};`
    parts.push(s)
    length += s.length
  }
  return parts.join('').slice(0, size)
}

export function makeFixture(dir, { binaryMiB, jsFiles = 3000, jsMiB = 40, schemas = 450 }) {
  const stamp = join(dir, '.complete')
  if (existsSync(stamp)) return dir
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const random = rng(42)
  cpSync(new URL('../playground', import.meta.url).pathname, dir, { recursive: true, filter: (src) => !src.includes('/playground/dist') })
  mkdirSync(join(dir, 'backend/bin/linux-amd64'), { recursive: true })
  writeFileSync(join(dir, 'backend/bin/linux-amd64/plugin-core'), noise(binaryMiB * MiB, 1), { mode: 0o755 })
  writeFileSync(join(dir, 'backend/bin/linux-amd64/migrate-core'), noise(binaryMiB * MiB, 2), { mode: 0o755 })
  const perFile = Math.floor((jsMiB * MiB) / jsFiles)
  for (let i = 0; i < jsFiles; i++) {
    const sub = join(dir, 'web-admin/.output/public/_nuxt', `d${i % 60}`)
    mkdirSync(sub, { recursive: true })
    writeFileSync(join(sub, `chunk-${i}.js`), jsChunk(perFile + Math.floor(random() * 512), random))
  }
  for (let i = 0; i < schemas; i++) {
    const sub = join(dir, 'docs/contracts/schemas', `g${i % 15}`)
    mkdirSync(sub, { recursive: true })
    const props = Object.fromEntries(Array.from({ length: 20 + (i % 30) }, (_, k) => [`${WORDS[k % WORDS.length]}_${k}`, { type: k % 3 ? 'string' : 'integer', description: `Field ${k} of schema ${i}` }]))
    writeFileSync(join(sub, `schema-${i}.json`), JSON.stringify({ $schema: 'https://json-schema.org/draft/2020-12/schema', title: `S${i}`, type: 'object', properties: props }, null, 2))
  }
  writeFileSync(stamp, '')
  return dir
}
