import { parseArgs } from "node:util";
import { formatPlan } from "../../lib/plan/format";
import { UsageError, type Command } from "../command";
import { loadStackFile } from "../stack-file";

export const plan: Command = {
  name: "plan",
  usage: "<stack file> [--json]",
  summary: "print the topology without contacting any API: hosts by role, sizes, the firewall matrix and the monthly cost",
  async run(args, io) {
    const { values, positionals } = parseArgs({ args: [...args], options: { json: { type: "boolean", default: false } }, allowPositionals: true });
    if (positionals.length !== 1) throw new UsageError("expects exactly one stack file");
    const { name, stack, plan: topology } = loadStackFile(positionals[0]!);
    if (values.json) io.out(JSON.stringify({ stack: name, adminCidrs: stack.adminCidrs, ...topology }, null, 2));
    else formatPlan(name, topology, stack.adminCidrs).forEach((line) => io.out(line));
    return 0;
  },
};
