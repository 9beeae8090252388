import { parseArgs } from "node:util";
import { LoadTestFlagError, loadTestLimits, parseLoadTestFlags } from "../../lib/loadtest/options";
import { buildReport, formatReport } from "../../lib/loadtest/report";
import { requestMix } from "../../lib/loadtest/request-mix";
import { requestTimeoutSeconds, runLoad } from "../../lib/loadtest/run";
import { addressesFromOutputs, addressesFromStackFile, resolveLoadTarget, StackOutputsError, type StackAddresses } from "../../lib/loadtest/target";
import { UsageError, type Command } from "../command";
import { loadStackFile, StackFileError, type LoadedStack } from "../stack-file";
import { pulumiStackOutputs, readOutputsFile } from "../stack-outputs";

const { connections, durationSeconds, weight } = loadTestLimits;

export const loadtest: Command = {
  name: "loadtest",
  usage:
    "<stack file> [--connections N] [--duration 30s] [--path [WEIGHT=]PATH]... [--site DOMAIN]... [--app] [--target ADDRESS[:PORT]] [--max-p95 200ms] [--max-error-rate 1%] [--json]",
  summary:
    "send a bounded load to the stack's own endpoint and report requests/s, p50/p95/p99 latency, status classes and errors; exit 3 when a threshold breaks",
  details: [
    `--connections N       concurrent keep-alive connections, ${connections.min}–${connections.max} (default 10)`,
    `--duration T          how long to send, 30s or 5m, at most ${durationSeconds.max / 60}m (default 10s)`,
    `--path [WEIGHT=]PATH  a path to request, repeatable; WEIGHT ${weight.min}–${weight.max} is its share (default 1): --path 3=/ --path /search?q=a`,
    "--site DOMAIN         send this site's name as Host, repeatable (default: every site of the stack, in turn)",
    "--app                 send the orchestrator app's domain as Host",
    "--target ADDR[:PORT]  where to connect (default: the stack's endpoint); http:// or https:// sets the scheme,",
    "                      which otherwise follows the sites' TLS. Only the stack's own addresses are accepted:",
    "                      megaweb:hosts for target existing, else the outputs of the deployed stack",
    "--allow-any-target    accept a target that is not one of the stack's addresses",
    "--outputs FILE        the stack's addresses from a saved `pulumi stack output --json`, instead of asking",
    "                      pulumi in the stack file's project (digitalocean stacks)",
    `--max-p50/--max-p95/--max-p99 T   latency limits, like 200ms or 1.5s (requests time out after ${requestTimeoutSeconds}s)`,
    "--max-error-rate P    limit on failed requests (4xx, 5xx, no answer), like 1%",
    "--min-rps N           lower limit on answered requests per second",
    "--json                print the report as JSON",
    "exit status: 0 every threshold held, 1 the stack file or its outputs have problems, 2 misuse or a refused target, 3 a threshold broke",
  ],
  async run(args, io) {
    const { positionals, values } = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        connections: { type: "string", short: "c" },
        duration: { type: "string", short: "d" },
        path: { type: "string", multiple: true },
        site: { type: "string", multiple: true },
        app: { type: "boolean" },
        target: { type: "string" },
        "allow-any-target": { type: "boolean" },
        outputs: { type: "string" },
        "max-p50": { type: "string" },
        "max-p95": { type: "string" },
        "max-p99": { type: "string" },
        "max-error-rate": { type: "string" },
        "min-rps": { type: "string" },
        json: { type: "boolean" },
      },
    });
    if (positionals.length !== 1) throw new UsageError("expects exactly one stack file");
    const { outputs, ...flags } = values;
    const options = flagsChecked(() => parseLoadTestFlags(flags));
    const loaded = loadStackFile(positionals[0]!);
    const addresses = await stackAddresses(loaded, positionals[0]!, outputs);
    const target = flagsChecked(() => resolveLoadTarget(loaded.stack, addresses, options));
    if (target.foreign) io.err(`megaweb loadtest: ${target.hostname} is not one of the stack's addresses; sending anyway (--allow-any-target)`);

    const setup = { url: target.url, hosts: target.hosts, paths: options.paths, connections: options.connections, durationSeconds: options.durationSeconds };
    const measured = await runLoad({
      target,
      mix: requestMix(target.hosts, options.paths),
      connections: options.connections,
      durationSeconds: options.durationSeconds,
    });
    const report = buildReport(setup, measured, options.thresholds);
    if (options.json) io.out(JSON.stringify(report, null, 2));
    else formatReport(report).forEach((line) => io.out(line));
    return report.passed ? 0 : 3;
  },
};

/** Flags that break a rule are misuse: printed with the usage, exit 2. */
function flagsChecked<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof LoadTestFlagError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * The addresses a run may target: from `--outputs` when given; else an existing stack's own
 * `megaweb:hosts`; else (DigitalOcean) the deployed stack's outputs, asked of pulumi.
 */
async function stackAddresses(loaded: LoadedStack, stackFile: string, outputsFile: string | undefined): Promise<StackAddresses> {
  if (outputsFile === undefined && loaded.stack.target === "existing") return addressesFromStackFile(loaded.stack, loaded.plan);
  const outputs = outputsFile === undefined ? await pulumiStackOutputs(stackFile, loaded.name) : readOutputsFile(outputsFile);
  try {
    return addressesFromOutputs(loaded.plan, outputs);
  } catch (error) {
    if (error instanceof StackOutputsError)
      throw new StackFileError(error.problems.map((problem) => `outputs of stack ${loaded.name}: ${problem.path.join(".")}: ${problem.message}`));
    throw error;
  }
}
