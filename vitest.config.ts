import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The CLI is tested as shipped: compiled once before the run (see test/setup/build.ts).
    globalSetup: ['test/setup/build.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: keep child-process-heavy files from starving each other.
    maxWorkers: 2,
  },
})
