import picomatch from 'picomatch'
import type { FilterPattern, HookFilter } from '../plugin-api.js'

/** unplugin-style `{ include, exclude }` on bundle paths; strings are globs, RegExps test the path. */
export function createFilter(filter: HookFilter | undefined): (path: string) => boolean {
  if (!filter) return () => true
  const include = toMatchers(filter.include)
  const exclude = toMatchers(filter.exclude)
  return (path) => !exclude.some((m) => m(path)) && (include.length === 0 || include.some((m) => m(path)))
}

function toMatchers(pattern: FilterPattern | undefined): Array<(path: string) => boolean> {
  if (pattern === undefined) return []
  return (Array.isArray(pattern) ? pattern : [pattern]).map((p) => {
    if (p instanceof RegExp) return (path: string) => p.test(path)
    const match = picomatch(p, { dot: true })
    return (path: string) => match(path)
  })
}
