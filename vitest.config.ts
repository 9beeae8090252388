import { configDefaults, defineConfig } from "vitest/config";

const machineTests = "test/e2e/**/*.test.ts";

export default defineConfig({
  test: {
    reporters: ["default", "./test/summary-reporter.ts"],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts", "app/test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, machineTests],
        },
      },
      {
        extends: true,
        test: {
          name: "machines",
          include: [machineTests],
          // Each file boots its own machine set on its own subnet, and spends most of its time
          // waiting on those machines: three at a time fit the 2-core host's CPU and memory.
          maxWorkers: 3,
          // vitest refuses two worker counts in one ordering group.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
