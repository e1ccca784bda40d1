import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './tests/summary-reporter.ts'],
    // A committed .only would run one test and pass the rest unseen: CI refuses it.
    allowOnly: !process.env.CI,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          // One lab, built once per run, shared by every file; files run one after another against it.
          globalSetup: ['tests/integration/global-setup.ts'],
          fileParallelism: false,
          // A hang guard, not a speed bound: a side lab's `up` boots a second emulated VM beside the test lab's.
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          // A Docker lab built by a real `pulumi up` (tests/docker/global-setup.ts), run after the integration
          // project in a second vitest run so two emulated VMs never share the 2 cores.
          name: 'docker',
          include: ['tests/docker/**/*.test.ts'],
          globalSetup: ['tests/docker/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 1_200_000,
        },
      },
      {
        test: {
          // Four Vagrant machines (libvirt, software emulation), in a run of their own for the same reason.
          name: 'vagrant',
          include: ['tests/vagrant/**/*.test.ts'],
          globalSetup: ['tests/vagrant/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 1_800_000,
        },
      },
    ],
  },
});
