import { describe, expect, it } from 'vitest'
import { archiveOrder } from '../../src/plugin-api.js'
import { formatIntegrity } from '../../src/bundle/layout.js'

// pxp-format.md orders entries by their UTF-8 bytes; Buffer.compare on the encoded names is the
// independent reference. Names above U+FFFF (surrogate pairs in JS) and from U+E000 up are where
// JavaScript's own string order differs from UTF-8 order.
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

describe('archive order', () => {
  it('puts the leading root files first, then every entry in UTF-8 byte order, each directory before its contents', () => {
    const names = ['web/z.js', 'web/\u{1F600}.js', 'web/\uE000.js', 'web/\uFFFD.js', 'web/é.js', 'web/_a.js', 'web/A.js', 'web-admin/x.js', 'plugin.yaml', 'a/b/c.txt', 'manifest.json', 'integrity.txt']
    const order = archiveOrder(names.map((path) => ({ path }))).map((e) => e.path)
    expect(order.slice(0, 3)).toEqual(['integrity.txt', 'manifest.json', 'plugin.yaml'])
    const rest = order.slice(3)
    expect(rest).toEqual([...rest].sort(byBytes))
    expect(rest).toEqual(['a/', 'a/b/', 'a/b/c.txt', 'web-admin/', 'web-admin/x.js', 'web/', 'web/A.js', 'web/_a.js', 'web/z.js', 'web/é.js', 'web/\uE000.js', 'web/\uFFFD.js', 'web/\u{1F600}.js'])
  })

  it('sorts plain ASCII trees the same way', () => {
    const names = Array.from({ length: 500 }, (_, i) => `web-admin/.output/public/_nuxt/d${i % 17}/chunk-${(i * 7919) % 500}.js`)
    const order = archiveOrder(names.map((path) => ({ path }))).map((e) => e.path)
    expect(order).toEqual([...order].sort(byBytes))
    expect(formatIntegrity(names.map((path) => ({ path, sha256: '0'.repeat(64) }))).split('\n').slice(0, -1).map((l) => l.slice(66))).toEqual([...names].sort(byBytes))
  })
})
