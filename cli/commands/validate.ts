import { UsageError, type Command } from "../command";
import { loadStackFile } from "../stack-file";

export const validate: Command = {
  name: "validate",
  usage: "<stack file>",
  summary: "check a stack file; prints one line per problem, each starting with the field path",
  async run(args, io) {
    if (args.length !== 1) throw new UsageError("expects exactly one stack file");
    const { name, stack, plan, deploymentProblems } = loadStackFile(args[0]!);
    const webHosts = plan.hosts.filter((host) => host.roles.includes("web")).length;
    io.out(`${name}: valid (${stack.sites.length} sites on ${webHosts} web hosts, phase ${stack.phase})`);
    for (const problem of deploymentProblems) io.out(`before pulumi up: ${problem.path}: ${problem.message}`);
    return 0;
  },
};
