import { defineConfig } from 'vitest/config';

// Three layers; the folder says what a test needs (see docs/architecture.md):
// unit — pure code, fakes and fake timers; integration — a real dockerd/registry and the
// wire-level AWS emulators; e2e — the built agent (dist/taupage.mjs) as a process.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 5_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // The Docker tests share one engine and one container name (taupageapp).
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
