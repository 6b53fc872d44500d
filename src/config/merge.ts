import { createDefu } from 'defu'

/**
 * How config layers combine: objects merge key by key, `plugins` and `presets` accumulate (every
 * layer contributes plugins, as in Vite), and every other array is replaced by the higher layer so
 * a project can override a preset's `targets` or `trust` instead of appending to them.
 */
// defu calls the merger with `object` holding the lower layer and `value` the higher layer's value.
export const mergeConfig = createDefu((object, key, value) => {
  if (Array.isArray(value) && key !== 'plugins' && key !== 'presets') {
    ;(object as Record<string, unknown>)[key as string] = value
    return true
  }
  return false
})
