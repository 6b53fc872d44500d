import { defineConfig } from 'pxp'

// Builds the playground plugin (README.md): `npx pxp keys dev && npx pxp build`.
// The DEV keys come from `pxp keys dev`; a real project points `signer` at its release key.
export default defineConfig({
  root: './playground',
  offline: {
    targets: [
      { os: 'linux', arch: 'amd64' },
      { os: 'linux', arch: 'arm64' },
    ],
  },
  signer: { type: 'pem', cert: './.pxp/keys/dev-signing.pem', key: './.pxp/keys/dev-signing.key' },
  trust: ['./.pxp/keys/dev-root-ca.pem'],
  // The embedded store: a local directory standing in for the NAS or bucket the Marketplace imports from.
  artifactStore: { type: 'fs', dir: './.pxp/store' },
})
