import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { Reporter, TestModule } from "vitest/node";

const root = join(__dirname, "..");

/**
 * CI reads a plain `N passed, N failed` line; vitest's own summary has another shape. Before it,
 * the longest files: CI keeps only the end of the output, and the suite's time budget is spent
 * by a few files (test-output/file-durations.json has them all).
 */
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
    const durations = testModules
      .map((module) => ({
        file: relative(root, module.moduleId),
        project: module.project.name,
        state: module.state(),
        seconds: Math.round(module.diagnostic().duration / 100) / 10,
      }))
      .sort((a, b) => b.seconds - a.seconds);
    mkdirSync(join(root, "test-output"), { recursive: true });
    writeFileSync(join(root, "test-output/file-durations.json"), `${JSON.stringify(durations, null, 2)}\n`);
    const perProject = [...new Set(durations.map((each) => each.project))].map((project) => {
      const files = durations.filter((each) => each.project === project);
      return `${project} ${(files.reduce((sum, each) => sum + each.seconds, 0) / 60).toFixed(1)} min in ${files.length} files`;
    });
    process.stdout.write(`\nlongest files (${perProject.join(", ")}):\n`);
    for (const each of durations.slice(0, 12)) process.stdout.write(`  ${(each.seconds / 60).toFixed(1).padStart(5)} min  ${each.file} (${each.state})\n`);
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
