/**
 * Writes the text of a typed `px-plugin.config.ts` from a detected layout and the user's answers.
 * Plain text (not an AST) so the file reads as if written by hand, with a comment per decision.
 */
import type { TargetConfig } from '../config/types.js'
import type { DetectedLayout } from './detect.js'

export interface InitAnswers {
  targets: TargetConfig[]
  /** A built-in preset name, or none. */
  preset?: 'powerx-intranet' | 'aws' | 'aliyun'
  /** Sign with the dev keys of `pxp keys dev` (.pxp/keys). */
  devSigning?: boolean
}

const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

export function configTemplate(layout: DetectedLayout, answers: InitAnswers): string {
  const lines: string[] = []
  lines.push(`import { defineConfig } from 'pxp'`, '')
  const what = [layout.descriptor.id, layout.descriptor.version].filter(Boolean).join(' ')
  lines.push(`// pxp config for ${what || 'this plugin'}, written by \`pxp init\`. Reference: docs/reference/config.md`)
  lines.push('export default defineConfig({')
  if (answers.preset) lines.push(`  presets: [${q(answers.preset)}],`)
  lines.push('  offline: {')
  lines.push(`    // Found in ${layout.targetsFrom === 'host' ? 'no backend/bin/<os>-<arch>/ folder: the host platform' : layout.targetsFrom}.`)
  lines.push('    targets: [')
  for (const t of answers.targets) lines.push(`      { os: ${q(t.os)}, arch: ${q(t.arch)} },`)
  lines.push('    ],')
  if (layout.assets.length > 0) {
    lines.push('    // Outside the default payload (plugin.yaml, backend/bin, web-admin/.output, contracts, …):')
    lines.push(`    assets: [${layout.assets.map(q).join(', ')}],`)
  }
  lines.push('  },')
  if (answers.devSigning) {
    lines.push('  // DEV keys from `pxp keys dev`; use a real key (or a preset) for releases.')
    lines.push(`  signer: { type: 'pem', cert: '.pxp/keys/dev-signing.pem', key: '.pxp/keys/dev-signing.key' },`)
    lines.push(`  trust: ['.pxp/keys/dev-root-ca.pem'],`)
  }
  lines.push('  plugins: [],')
  lines.push('})', '')
  const notes: string[] = []
  if (layout.adminUi) notes.push(`admin UI: ${layout.adminUi.dir}${layout.adminUi.built ? '' : ' (not built yet)'}${layout.adminUi.bundler ? `, built with ${layout.adminUi.bundler}${layout.adminUi.bundler === 'vite' ? " (pxp/vite can end that build with a bundle)" : ''}` : ''}`)
  if (layout.contracts.length > 0) notes.push(`contracts: ${layout.contracts.join(', ')}`)
  if (notes.length > 0) lines.push(...notes.map((n) => `// ${n}`), '')
  return lines.join('\n')
}
