/**
 * Loads a plugin or preset given by specifier (an npm package or a local `.ts`/`.js` file) through
 * jiti, relative to the config file, so both can be TypeScript without a build step.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createJiti } from 'jiti'
import { configError } from './errors.js'

/**
 * `import { defineConfig } from 'pxp'` must work in every config and local plugin, also where pxp
 * runs through npx or a global install and is not in the project's node_modules: the running pxp
 * answers for its own name (Nuxt does the same for `nuxt/config`).
 */
export function pxpAlias(): Record<string, string> {
  const file = (rel: string) => {
    const js = fileURLToPath(new URL(rel, import.meta.url))
    return existsSync(js) ? js : js.replace(/\.js$/, '.ts')
  }
  // jiti aliases match prefixes, so every public subpath needs its own entry (see package.json exports).
  return {
    pxp: file('./index.js'),
    'pxp/presets/default': file('../presets/default/index.js'),
    'pxp/presets/powerx-intranet': file('../presets/powerx-intranet/index.js'),
    'pxp/presets/aws': file('../presets/aws/index.js'),
    'pxp/presets/aliyun': file('../presets/aliyun/index.js'),
    'pxp/unplugin': file('./unplugin/index.js'),
    'pxp/vite': file('./unplugin/vite.js'),
    'pxp/rollup': file('./unplugin/rollup.js'),
    'pxp/webpack': file('./unplugin/webpack.js'),
    'pxp/esbuild': file('./unplugin/esbuild.js'),
  }
}

export interface LoadedModule {
  value: unknown
  /** Absolute path of the module file, when it resolved to one. */
  file?: string
}

export async function importSpecifier(specifier: string, fromDir: string, kind: 'plugin' | 'preset', configFile?: string): Promise<LoadedModule> {
  const jiti = createJiti(fromDir + '/', { interopDefault: true, moduleCache: true, alias: pxpAlias() })
  const where = configFile ?? 'the config'
  let file: string | undefined
  try {
    const resolved = jiti.esmResolve(specifier)
    file = resolved.startsWith('file:') ? fileURLToPath(resolved) : resolved
  } catch (error) {
    throw configError(`${kind.toUpperCase()}_NOT_FOUND`, `Unknown ${kind} "${specifier}" listed in ${where}.`, {
      file: configFile,
      keyPath: `${kind}s`,
      hint: `Install it (npm i -D ${specifier}) or fix the path; local files resolve against the config file's directory.`,
      cause: error,
    })
  }
  try {
    return { value: await jiti.import(file, { default: true }), file }
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error)
    throw configError(`${kind.toUpperCase()}_LOAD_FAILED`, `The ${kind} "${specifier}" listed in ${where} failed to load: ${message}`, {
      file: configFile,
      keyPath: `${kind}s`,
      hint: 'Fix the error in that module (rerun with PXP_DEBUG=1 for the stack).',
      cause: error,
    })
  }
}

/** `'spec'` or `['spec', options]` → its parts. */
export function splitSpecifier(option: string | [string, unknown]): [string, unknown] {
  return typeof option === 'string' ? [option, undefined] : option
}
