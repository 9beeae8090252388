import { addressFrom, secretPlaceholder } from "../plan/cluster";
import { privatePorts } from "../plan/firewall";
import type { PlannedHost, TopologyPlan } from "../plan/topology";
import { type DatabaseMoveInput, renderDatabaseMove } from "../render/data-move";
import { stepCommand } from "./script";
import type { CommandStep, DeployFacts, StepOwner } from "./step";
import { privateIpOf } from "./step";

/**
 * Growth that keeps the data (lib/render/DEPLOY.md): on the first web host, which held the
 * databases while the box was the whole stack, a database moves to the plan's MySQL primary before
 * its environment file points there. The step finds on the host whether there is anything to move
 * (the file still names another host), so a stack that never held data here runs it as a no-op.
 */

/** Where the move goes: the first web host, when the plan's MySQL primary is another host. */
export function databaseMoveHost(topology: TopologyPlan): PlannedHost | undefined {
  const first = topology.hosts.find((host) => host.roles.includes("web"));
  return first !== undefined && first.name !== topology.mysql.primary ? first : undefined;
}

export interface DatabaseMove {
  readonly name: string;
  readonly owner: StepOwner;
  readonly host: PlannedHost;
  /** The steps that made the new copy's database and account, and whatever the environment file's path depends on. */
  readonly dependsOn: readonly string[];
  readonly inputs: CommandStep["inputs"];
  readonly reads: readonly string[];
  /** The site's domain, or the app's: its database password is the secret of that domain. */
  readonly domain: string;
  readonly database: { readonly name: string; readonly user: string };
  readonly envFile: (at: DeployFacts) => string;
  readonly hostVariable: DatabaseMoveInput["hostVariable"];
}

export function databaseMoveStep(topology: TopologyPlan, move: DatabaseMove): CommandStep {
  const mysql = topology.mysql.primary;
  const secret = { kind: "database", domain: move.domain } as const;
  return {
    kind: "command",
    name: move.name,
    owner: move.owner,
    host: move.host.name,
    dependsOn: move.dependsOn,
    inputs: [...move.inputs, privateIpOf(mysql)],
    reads: move.reads,
    secrets: [secret],
    renderer: "data-move",
    render: (at) => {
      const rendered = renderDatabaseMove({
        domain: move.domain,
        database: move.database.name,
        user: move.database.user,
        envFile: move.envFile(at),
        hostVariable: move.hostVariable,
        target: { host: addressFrom(move.host.name, mysql, (other) => at.privateIp(other)), port: privatePorts.mysql },
        password: secretPlaceholder(secret),
      });
      return { files: [], create: stepCommand(rendered.script), stdin: rendered.stdin };
    },
  };
}
