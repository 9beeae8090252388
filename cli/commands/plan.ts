import { parseArgs } from "node:util";
import { formatPlan } from "../../lib/plan/format";
import { formatSteps, stepsAsData } from "../../lib/steps/format";
import { UsageError, type Command } from "../command";
import { loadStackFile } from "../stack-file";

export const plan: Command = {
  name: "plan",
  usage: "<stack file> [--steps] [--json]",
  summary:
    "print the topology without contacting any API: hosts by role, sizes, the firewall matrix and the monthly cost; with --steps, every provisioning step of every host",
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { json: { type: "boolean", default: false }, steps: { type: "boolean", default: false } },
      allowPositionals: true,
    });
    if (positionals.length !== 1) throw new UsageError("expects exactly one stack file");
    const { name, stack, plan: topology, steps } = loadStackFile(positionals[0]!);
    if (values.json) {
      io.out(JSON.stringify({ stack: name, adminCidrs: stack.adminCidrs, ...topology, ...(values.steps && { steps: stepsAsData(steps) }) }, null, 2));
      return 0;
    }
    formatPlan(name, topology, stack.adminCidrs).forEach((line) => io.out(line));
    if (values.steps) ["", ...formatSteps(steps)].forEach((line) => io.out(line));
    return 0;
  },
};
