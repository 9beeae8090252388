import { secretName } from "../plan/cluster";
import { table } from "../plan/format";
import type { StepPlan } from "./plan";
import type { DeployInput, PlannedStep } from "./step";

/**
 * `megaweb plan --steps` as text: per host, every step in the order the plan makes them, with the
 * module that renders it, what it waits for, the secrets it carries and what makes it run again.
 * A step's host is left out of its own name and of the names of its host's steps it waits for.
 */
export function formatSteps(plan: StepPlan): string[] {
  const lines = ["Steps, per host (→ waits for; steps with secrets get them on stdin and log nothing; app: the orchestrator's)"];
  for (const host of plan.topology.hosts) {
    const steps = plan.steps.filter((step) => step.host === host.name);
    const local = (name: string) => (name.startsWith(`${host.name}-`) ? name.slice(host.name.length + 1) : name);
    lines.push(`  ${host.name} (${host.roles.join(", ")})`);
    lines.push(
      ...table([
        ["STEP", "RENDERER", "WAITS FOR", "SECRETS", "RE-RUNS WHEN"],
        ...steps.map((step) => [
          `${step.owner === "orchestrator" ? "app:" : ""}${local(step.name)}${step.kind === "upload" ? " (upload)" : ""}`,
          step.renderer ?? "-",
          step.dependsOn.map(local).join(", ") || "-",
          step.secrets.map(secretName).join(", ") || "-",
          reRunsWhen(step) || "-",
        ]),
      ]).map((line) => `  ${line}`),
    );
  }
  return lines;
}

/** What makes the step run again, with long host lists counted rather than listed. */
function reRunsWhen(step: PlannedStep): string {
  const hostsOf = (kind: DeployInput["kind"]) => step.inputs.filter((input) => input.kind === kind).map((input) => input.host);
  const listed = (hosts: string[]) => (hosts.length > 3 ? `${hosts.length} hosts` : hosts.join(", "));
  const facts = hostsOf("facts");
  const addresses = hostsOf("privateIp");
  const outputs = step.inputs.flatMap((input) => (input.kind === "output" ? [input.step] : []));
  return [
    ...step.reads,
    ...(facts.length > 0 ? [`facts of ${listed(facts)}`] : []),
    ...(addresses.length > 0 ? [`private IP of ${listed(addresses)}`] : []),
    ...outputs.map((name) => `output of ${name}`),
    ...(step.kind === "upload" ? ["the artifact's content"] : []),
  ].join("; ");
}

/** The plan as JSON-ready data: everything but the render functions. */
export function stepsAsData(plan: StepPlan) {
  return plan.steps.map((step) => ({
    name: step.name,
    owner: step.owner,
    host: step.host,
    kind: step.kind,
    renderer: step.renderer,
    dependsOn: step.dependsOn,
    inputs: step.inputs,
    reads: step.reads,
    secrets: step.secrets.map(secretName),
  }));
}
