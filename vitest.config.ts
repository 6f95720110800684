import { defineConfig } from 'vitest/config';

// Four layers; the folder says what a test needs (see docs/architecture.md):
// unit — pure code, fakes and fake timers; integration — a real dockerd/registry and the
// wire-level AWS emulators; e2e — the built agent (dist/taupage.mjs) as a process; vm — the AMI
// booted as a machine (QEMU).
// Files run one at a time: the Docker tests share one engine (and the machine has 2 cores).
export default defineConfig({
  test: {
    fileParallelism: false,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 5_000 } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 },
      },
      // The AMI as a virtual machine (QEMU; software emulation when KVM does not run): boots cost
      // tens of seconds each, so the budgets are the scenarios' own (test/vm/instance.test.ts).
      // Part of the default run (issue 17: green twice in a row under TCG on 2 cores, 6–7 min at
      // load average 1–8; 19–21 min at 15–20, not yet green there); TAUPAGE_TEST_VM=0 leaves it out.
      ...(process.env.TAUPAGE_TEST_VM !== '0'
        ? [
            {
              extends: true as const,
              test: {
                name: 'vm',
                include: ['test/vm/**/*.test.ts'],
                testTimeout: 1_200_000,
                hookTimeout: 1_500_000,
              },
            },
          ]
        : []),
    ],
  },
});
