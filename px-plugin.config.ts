import { defineConfig } from 'pxp'

// Builds the playground plugin (see README.md): `npx pxp build`.
export default defineConfig({
  root: './playground',
  offline: {
    targets: [
      { os: 'linux', arch: 'amd64' },
      { os: 'linux', arch: 'arm64' },
    ],
  },
})
