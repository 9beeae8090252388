import type { Reporter, TestModule } from "vitest/node";

/** CI reads a plain `N passed, N failed` line; vitest's own summary has another shape. */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      const states = [...module.children.allTests()].map((test) => test.result().state);
      const moduleFailed = module.state() === "failed";
      passed += states.filter((state) => state === "passed").length;
      const notPassed = states.filter((state) => state !== "passed");
      // A failing beforeAll leaves its tests "skipped", and a file that fails to load has none:
      // either way the file failed, so what did not pass counts as failed (at least one).
      if (moduleFailed) failed += Math.max(1, notPassed.length);
      else {
        failed += notPassed.filter((state) => state === "failed").length;
        skipped += notPassed.filter((state) => state !== "failed").length;
      }
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
