import { configDefaults, defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const machineTests = "test/e2e/**/*.test.ts";

/**
 * The machine tests by their measured length, longest first: with two at a time, the ha file
 * (20 min on its own) must not be the one that starts last. Files not listed keep vitest's order.
 */
const longestFirst = ["ha", "horizontal", "single-box", "orchestrator", "certificates-backups", "four-server"];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const index = longestFirst.findIndex((name) => file.moduleId.endsWith(`/test/e2e/${name}.test.ts`));
      return index < 0 ? longestFirst.length : index;
    };
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    reporters: ["default", "./test/summary-reporter.ts"],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          // One at a time, as they always ran: their loopback daemons were never made to share ports.
          maxWorkers: 1,
          include: ["test/**/*.test.ts", "app/test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, machineTests],
        },
      },
      {
        extends: true,
        test: {
          name: "machines",
          include: [machineTests],
          // Two at a time, and never beside the unit tests: each file boots its own machine set on its own
          // subnet and spends much of its time waiting on it. On the 2-core host everything at once
          // (three machine files beside the unit tests) ran at a load of 16-25: the unit tests'
          // loopback daemons missed their windows, and the whole took 62 min against 77 in turn.
          maxWorkers: 2,
          // vitest runs ordering groups one after the other (the one-worker unit files last), each with
          // its own worker count.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
