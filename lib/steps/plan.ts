import type { Artifact } from "../plan/artifact";
import type { PlannedHost, TopologyPlan } from "../plan/topology";
import { type HostFile, renderWebHost, type WebHostRender } from "../render/files";
import type { Stack } from "../schema/stack";
import { backupSteps } from "./backup";
import { certificateSteps } from "./certificates";
import { dataMoveSteps, forgetSteps, movesLate } from "./data-move";
import { deploySteps } from "./deploy";
import { haproxySteps } from "./haproxy";
import { hostSteps } from "./host";
import { keepalivedSteps } from "./keepalived";
import { monitoringSteps } from "./monitoring";
import { mysqlSteps } from "./mysql";
import { orchestratorSteps, unbuiltArtifact } from "./orchestrator";
import { redisSteps } from "./redis";
import { redisProxySteps } from "./redis-proxy";
import { sentinelSteps } from "./sentinel";
import type { DeployFacts, PlannedStep } from "./step";
import { webSteps } from "./web";
import { webHostFacts } from "./web-host";

/**
 * The provisioning of a whole stack as a plan of steps (the awsx split: `subnetDistributor`
 * computes the layout, the VPC component only makes resources from it). A role is a planner:
 * a function from the stack and its topology to the steps of that role on every host, each step
 * naming the `lib/render/` module that renders its files. A new role is a new renderer module,
 * a new planner and one entry in `planners`; the components that run the steps do not change.
 */

export interface StepPlan {
  readonly stack: Stack;
  readonly topology: TopologyPlan;
  /** The orchestrator release the app's steps deploy, when one was given. */
  readonly artifact?: Artifact;
  /** Every step of every host, each after the steps it depends on. */
  readonly steps: readonly PlannedStep[];
}

export interface PlanContext {
  readonly stack: Stack;
  readonly topology: TopologyPlan;
  /** The orchestrator's release, when the stack enables the app. */
  readonly artifact?: Artifact;
  /** A web host's files from its facts, rendered once for all the steps of the host that share them. */
  readonly webHost: (host: PlannedHost, at: DeployFacts) => WebHostRender;
}

export type StepPlanner = (context: PlanContext) => PlannedStep[];

/**
 * In the order their steps may depend on each other: a planner's steps wait only for steps planned
 * before them, but for the data moves (`movesLate`, `inMakingOrder`).
 */
const planners: readonly StepPlanner[] = [
  hostSteps,
  mysqlSteps,
  redisSteps,
  sentinelSteps,
  redisProxySteps,
  haproxySteps,
  keepalivedSteps,
  dataMoveSteps,
  webSteps,
  certificateSteps,
  deploySteps,
  backupSteps,
  monitoringSteps,
  orchestratorSteps,
];

export interface StepPlanOptions {
  /**
   * The orchestrator artifact the app's steps deploy (`readArtifact`). Without one, an enabled
   * app's steps show placeholders for its version and checksum.
   */
  readonly artifact?: Artifact;
}

export function planSteps(stack: Stack, topology: TopologyPlan, options: StepPlanOptions = {}): StepPlan {
  const renders = new Map<string, WebHostRender>();
  const context: PlanContext = {
    stack,
    topology,
    artifact: stack.app?.enabled ? (options.artifact ?? unbuiltArtifact(stack.app.artifact ?? "app/dist/megaweb-orchestrator-<version>.tgz")) : undefined,
    webHost: (host, at) => {
      const { memoryMb, cpus } = at.facts(host.name);
      const key = `${host.name}:${memoryMb}:${cpus}`;
      let render = renders.get(key);
      if (render === undefined) {
        render = renderWebHost(stack, webHostFacts(topology, host, at));
        renders.set(key, render);
      }
      return render;
    },
  };
  const planned = movesLate(planners.flatMap((planner) => planner(context)));
  const steps = inMakingOrder(stack.forgetMovedData ? [...planned, ...forgetSteps(planned)] : planned);
  checkGraph(steps, topology);
  return { stack, topology, artifact: options.artifact, steps };
}

/**
 * The steps in the order the components make them, each after those it waits for. The data moves
 * wait for steps planned after them (`movesLate`), so a move, and every step waiting for one held
 * back, is held back until what it waits for is planned; any other step keeps its planner's place,
 * and one waiting for a step planned later is left for `checkGraph` to report.
 */
function inMakingOrder(steps: readonly PlannedStep[]): PlannedStep[] {
  const placed = new Set<string>();
  const ordered: PlannedStep[] = [];
  let held: PlannedStep[] = [];
  const ready = (step: PlannedStep) => step.dependsOn.every((name) => placed.has(name));
  const place = (step: PlannedStep) => {
    ordered.push(step);
    placed.add(step.name);
  };
  for (const step of steps) {
    const waitsForHeld = step.dependsOn.some((name) => held.some((other) => other.name === name));
    if ((step.kind === "command" && step.movesData) || waitsForHeld) {
      if (!ready(step)) {
        held.push(step);
        continue;
      }
    }
    place(step);
    for (let released = true; released;) {
      const now = held.filter(ready);
      released = now.length > 0;
      for (const each of now) place(each);
      held = held.filter((each) => !placed.has(each.name));
    }
  }
  return [...ordered, ...held];
}

/** A planner's mistake (a duplicate name, a step waiting for one planned later or not at all) fails here, before any resource exists. */
function checkGraph(steps: readonly PlannedStep[], topology: TopologyPlan): void {
  const hosts = new Set(topology.hosts.map((host) => host.name));
  const seen = new Set<string>();
  const owners = new Map(steps.map((step) => [step.name, step.owner]));
  for (const step of steps) {
    if (seen.has(step.name)) throw new Error(`the step plan has two steps named ${step.name}`);
    if (!hosts.has(step.host)) throw new Error(`step ${step.name} runs on ${step.host}, which the plan does not have`);
    for (const dependency of step.dependsOn) {
      if (!seen.has(dependency)) throw new Error(`step ${step.name} waits for ${dependency}, which is not planned before it`);
      // The Provisioning component makes all its steps before the Orchestrator makes any.
      if (step.owner === "provisioning" && owners.get(dependency) === "orchestrator") {
        throw new Error(`step ${step.name} of provisioning waits for ${dependency}, which the orchestrator makes after provisioning`);
      }
    }
    for (const input of step.inputs) {
      if (!hosts.has(input.host)) throw new Error(`step ${step.name} is rendered from ${input.host}, which the plan does not have`);
    }
    seen.add(step.name);
  }
}

/**
 * Every file each host gets, from the render of every step on it (per host name, in plan order),
 * secret files with their placeholders: what `megaweb render` writes.
 */
export function filesPerHost(plan: StepPlan, at: DeployFacts): Map<string, HostFile[]> {
  const files = new Map<string, Map<string, HostFile>>(plan.topology.hosts.map((host) => [host.name, new Map()]));
  for (const step of plan.steps) {
    if (step.kind !== "command") continue;
    for (const file of step.render(at).files) files.get(step.host)!.set(file.path, file);
  }
  return new Map([...files].map(([host, byPath]) => [host, [...byPath.values()]]));
}

/** The steps a component runs. */
export function stepsOf(plan: StepPlan, owner: PlannedStep["owner"]): PlannedStep[] {
  return plan.steps.filter((step) => step.owner === owner);
}
