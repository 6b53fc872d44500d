/**
 * Minimal, position-based edits of a config module: magicast parses it (babel AST with offsets)
 * and the change is spliced into the original text, so every byte outside the insertion point —
 * comments, spacing, quotes, trailing commas — stays exactly as written. (Reprinting through
 * recast keeps most formatting but moves trailing comments and adds blank lines.)
 */
import { parseModule } from 'magicast'

type Node = { type: string; start: number; end: number; [key: string]: any }

const unwrap = (node: Node | undefined): Node | undefined => {
  let n = node
  while (n && ['TSAsExpression', 'TSSatisfiesExpression', 'ParenthesizedExpression', 'TSNonNullExpression'].includes(n.type)) n = n.expression
  return n
}

/** The object literal of `export default { … }`, `export default defineConfig({ … })` or of a const they name. */
export function configObject(source: string): { program: Node; object: Node } | undefined {
  const program = parseModule(source).$ast as unknown as Node
  const body: Node[] = program.body
  const exported = body.find((n) => n.type === 'ExportDefaultDeclaration')
  let value = unwrap(exported?.declaration)
  for (let hops = 0; hops < 3 && value; hops++) {
    if (value.type === 'ObjectExpression') return { program, object: value }
    if (value.type === 'CallExpression') value = unwrap(value.arguments?.[0])
    else if (value.type === 'Identifier') {
      const name = value.name
      const declarator = body
        .flatMap((n) => (n.type === 'VariableDeclaration' ? n.declarations : n.type === 'ExportNamedDeclaration' && n.declaration?.type === 'VariableDeclaration' ? n.declaration.declarations : []))
        .find((d: Node) => d.id?.name === name)
      value = unwrap(declarator?.init)
    } else return undefined
  }
  return undefined
}

export function propertyOf(object: Node, key: string): Node | undefined {
  return object.properties.find((p: Node) => (p.type === 'ObjectProperty' || p.type === 'Property') && !p.computed && (p.key?.name === key || p.key?.value === key))
}

/** A string literal's value, or undefined. */
export function stringValue(node: Node | undefined): string | undefined {
  const n = unwrap(node)
  return n && (n.type === 'StringLiteral' || (n.type === 'Literal' && typeof n.value === 'string')) ? n.value : undefined
}

const lineStart = (src: string, at: number) => src.lastIndexOf('\n', at - 1) + 1
const indentAt = (src: string, at: number) => /^[ \t]*/.exec(src.slice(lineStart(src, at)))![0]
const lineEnd = (src: string, at: number) => {
  const i = src.indexOf('\n', at)
  return i === -1 ? src.length : i
}
const sameLine = (src: string, a: number, b: number) => !src.slice(a, b).includes('\n')

/** Index just past a comma that follows `at` (spaces allowed in between), or -1. */
function commaAfter(src: string, at: number): number {
  let i = at
  while (src[i] === ' ' || src[i] === '\t') i++
  return src[i] === ',' ? i + 1 : -1
}

/** Adds `item` (code) after the last of `items` inside the container `open…close`. */
function insertItem(src: string, container: Node, items: Node[], item: string, indentUnit: string): string {
  const last = items[items.length - 1]
  if (!last) {
    const inner = src.slice(container.start + 1, container.end - 1)
    if (!inner.includes('\n')) {
      const pad = container.type === 'ObjectExpression' ? ' ' : ''
      return src.slice(0, container.start + 1) + (inner.trim() === '' ? `${pad}${item}${pad}` : `${inner}${item}`) + src.slice(container.end - 1)
    }
    // Multi-line and empty (maybe only comments): a new line just before the closing bracket's line.
    const closeLine = lineStart(src, container.end - 1)
    const indent = indentAt(src, container.start) + indentUnit
    return src.slice(0, closeLine) + `${indent}${item},\n` + src.slice(closeLine)
  }
  const comma = commaAfter(src, last.end)
  if (sameLine(src, container.start, container.end)) {
    return comma === -1 ? src.slice(0, last.end) + `, ${item}` + src.slice(last.end) : src.slice(0, comma) + ` ${item},` + src.slice(comma)
  }
  const indent = indentAt(src, last.start)
  if (comma !== -1) {
    const eol = lineEnd(src, comma)
    return src.slice(0, eol) + `\n${indent}${item},` + src.slice(eol)
  }
  const eol = lineEnd(src, last.end)
  return src.slice(0, last.end) + ',' + src.slice(last.end, eol) + `\n${indent}${item}` + src.slice(eol)
}

function indentUnitOf(src: string): string {
  const m = /\n([ \t]+)\S/.exec(src)
  return m ? (m[1]!.startsWith('\t') ? '\t' : m[1]!.length >= 4 && m[1]!.length % 4 === 0 && !/\n {2}\S/.test(src) ? '    ' : '  ') : '  '
}

export function addProperty(src: string, object: Node, key: string, valueCode: string): string {
  return insertItem(src, object, object.properties, `${key}: ${valueCode}`, indentUnitOf(src))
}

export function appendElement(src: string, array: Node, valueCode: string): string {
  return insertItem(src, array, array.elements.filter(Boolean), valueCode, indentUnitOf(src))
}

/** A JSON-like value as TypeScript source on one line, single-quoted. */
export function toCode(value: unknown): string {
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  if (Array.isArray(value)) return `[${value.map(toCode).join(', ')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : toCode(k)}: ${toCode(v)}`)
    return entries.length ? `{ ${entries.join(', ')} }` : '{}'
  }
  return String(value)
}
