import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { LocalStack } from "../../test/e2e/local-stack";
import { traceBreakdown, type TraceBreakdown } from "./trace";

/**
 * Provisioning with the real engine on one local machine, from the committed local stack
 * (stacks/Pulumi.local.yaml: three PHP sites, one behind Apache): bare machine to serving, a
 * no-change `pulumi up`, and one site's memory_limit changed. Each no-change up runs once with
 * each program loader, alternating, so the loader's cost is a ratio in the same run.
 */

/** How the language host loads the TypeScript program; the workspace's Pulumi.yaml says which. */
export const programLoaders = {
  // The nodejs runtime's `typescript: true`: ts-node, which type-checks the whole program on every run.
  "ts-node": "runtime:\n  name: nodejs\n  options:\n    typescript: true\n",
  // What scripts/demo.sh writes: tsx (esbuild) transpiles each file as node loads it, no type check.
  tsx: "runtime:\n  name: nodejs\n  options:\n    typescript: false\n    nodeargs: --import tsx\n",
} as const;
type Loader = keyof typeof programLoaders;

export interface TimedUp {
  readonly seconds: number;
  readonly breakdown: TraceBreakdown;
}

export interface ProvisioningReport {
  readonly machineBootSeconds: number;
  readonly bareToServing: TimedUp;
  readonly noChange: Record<Loader, TimedUp[]>;
  readonly changeOneSite: TimedUp[];
  readonly medians: { bareToServingSeconds: number; noChangeSeconds: Record<Loader, number>; changeOneSiteSeconds: number };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

function useLoader(local: LocalStack, loader: Loader): void {
  const project = path.join(local.workspace, "Pulumi.yaml");
  const main = /^main: .*$/m.exec(readFileSync(project, "utf8"))![0];
  writeFileSync(project, `name: megaweb\n${programLoaders[loader]}${main}\n`);
}

function timedUp(local: LocalStack, args: readonly string[]): TimedUp {
  const trace = path.join(local.workspace, "trace.json");
  rmSync(trace, { force: true });
  const started = performance.now();
  local.pulumiOk(["up", "--yes", "--skip-preview", `--otel-traces=file://${trace}`, ...args], 1200);
  const seconds = round1((performance.now() - started) / 1000);
  return { seconds, breakdown: traceBreakdown(readFileSync(trace, "utf8")) };
}

function describe(label: string, up: TimedUp): string {
  const parts = Object.entries(up.breakdown)
    .map(([part, seconds]) => `${part} ${seconds} s`)
    .join(", ");
  return `${label}: ${up.seconds} s (${parts})`;
}

export function measureProvisioning(rounds: number, log: (line: string) => void): ProvisioningReport {
  const local = new LocalStack("program", "bench-program");
  local.destroy();
  try {
    const booted = performance.now();
    local.prepare();
    const machineBootSeconds = round1((performance.now() - booted) / 1000);
    log(`machine booted and stack prepared in ${machineBootSeconds} s`);
    useLoader(local, "tsx");
    const bareToServing = timedUp(local, []);
    log(describe("bare machine to serving", bareToServing));

    const noChange: Record<Loader, TimedUp[]> = { "ts-node": [], tsx: [] };
    const changeOneSite: TimedUp[] = [];
    const loaders = Object.keys(programLoaders) as Loader[];
    for (let round = 0; round < rounds; round++) {
      for (const loader of round % 2 === 0 ? loaders : [...loaders].reverse()) {
        useLoader(local, loader);
        const up = timedUp(local, ["--expect-no-changes"]);
        noChange[loader].push(up);
        log(describe(`round ${round + 1}/${rounds} no-change up, ${loader}`, up));
      }
      useLoader(local, "tsx");
      // Back and forth between two values, so every round is a real change of one site's pool.
      const memoryLimit = round % 2 === 0 ? "160M" : "96M";
      local.editSites((sites) => {
        const blog = sites.find((site) => site.domain === "blog.megaweb.test")!;
        (blog.php as Record<string, unknown>).memoryLimit = memoryLimit;
      });
      const change = timedUp(local, []);
      changeOneSite.push(change);
      log(describe(`round ${round + 1}/${rounds} blog memory_limit → ${memoryLimit}`, change));
    }
    return {
      machineBootSeconds,
      bareToServing,
      noChange,
      changeOneSite,
      medians: {
        bareToServingSeconds: bareToServing.seconds,
        noChangeSeconds: { "ts-node": median(noChange["ts-node"].map((up) => up.seconds)), tsx: median(noChange.tsx.map((up) => up.seconds)) },
        changeOneSiteSeconds: median(changeOneSite.map((up) => up.seconds)),
      },
    };
  } finally {
    local.destroyOk();
  }
}
