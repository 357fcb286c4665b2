import { configDefaults, defineConfig } from "vitest/config";

// Three projects: "unit" runs without a cluster (it may start local tools such as
// the registry or modprobe); "e2e" shares one local fleet started in globalSetup; "images" builds
// the container images once and runs them.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          // A private TMPDIR per run; the run fails when a test leaves something in it.
          globalSetup: ["shared/testing/temp-hygiene.ts"],
          include: ["shared/**/*.test.ts", "hub/**/*.test.ts", "spoke/**/*.test.ts", "scripts/**/*.test.ts", "e2e/controlplane/**/*.test.ts", "e2e/kind/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["e2e/**/*.test.ts"],
          // pure tests of the fixture's parts, and e2e/kind's checks of scripts and configs, need no fleet: they run in "unit"
          exclude: [...configDefaults.exclude, "e2e/controlplane/**", "e2e/kind/**"],
          // temp-hygiene first: its check runs last, once the fleet has stopped.
          globalSetup: ["shared/testing/temp-hygiene.ts", "e2e/global-setup.ts"],
          setupFiles: ["e2e/support/on-failure.ts"],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // Builds the four images once per run (images/build.ts caches them) and runs them for real.
          name: "images",
          include: ["images/**/*.test.ts"],
          globalSetup: ["images/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
