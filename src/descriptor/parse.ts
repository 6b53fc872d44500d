/**
 * Reading `plugin.yaml`. YAML errors are reported with the line, because a broken descriptor is
 * the most common first-build failure and "invalid YAML" alone sends people hunting.
 */
import { parseDocument } from 'yaml'
import { configError } from '../errors.js'
import type { Descriptor } from './types.js'

export function parseDescriptor(text: string, file = 'plugin.yaml'): Descriptor {
  const doc = parseDocument(text)
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!
    const line = first.linePos?.[0]
    throw configError('DESCRIPTOR_MALFORMED', `${file}${line ? `:${line.line}:${line.col}` : ''} is not valid YAML: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, {
      file,
      hint: 'Fix the YAML syntax at that position (indentation and quoting are the usual suspects).',
    })
  }
  const value: unknown = doc.toJS()
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw configError('DESCRIPTOR_MALFORMED', `${file} must be a YAML mapping with at least id, version and runtime.`, {
      file,
      hint: 'See docs/guides/offline-dist.md for a minimal plugin.yaml.',
    })
  }
  return value as Descriptor
}
