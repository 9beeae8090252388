import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { parse } from "yaml";
import { type Artifact, defaultArtifactPath, readArtifact } from "../lib/plan/artifact";
import { deploymentProblems, planTopology, type PlanProblem, type TopologyPlan } from "../lib/plan/topology";
import type { HostFile } from "../lib/render/files";
import { filesPerHost, planSteps, type StepPlan } from "../lib/steps/plan";
import { plannedFacts } from "../lib/steps/planned-facts";
import { ConfigError, formatProblem } from "../lib/schema/errors";
import { SecretRef } from "../lib/schema/infrastructure";
import { plaintextReceiverCredentials } from "../lib/schema/monitoring";
import { parseStack, programSecretKeys, stackInputFromConfig, type Stack } from "../lib/schema/stack";

/**
 * Reading `stacks/Pulumi.<stack>.yaml` the way the Pulumi program sees its config, minus
 * decryption: `secure:` values stay the opaque references they are in the file.
 */

/** A stack file that cannot be used, with the lines to print (each starting with a field path). */
export class StackFileError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join("\n"));
    this.name = "StackFileError";
  }
}

export interface LoadedStack {
  /** `dev` for `Pulumi.dev.yaml`. */
  readonly name: string;
  readonly stack: Stack;
  readonly plan: TopologyPlan;
  /** What `pulumi up` will still ask for on this target (SSH access on DigitalOcean); the file itself is valid. */
  readonly deploymentProblems: readonly PlanProblem[];
  /** Every step of every host. */
  readonly steps: StepPlan;
  /** Every file each host would get, per host name, rendered at the planned sizes; secrets are placeholders. */
  readonly files: ReadonlyMap<string, readonly HostFile[]>;
}

/** Parses, validates, plans and renders in memory: every config `pulumi up` would refuse, refused here first. */
export function loadStackFile(path: string): LoadedStack {
  const name = /^Pulumi\.(.+)\.ya?ml$/.exec(basename(path))?.[1];
  if (name === undefined) throw new StackFileError([`${path}: a stack file is named Pulumi.<stack>.yaml`]);
  let document: unknown;
  try {
    document = parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new StackFileError([`${path}: ${(error as Error).message.split("\n")[0]}`]);
  }
  const config = (document as { config?: unknown } | null)?.config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new StackFileError(["config: must be a mapping of megaweb:<key> settings"]);

  try {
    const stack = parseStack(stackInputFromConfig(config as Record<string, unknown>));
    const exposed = [...plaintextProgramSecrets(config as Record<string, unknown>), ...plaintextSecrets(stack)];
    if (exposed.length > 0) throw new StackFileError(exposed);
    const plan = planTopology(stack);
    const steps = planSteps(stack, plan, { artifact: builtArtifact(stack) });
    return { name, stack, plan, deploymentProblems: deploymentProblems(stack), steps, files: filesPerHost(steps, plannedFacts(steps)) };
  } catch (error) {
    if (error instanceof ConfigError) throw new StackFileError(error.problems.map(formatProblem));
    throw error;
  }
}

/** The app's release when it has been built; otherwise its steps show placeholders for it. */
function builtArtifact(stack: Stack): Artifact | undefined {
  if (!stack.app?.enabled) return undefined;
  let path = stack.app.artifact;
  try {
    path ??= defaultArtifactPath();
  } catch {
    return undefined;
  }
  return existsSync(path) ? readArtifact(path) : undefined;
}

/** Secrets the program reads outside the schema: in a stack file they must be `secure:` values too. */
function plaintextProgramSecrets(config: Record<string, unknown>): string[] {
  return programSecretKeys
    .filter((key) => key in config && SecretRef.safeParse(config[key]).success === false)
    .map((key) => `${key.slice("megaweb:".length)}: is in plain text; store it with pulumi config set --secret ${key}`);
}

/**
 * The schema also takes decrypted secrets, as the Pulumi program holds them; in a stack file
 * they must be `secure:` values, or the file itself leaks them.
 */
function plaintextSecrets(stack: Stack): string[] {
  const plain = (path: string, value: unknown, from = "") =>
    typeof value === "string" ? [`${path}: is in plain text; store it with pulumi config set --secret --path '${path}'${from}`] : [];
  return [
    ...stack.sites.flatMap((site, index) => (site.tls.mode === "custom" ? plain(`sites[${index}].tls.key`, site.tls.key, " < key.pem") : [])),
    ...plaintextReceiverCredentials(stack.monitoring).map(formatProblem),
  ];
}
