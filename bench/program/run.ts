/**
 * The program's own cost (not a test), two sections:
 * 1. scale: parsing + planning + rendering a stack file, the Pulumi program under mocks and
 *    `megaweb plan --steps` for 10, 100 and 1000 sites on the single box, interleaved over rounds;
 *    the figure is the per-site cost at 1000 against the per-site cost at 10 (linear: ≤ 1.2).
 * 2. provisioning: the real engine against one local machine: bare machine to serving, a no-change
 *    `pulumi up`, one site's PHP setting changed, each timed and split into where the time went
 *    (from the engine's OpenTelemetry spans): engine and plugins, the program's start (language host,
 *    TypeScript), the steps on the host.
 *
 *   npm run bench:program
 *   BENCH_PROGRAM_SECTIONS=scale BENCH_PROGRAM_ROUNDS=3 npm run bench:program
 *   BENCH_PROGRAM_SITES=10,100,1000
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseBenchArgs } from "./args";
import { measureProvisioning, type ProvisioningReport } from "./provisioning";
import { measureScale, type ScaleSample } from "./scale";

const repo = path.join(__dirname, "..", "..");

function log(line: string) {
  console.log(`[bench:program] ${line}`);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

/** Medians per site count, and each measure's per-site cost at the largest count against the smallest. */
function summarizeScale(samples: readonly ScaleSample[], counts: readonly number[]) {
  const measures = ["planSeconds", "programSeconds", "cliSeconds"] as const;
  const rows = counts.map((sites) => {
    const mine = samples.filter((sample) => sample.sites === sites);
    return {
      sites,
      resources: mine[0]!.resources,
      ...Object.fromEntries(measures.map((measure) => [measure, round3(median(mine.map((sample) => sample[measure])))])),
    } as { sites: number; resources: number } & Record<(typeof measures)[number], number>;
  });
  const smallest = rows[0]!;
  const largest = rows[rows.length - 1]!;
  const perSiteRatio = Object.fromEntries(
    measures.map((measure) => [measure, round3(largest[measure] / largest.sites / (smallest[measure] / smallest.sites))]),
  ) as Record<(typeof measures)[number], number>;
  // What a site adds, between the two larger counts against between the two smaller: fixed costs
  // cancel out, so only a cost that grows faster than the sites shows.
  const marginalRatio =
    rows.length < 3
      ? undefined
      : Object.fromEntries(
          measures.map((measure) => {
            const [a, b, c] = [rows[0]!, rows[rows.length - 2]!, largest];
            return [measure, round3((c[measure] - b[measure]) / (c.sites - b.sites) / ((b[measure] - a[measure]) / (b.sites - a.sites)))];
          }),
        );
  return { rows, perSiteRatio, marginalRatio };
}

function printScale(summary: ReturnType<typeof summarizeScale>): void {
  const lines = [
    "",
    "sites │ resources │ plan s │ program s │ megaweb plan s",
    ...summary.rows.map((row) =>
      [
        `${row.sites}`.padStart(5),
        `${row.resources}`.padStart(9),
        `${row.planSeconds}`.padStart(6),
        `${row.programSeconds}`.padStart(9),
        `${row.cliSeconds}`.padStart(14),
      ].join(" │ "),
    ),
    `per-site cost ${summary.rows[summary.rows.length - 1]!.sites} vs ${summary.rows[0]!.sites}: plan ${summary.perSiteRatio.planSeconds}×, program ${summary.perSiteRatio.programSeconds}×, megaweb plan ${summary.perSiteRatio.cliSeconds}× (target ≤ 1.2)`,
    ...(summary.marginalRatio === undefined
      ? []
      : [
          `marginal cost of a site, upper interval vs lower: plan ${summary.marginalRatio.planSeconds}×, program ${summary.marginalRatio.programSeconds}×, megaweb plan ${summary.marginalRatio.cliSeconds}×`,
        ]),
  ];
  console.log(lines.join("\n"));
}

async function main() {
  const args = parseBenchArgs(process.env);
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`,
    load_average_at_start: os.loadavg()[0],
    ...args,
  };
  if (args.sections.includes("scale")) {
    log(`scale: ${args.sites.join(", ")} sites, ${args.rounds} rounds`);
    const samples = await measureScale(args.sites, args.rounds, log);
    const summary = summarizeScale(samples, args.sites);
    printScale(summary);
    results.scale = { ...summary, samples };
  }
  if (args.sections.includes("provisioning")) {
    const report: ProvisioningReport = measureProvisioning(args.rounds, log);
    results.provisioning = report;
  }
  results.load_average_at_end = os.loadavg()[0];
  const reportDir = path.join(repo, "test-output");
  mkdirSync(reportDir, { recursive: true });
  const report = path.join(reportDir, "bench-program.json");
  writeFileSync(report, `${JSON.stringify(results, null, 2)}\n`);
  log(`report: ${report}`);
}

main().then(
  // The Pulumi runtime's mock monitor keeps handles open; the figures are written.
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
