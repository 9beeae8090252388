import { addressFrom, secretPlaceholder } from "../plan/cluster";
import { privatePorts } from "../plan/firewall";
import type { PlannedHost, TopologyPlan } from "../plan/topology";
import {
  type DatabaseMoveInput,
  type RedisMoveInput,
  renderBoxRetire,
  renderDatabaseForget,
  renderDatabaseMove,
  renderRedisForget,
  renderRedisMove,
} from "../render/data-move";
import { baseStep } from "./host";
import type { StepPlanner } from "./plan";
import { redisPassword, redisReplicationStep, redisStep } from "./redis";
import { stepCommand } from "./script";
import type { CommandStep, DeployFacts, PlannedStep, RenderedStep, StepOwner } from "./step";
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
  const input = (at: DeployFacts): RedisMoveInput => ({
    sourcePort: privatePorts.redis,
    target: { host: addressFrom(host.name, primary, (other) => at.privateIp(other)), port: privatePorts.redis },
    password: secretPlaceholder(redisPassword),
  });
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
      movesData: true,
      render: (at) => scriptStep(renderRedisMove(input(at))),
      forget: (at) => scriptStep(renderRedisForget(input(at))),
    },
  ];
};

/** A rendered data-move script as a step: no files, its secrets on stdin. */
function scriptStep(rendered: { readonly script: string; readonly stdin: string }): RenderedStep {
  return { files: [], create: stepCommand(rendered.script), stdin: rendered.stdin };
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
  const input = (at: DeployFacts): DatabaseMoveInput => ({
    domain: move.domain,
    database: move.database.name,
    user: move.database.user,
    envFile: move.envFile(at),
    hostVariable: move.hostVariable,
    target: { host: addressFrom(move.host.name, mysql, (other) => at.privateIp(other)), port: privatePorts.mysql },
    password: secretPlaceholder(secret),
  });
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
    movesData: true,
    render: (at) => scriptStep(renderDatabaseMove(input(at))),
    forget: (at) => scriptStep(renderDatabaseForget(input(at))),
  };
}

/**
 * The moves wait, as late as they can, for everything else the steps that end their window wait
 * for. A move refuses writes on the old copy until every step waiting for it (an environment file
 * naming the new host) has run; planned by their planners, the moves waited only for their target,
 * so the Redis move ran as soon as `redis-1` was up and the clients went without writes while the
 * sites' steps, the databases and the new hosts were still being made (37 s under load). Made to
 * wait for those, a move's window is its own copy and the switch after it, and a step that fails
 * before it leaves the old copy taking writes.
 *
 * Moves whose switches overlap (one `.env` waits for its database's move and Redis's) share one
 * window: each waits for what the others and every switch of any of them wait for, so they all
 * open together when the last of those is done, and run side by side rather than one after another.
 */
export function movesLate(steps: readonly PlannedStep[]): PlannedStep[] {
  const moves = new Set(steps.filter((step) => step.kind === "command" && step.movesData).map((step) => step.name));
  if (moves.size === 0) return [...steps];
  const switches = steps.filter((step) => !moves.has(step.name) && step.dependsOn.some((name) => moves.has(name)));
  // Union-find over the moves: two moves one switch waits for share a window.
  const parent = new Map([...moves].map((name) => [name, name]));
  const root = (name: string): string => {
    const up = parent.get(name)!;
    return up === name ? name : root(up);
  };
  for (const step of switches) {
    const [first, ...others] = step.dependsOn.filter((name) => moves.has(name));
    for (const other of others) parent.set(root(other), root(first!));
  }
  // What a window's switches and moves wait for, but the moves themselves.
  const windowAfter = new Map<string, Set<string>>();
  const waitsFor = (window: string, step: PlannedStep) => {
    const after = windowAfter.get(window) ?? new Set<string>();
    for (const name of step.dependsOn) if (!moves.has(name)) after.add(name);
    windowAfter.set(window, after);
  };
  for (const step of steps) if (moves.has(step.name)) waitsFor(root(step.name), step);
  for (const step of switches) waitsFor(root(step.dependsOn.find((name) => moves.has(name))!), step);
  // Provisioning makes its steps before the orchestrator makes any, so a move of provisioning waits
  // for what an orchestrator's step waits for instead (the app's database: the MariaDB under it).
  const byName = new Map(steps.map((step) => [step.name, step]));
  const madeBefore = (move: PlannedStep, name: string): string[] =>
    move.owner === "provisioning" && byName.get(name)?.owner === "orchestrator"
      ? byName.get(name)!.dependsOn.flatMap((each) => madeBefore(move, each))
      : [name];
  return steps.map((step) =>
    moves.has(step.name)
      ? { ...step, dependsOn: [...new Set([...step.dependsOn, ...[...(windowAfter.get(root(step.name)) ?? [])].flatMap((name) => madeBefore(step, name))])] }
      : step,
  );
}

const forgetStep = (move: string) => `${move}-forget`;

/**
 * With `forgetMovedData`, each move's old copy is dropped by a step of its own on the move's host,
 * with its inputs and secrets. It waits for the move and for every step waiting for the move, the
 * switches: before an environment file names the new host its clients still read the old copy (the
 * app's sessions and queue in the box's Redis), and the database's forget finds the file naming the
 * old host and refuses. A switch made by the orchestrator (the app's environment) makes the forget the
 * orchestrator's too, which makes its steps after provisioning's.
 *
 * After every forget of a host, `<host>-box-retire` stops the box's MariaDB (when it holds no
 * database left) and Redis there: nothing reads them any more, and the web host's PHP pools are
 * sized from memory that does not count them.
 */
export function forgetSteps(steps: readonly PlannedStep[]): CommandStep[] {
  const forgets = steps.flatMap((move): CommandStep[] => {
    if (move.kind !== "command" || move.forget === undefined) return [];
    const switches = steps.filter((step) => step.dependsOn.includes(move.name));
    return [
      {
        kind: "command",
        name: forgetStep(move.name),
        owner: ownerAfter([move, ...switches]),
        host: move.host,
        dependsOn: [move.name, ...switches.map((step) => step.name)],
        inputs: move.inputs,
        reads: move.reads,
        secrets: move.secrets,
        renderer: move.renderer,
        render: move.forget,
      },
    ];
  });
  return [
    ...forgets,
    ...[...new Set(forgets.map((step) => step.host))].map((host) =>
      boxRetireStep(
        host,
        forgets.filter((step) => step.host === host),
      ),
    ),
  ];
}

/** The orchestrator makes a step after any of its own it waits for; provisioning makes the rest. */
const ownerAfter = (steps: readonly PlannedStep[]): StepOwner => (steps.some((step) => step.owner === "orchestrator") ? "orchestrator" : "provisioning");

export const boxRetireStep = (host: string, forgets: readonly CommandStep[]): CommandStep => {
  const redis = forgets.some((step) => step.name === forgetStep(redisMoveStep(host)));
  const script = renderBoxRetire({ mariadb: forgets.length > (redis ? 1 : 0), redis });
  return {
    kind: "command",
    name: `${host}-box-retire`,
    owner: ownerAfter(forgets),
    host,
    dependsOn: forgets.map((step) => step.name),
    inputs: [],
    reads: [],
    secrets: [],
    renderer: "data-move",
    render: () => ({ files: [], create: stepCommand(script) }),
  };
};
