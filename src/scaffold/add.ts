/**
 * `pxp add <name>`: puts a preset, a built-in plugin's config section or a plugin package into
 * px-plugin.config.ts. A new config is created through c12/update (magicast); an existing one is
 * parsed with magicast and the change spliced in at the right offset (./splice.ts), so comments and
 * formatting stay byte for byte. npm packages missing from node_modules are installed first.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { updateConfig } from 'c12/update'
import { createJiti } from 'jiti'
import { PxpError } from '../errors.js'
import { pxpAlias } from '../module-loader.js'
import { BUILT_IN_PRESET_NAMES, builtInPresetName, isPresetLike } from '../config/builtin-presets.js'
import { addProperty, appendElement, configObject, propertyOf, stringValue, toCode } from './splice.js'

type Section = 'signer' | 'artifactStore' | 'sandbox' | 'telemetry' | 'alerts'

/** Built-in plugins load when their config section asks for them; `add` writes that section. */
export const BUILT_IN_PLUGIN_SECTIONS: Record<string, [Section, Record<string, unknown>]> = {
  'signer-pem': ['signer', { type: 'pem', cert: 'keys/signing.pem', key: 'keys/signing.key' }],
  'signer-kms': ['signer', { type: 'kms', keyId: 'alias/powerx-plugin-signing', region: 'us-east-1', cert: 'keys/kms-signing.pem' }],
  'signer-http': ['signer', { type: 'http', url: 'https://signing.example.internal/v1/sign', tokenEnv: 'PX_SIGNING_TOKEN' }],
  'uploader-s3': ['artifactStore', { type: 's3', bucket: 'powerx-plugins', region: 'us-east-1' }],
  'uploader-oss': ['artifactStore', { type: 'oss', bucket: 'powerx-plugins', region: 'cn-hangzhou' }],
  'uploader-fs': ['artifactStore', { type: 'fs', dir: './artifacts' }],
  'uploader-signed-url': ['artifactStore', { type: 'signed-url', url: 'https://uploads.example.internal/put' }],
  'installer-sandbox': ['sandbox', { url: 'http://127.0.0.1:7077', tenant: 'dev', tokenEnv: 'PXP_SANDBOX_TOKEN' }],
  'telemetry-http': ['telemetry', { url: 'https://telemetry.example.internal/v1/events' }],
  'alert-webhook': ['alerts', { webhook: 'https://hooks.example.internal/pxp', kind: 'json' }],
}

export interface AddOptions {
  cwd: string
  name: string
  /** Install a missing npm package (default true). */
  install?: boolean
  /** Force the kind of an npm package or file instead of looking at its export. */
  as?: 'plugin' | 'preset'
  /** Runs npm; replaceable for callers that install differently. */
  npm?: (args: string[], cwd: string) => Promise<void>
}

export interface AddResult {
  configFile: string
  created: boolean
  kind: 'preset' | 'builtin-plugin' | 'plugin'
  /** What changed, e.g. `presets += 'aws'`, or `unchanged` when it was already there. */
  change: string
  installed: boolean
}

const CONFIG_TEMPLATE = `import { defineConfig } from 'pxp'\n\nexport default defineConfig({})\n`

/** `name`, `@scope/name`, `name@1.2`, `name@file:../x` → the package name. */
export function packageName(spec: string): string {
  const at = spec.indexOf('@', spec.startsWith('@') ? 1 : 0)
  return at > 0 ? spec.slice(0, at) : spec
}

const isPath = (s: string) => /^(\.{1,2}\/|\/)/.test(s)

function findInstalled(cwd: string, name: string): string | undefined {
  let dir = resolve(cwd)
  for (;;) {
    const pkg = join(dir, 'node_modules', name, 'package.json')
    if (existsSync(pkg)) return dirname(pkg)
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

function runNpm(args: string[], cwd: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    // npm's own output goes to stderr: stdout is kept for --json.
    const child = spawn(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { cwd, stdio: ['ignore', 2, 2] })
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`npm ${args.join(' ')} exited with ${code}`))))
  })
}

/** Whether a module exports a preset (an object `{ name, config?, plugins? }` or a factory of one). */
async function exportsPreset(specifier: string, cwd: string): Promise<boolean> {
  try {
    const jiti = createJiti(resolve(cwd) + '/', { interopDefault: true, alias: pxpAlias() })
    const resolved = jiti.esmResolve(specifier)
    let value = (await jiti.import(resolved.startsWith('file:') ? fileURLToPath(resolved) : resolved, { default: true })) as unknown
    if (isPresetLike(value)) return true
    if (typeof value === 'function') {
      try {
        value = await (value as () => unknown)()
      } catch {
        return false
      }
      return isPresetLike(value)
    }
  } catch {
    // not loadable here: treat as a plugin; `pxp build` reports load errors with their own codes
  }
  return false
}

