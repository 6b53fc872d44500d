/**
 * Secrets never go into a bundle (pxp-format.md): dotenv files, private keys by name or by PEM
 * content, PKCS#12 files, and whatever the config's `secretPatterns` add.
 */
import picomatch from 'picomatch'

const NAME_PATTERNS = ['**/.env', '**/.env.*', '**/id_rsa*', '**/id_dsa*', '**/id_ecdsa*', '**/id_ed25519*', '**/*.p12', '**/*.pfx']
export const PEM_PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/
/** Longest marker prefix kept between chunks so a marker split across two reads is still found. */
export const MARKER_OVERLAP = 64

export function secretNameMatcher(extra: string[]): (path: string) => boolean {
  return picomatch([...NAME_PATTERNS, ...extra.map((p) => (p.includes('/') ? p : `**/${p}`))], { dot: true, basename: false })
}
