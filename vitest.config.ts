import { defineConfig } from "vitest/config";

// Two projects: "unit" runs without a cluster (it may start local tools such as
// the registry or modprobe); "e2e" shares one local fleet started in globalSetup.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["shared/**/*.test.ts", "hub/**/*.test.ts", "spoke/**/*.test.ts", "scripts/**/*.test.ts", "e2e/controlplane/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["e2e/**/*.test.ts"],
          // pure tests of the fixture's parts need no fleet: they run in "unit"
          exclude: ["e2e/controlplane/**"],
          globalSetup: ["e2e/global-setup.ts"],
          setupFiles: ["e2e/support/on-failure.ts"],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
