import { addressFrom, secretPlaceholder } from "../plan/cluster";
import { privatePorts } from "../plan/firewall";
import type { PlannedHost, TopologyPlan } from "../plan/topology";
import { type DatabaseMoveInput, renderDatabaseMove, renderRedisMove } from "../render/data-move";
import { baseStep } from "./host";
import type { StepPlanner } from "./plan";
import { redisPassword, redisReplicationStep, redisStep } from "./redis";
import { stepCommand } from "./script";
import type { CommandStep, DeployFacts, StepOwner } from "./step";
import { privateIpOf } from "./step";

/**
 * Growth that keeps the data (lib/render/DEPLOY.md): on the first web host, which held the
 * databases while the box was the whole stack, a database moves to the plan's MySQL primary before
 * its environment file points there. The step finds on the host whether there is anything to move
 * (the file still names another host), so a stack that never held data here runs it as a no-op.
 */

/** Where a move runs: the first web host, when the plan's primary of that kind is another host. */
function moveHost(topology: TopologyPlan, primary: string): PlannedHost | undefined {
  const first = topology.hosts.find((host) => host.roles.includes("web"));
  return first !== undefined && first.name !== primary ? first : undefined;
}

export const databaseMoveHost = (topology: TopologyPlan) => moveHost(topology, topology.mysql.primary);

export const redisMoveStep = (host: string) => `${host}-redis-move`;

/** The Redis move every environment naming Redis waits for, when the plan has one. */
export function redisMoveOf(topology: TopologyPlan): string[] {
  const host = moveHost(topology, topology.redis.primary);
  return host === undefined ? [] : [redisMoveStep(host.name)];
}

/**
 * The box's Redis (the sites' keys, the app's queue) moves to the plan's primary before any
 * environment names it: the clients lose their writes on the old copy, every key is copied, the
 * counts compared. A host that never ran the single box's Redis runs it as a no-op.
 */
export const dataMoveSteps: StepPlanner = ({ topology }) => {
  const primary = topology.redis.primary;
  const host = moveHost(topology, primary);
  if (host === undefined) return [];
  return [
    {
      kind: "command",
      name: redisMoveStep(host.name),
      owner: "provisioning",
      host: host.name,
      dependsOn: [baseStep(host.name), redisStep(primary), ...(topology.redis.replicas.length > 0 ? [redisReplicationStep(primary)] : [])],
      inputs: [privateIpOf(primary)],
      reads: [],
      secrets: [redisPassword],
      renderer: "data-move",
      render: (at) => {
        const rendered = renderRedisMove({
          sourcePort: privatePorts.redis,
          target: { host: addressFrom(host.name, primary, (other) => at.privateIp(other)), port: privatePorts.redis },
          password: secretPlaceholder(redisPassword),
        });
        return { files: [], create: stepCommand(rendered.script), stdin: rendered.stdin };
      },
    },
  ];
};

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