export async function addToConfig(options: AddOptions): Promise<AddResult> {
  const cwd = resolve(options.cwd)
  const name = options.name.trim()
  if (!name) throw new PxpError('USAGE', 'pxp add needs a plugin or preset name.', { exitCode: 2, hint: 'e.g. `pxp add aws`, `pxp add signer-kms`, `pxp add pxp-plugin-foo`.' })
  let installed = false
  let kind: AddResult['kind']
  let listKey: 'plugins' | 'presets' | undefined
  let entry: string | undefined
  let section: [Section, Record<string, unknown>] | undefined

  const builtInPreset = builtInPresetName(name)
  if (builtInPreset && builtInPreset !== 'default') {
    kind = 'preset'
    listKey = 'presets'
    entry = builtInPreset
  } else if (builtInPreset === 'default') {
    throw new PxpError('USAGE', 'The default preset is always active; there is nothing to add.', { exitCode: 2 })
  } else if (Object.hasOwn(BUILT_IN_PLUGIN_SECTIONS, name.replace(/^pxp\//, ''))) {
    kind = 'builtin-plugin'
    section = BUILT_IN_PLUGIN_SECTIONS[name.replace(/^pxp\//, '')]
  } else if (isPath(name)) {
    if (!existsSync(resolve(cwd, name))) throw new PxpError('ADD_NOT_FOUND', `${resolve(cwd, name)} does not exist.`, { exitCode: 2, hint: 'Give the path of a local plugin or preset file, relative to the project.' })
    const preset = options.as ? options.as === 'preset' : await exportsPreset(resolve(cwd, name), cwd)
    kind = preset ? 'preset' : 'plugin'
    listKey = preset ? 'presets' : 'plugins'
    entry = name
  } else {
    const pkg = packageName(name)
    if (!/^(@[a-z0-9][\w.~-]*\/)?[a-z0-9][\w.~-]*$/i.test(pkg)) {
      throw new PxpError('USAGE', `"${name}" is neither a built-in preset or plugin, a path, nor an npm package name.`, {
        exitCode: 2,
        hint: `Built-in presets: ${BUILT_IN_PRESET_NAMES.filter((n) => n !== 'default').join(', ')}; built-in plugins: ${Object.keys(BUILT_IN_PLUGIN_SECTIONS).join(', ')}.`,
      })
    }
    if (!findInstalled(cwd, pkg)) {
      if (options.install === false) {
        throw new PxpError('ADD_NOT_INSTALLED', `The package ${pkg} is not installed.`, { exitCode: 2, hint: `Install it (npm i -D ${name}) or drop --no-install.` })
      }
      try {
        await (options.npm ?? runNpm)(['install', '--save-dev', '--no-audit', '--no-fund', name], cwd)
      } catch (error) {
        throw new PxpError('ADD_INSTALL_FAILED', `Installing ${name} failed: ${(error as Error).message}`, { cause: error, hint: 'Check the package name and your npm registry access, then retry.' })
      }
      if (!findInstalled(cwd, pkg)) throw new PxpError('ADD_INSTALL_FAILED', `npm finished but ${pkg} is not in node_modules.`, { hint: 'Run npm install yourself and retry.' })
      installed = true
    }
    const preset = options.as ? options.as === 'preset' : await exportsPreset(pkg, cwd)
    kind = preset ? 'preset' : 'plugin'
    listKey = preset ? 'presets' : 'plugins'
    entry = pkg
  }

  const edit: Edit = listKey ? { list: listKey, entry: entry! } : { section: section! }
  const existing = CONFIG_FILES.map((f) => join(cwd, f)).find((f) => existsSync(f))
  if (!existing) {
    // No config yet: c12/update creates one from the template and sets the entry through magicast.
    let change = 'unchanged'
    const result = await updateConfig({
      cwd,
      configFile: 'px-plugin.config',
      createExtension: '.ts',
      onCreate: () => CONFIG_TEMPLATE,
      onUpdate: (config: Record<string, any>) => {
        if ('list' in edit) config[edit.list] = [edit.entry]
        else config[edit.section[0]] = edit.section[1]
        change = describe(edit)
      },
    })
    return { configFile: result.configFile!, created: true, kind, change, installed }
  }
  const before = await readFile(existing, 'utf8')
  const { text, change } = existing.endsWith('.json') ? editJson(before, edit, existing) : editModule(before, edit, existing)
  if (text !== before) await writeFile(existing, text)
  return { configFile: existing, created: false, kind, change, installed }
}

type Edit = { list: 'plugins' | 'presets'; entry: string } | { section: [Section, Record<string, unknown>] }
const CONFIG_FILES = ['px-plugin.config.ts', 'px-plugin.config.mts', 'px-plugin.config.js', 'px-plugin.config.mjs', 'px-plugin.config.json']

/** `'aws'` and `'pxp/presets/aws'` name the same built-in preset. */
function sameEntry(edit: { list: string; entry: string }, value: unknown): boolean {
  if (typeof value !== 'string') return false
  if (value === edit.entry) return true
  return edit.list === 'presets' && builtInPresetName(value) !== undefined && builtInPresetName(value) === builtInPresetName(edit.entry)
}

const describe = (edit: Edit) => ('list' in edit ? `${edit.list} += '${edit.entry}'` : `${edit.section[0]} = { type: '${String(edit.section[1].type ?? edit.section[0])}', … }`)

function unsupported(file: string, why: string, keyPath?: string): PxpError {
  return new PxpError('ADD_CONFIG_UNSUPPORTED', `pxp add cannot edit ${file}: ${why}.`, {
    exitCode: 2,
    file,
    keyPath,
    hint: 'pxp add edits a default export that is an object literal or defineConfig({...}) with literal arrays; make the change by hand.',
  })
}

function sectionExists(key: Section, type: unknown): PxpError {
  return new PxpError('ADD_SECTION_EXISTS', `\`${key}\` is already set${type ? ` (type ${String(type)})` : ''}; pxp add will not replace it.`, {
    exitCode: 2,
    keyPath: key,
    hint: key === 'signer' || key === 'artifactStore' ? `Make \`${key}\` an array to use both (${key === 'signer' ? 'an ordered fallback chain' : 'several stores'}), then rerun.` : 'Edit the section by hand.',
  })
}

/** Edits px-plugin.config.ts/.js in place: only the inserted text changes. */
function editModule(source: string, edit: Edit, file: string): { text: string; change: string } {
  let found
  try {
    found = configObject(source)
  } catch (error) {
    throw unsupported(file, `it does not parse (${(error as Error).message.split('\n')[0]})`)
  }
  if (!found) throw unsupported(file, 'its default export is not an object literal or defineConfig({...})')
  const { object } = found
  let text: string
  if ('list' in edit) {
    const property = propertyOf(object, edit.list)
    if (!property) text = addProperty(source, object, edit.list, toCode([edit.entry]))
    else {
      const array = property.value
      if (array?.type !== 'ArrayExpression') throw unsupported(file, `\`${edit.list}\` is not a literal array`, edit.list)
      const present = array.elements.some((e: any) => sameEntry(edit, stringValue(e)) || (e?.type === 'ArrayExpression' && sameEntry(edit, stringValue(e.elements[0]))))
      if (present) return { text: source, change: 'unchanged' }
      text = appendElement(source, array, toCode(edit.entry))
    }
  } else {
    const [key, value] = edit.section
    const property = propertyOf(object, key)
    if (!property) text = addProperty(source, object, key, toCode(value))
    else {
      const typeOf = (node: any) => (node?.type === 'ObjectExpression' ? stringValue(propertyOf(node, 'type')?.value) : undefined)
      const current = property.value
      const types = current?.type === 'ArrayExpression' ? current.elements.map(typeOf) : [typeOf(current)]
      if (value.type === undefined || types.includes(value.type as string)) return { text: source, change: 'unchanged' }
      if (current?.type !== 'ArrayExpression') throw sectionExists(key, types[0])
      text = appendElement(source, current, toCode(value))
      const change = `${key} += { type: '${String(value.type)}', … }`
      return { text: checked(text, file), change }
    }
  }
  return { text: checked(text, file), change: describe(edit) }
}

function checked(text: string, file: string): string {
  try {
    if (configObject(text)) return text
  } catch {
    // fall through
  }
  throw new PxpError('ADD_FAILED', `Editing ${file} produced invalid code; the file was left unchanged.`, { hint: 'Please report this with the file attached, and make the change by hand.' })
}

/** JSON configs have no comments to keep: parse, change, write back with the file's indentation. */
function editJson(source: string, edit: Edit, file: string): { text: string; change: string } {
  let config: Record<string, any>
  try {
    config = JSON.parse(source)
  } catch (error) {
    throw unsupported(file, `it is not valid JSON (${(error as Error).message})`)
  }
  const indent = /\n([ \t]+)"/.exec(source)?.[1] ?? '  '
  let change = describe(edit)
  if ('list' in edit) {
    const list = (config[edit.list] ??= [])
    if (!Array.isArray(list)) throw unsupported(file, `\`${edit.list}\` is not an array`, edit.list)
    if (list.some((e) => sameEntry(edit, e) || (Array.isArray(e) && sameEntry(edit, e[0])))) return { text: source, change: 'unchanged' }
    list.push(edit.entry)
  } else {
    const [key, value] = edit.section
    const current = config[key]
    if (current === undefined) config[key] = value
    else {
      const entries = Array.isArray(current) ? current : [current]
      if (entries.some((e) => e?.type === value.type)) return { text: source, change: 'unchanged' }
      if (!Array.isArray(current)) throw sectionExists(key, current?.type)
      current.push(value)
      change = `${key} += { type: '${String(value.type)}', … }`
    }
  }
  return { text: JSON.stringify(config, null, indent) + (source.endsWith('\n') ? '\n' : ''), change }
}
