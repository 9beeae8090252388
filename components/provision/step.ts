import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { type ClusterSecret, fillSecrets, placeholderPattern, secretName } from "../../lib/plan/cluster";
import type { ServerFacts } from "../../lib/steps/facts";
import type { DeployFacts, DeployInput, PlannedStep, RenderedStep } from "../../lib/steps/step";
import type { Host } from "../host";

export interface StepArgs {
  /** The server the step runs on. */
  readonly host: Host;
  /** The idempotent script (see `stepCommand`); a change to it re-runs it, and the diff shows the change. */
  readonly create: pulumi.Input<string>;
  /** Undoes the step when it leaves the program (a removed site). */
  readonly delete?: pulumi.Input<string>;
  /**
   * Secret input for the script's stdin. Its presence makes this a secret-only step: nothing is
   * logged and stdout/stderr are kept as secrets.
   */
  readonly secretStdin?: pulumi.Input<string>;
  /**
   * Nothing is logged and stdout/stderr are kept as secrets even without secret input: a data
   * move's tools may print rows or keys. A failure still names its reason (the provider puts the
   * output in the error), so such a script writes only its own lines.
   * @default false
   */
  readonly quiet?: boolean;
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** Connection attempts before giving up; raised for the first step of a fresh server. @default 10 */
  readonly dialErrorLimit?: number;
}

/**
 * One step on one host. File contents live in `create` rather than in a hash in `triggers`: a
 * changed `create` is an in-place update that re-runs it, whereas a changed trigger replaces the
 * step, and the old step's `delete` (which removes a site) would run after the new `create`.
 * Steps die with their droplet and are re-run from scratch when it is replaced.
 */
export function remoteStep(name: string, args: StepArgs, parent: pulumi.Resource): command.remote.Command {
  const secret = args.secretStdin !== undefined;
  const quiet = secret || args.quiet === true;
  const connection = args.dialErrorLimit === undefined ? args.host.connection : { ...args.host.connection, dialErrorLimit: args.dialErrorLimit };
  return new command.remote.Command(
    name,
    {
      connection,
      create: args.create,
      delete: args.delete,
      stdin: secret ? pulumi.secret(args.secretStdin!) : undefined,
      logging: quiet ? "none" : "stdoutAndStderr",
      // sshd refuses environment variables it does not list in AcceptEnv, and the previous output is not needed.
      addPreviousOutputInEnv: false,
    },
    {
      parent,
      dependsOn: args.dependsOn,
      additionalSecretOutputs: quiet ? ["stdout", "stderr"] : [],
      deletedWith: args.host.server,
      replaceWith: args.host.server === undefined ? undefined : [args.host.server],
    },
  );
}

/** What a component needs to turn planned steps into resources. */
export interface StepRunner {
  readonly parent: pulumi.ComponentResource;
  /** The component's name; each step's resource is `<name>-<step name>`. */
  readonly name: string;
  readonly hosts: ReadonlyMap<string, Host>;
  /** Steps already made, by planned name: the component's own so far, and those of others it waits for. */
  readonly made: Map<string, pulumi.Resource>;
  /** What a host's facts step reported. */
  readonly facts: (host: string) => pulumi.Output<ServerFacts>;
  readonly secret: (secret: ClusterSecret) => pulumi.Output<string>;
  /** The reserved IP the load balancer pair shares, on DigitalOcean. */
  readonly reservedIp?: pulumi.Input<string>;
}

/**
 * Makes the resource of one planned step: its deploy-time inputs resolved, rendered by the step's
 * own function, secrets put in on the way to stdin and nowhere else.
 */
export function runStep(step: PlannedStep, runner: StepRunner): pulumi.Resource {
  const fail = (message: string): never => {
    throw new pulumi.ResourceError(`${step.name}: ${message}`, runner.parent);
  };
  const host = runner.hosts.get(step.host) ?? fail(`runs on ${step.host}, which is not among the hosts given`);
  const dependsOn = step.dependsOn.map((name) => runner.made.get(name) ?? fail(`waits for ${name}, which has not been made`));
  const resourceName = `${runner.name}-${step.name}`;
  if (step.kind === "upload") {
    return new command.remote.CopyToRemote(
      resourceName,
      { connection: host.connection, source: new pulumi.asset.FileAsset(step.source), remotePath: step.remotePath },
      { parent: runner.parent, dependsOn, deletedWith: host.server, replaceWith: host.server === undefined ? undefined : [host.server] },
    );
  }
  const resolved = pulumi.all(step.inputs.map((input) => resolveInput(input, runner, fail)));
  const rendered: pulumi.Output<RenderedStep> = resolved.apply((values) => step.render(deployFacts(step, values)));
  // A placeholder in a command string would be a secret on its way into the state and the logs.
  const visible = (text: string | undefined) =>
    text?.match(placeholderPattern) ? fail(`its script names a secret (${text.match(placeholderPattern)![0]}) outside stdin`) : text;
  // Outputs that resolve to undefined count as unknown in a preview, so only what the step has is asked for.
  const secretStdin =
    step.secrets.length === 0
      ? undefined
      : pulumi
          .all([rendered.apply((render) => render.stdin ?? fail("declares secrets but renders no stdin")), pulumi.all(step.secrets.map(runner.secret))])
          .apply(([text, values]) => fillSecrets(text, new Map(step.secrets.map((secret, index) => [secretName(secret), values[index]!]))));
  return remoteStep(
    resourceName,
    {
      host,
      create: rendered.apply((render) => visible(render.create)!),
      delete: step.undoable ? rendered.apply((render) => visible(render.delete ?? fail("is undoable but renders no delete script"))!) : undefined,
      secretStdin,
      quiet: step.movesData,
      dependsOn,
      dialErrorLimit: step.dialErrorLimit,
    },
    runner.parent,
  );
}

function resolveInput(input: DeployInput, runner: StepRunner, fail: (message: string) => never): pulumi.Output<ServerFacts | string> {
  if (input.kind === "facts") return runner.facts(input.host);
  if (input.kind === "reservedIp") return pulumi.output(runner.reservedIp ?? fail("is rendered from the reserved IP, which provisioning was not given"));
  if (input.kind === "dropletId") {
    const host = runner.hosts.get(input.host) ?? fail(`is rendered from ${input.host}, which is not among the hosts given`);
    return pulumi.output(host.dropletId ?? fail(`is rendered from the droplet id of ${input.host}, which is not a droplet`)).apply(String);
  }
  if (input.kind === "output") {
    const step = runner.made.get(input.step);
    if (!(step instanceof command.remote.Command)) return fail(`is rendered from the output of ${input.step}, which is not a command made before it`);
    return step.stdout;
  }
  return pulumi.output((runner.hosts.get(input.host) ?? fail(`is rendered from ${input.host}, which is not among the hosts given`)).privateIp);
}

/** The declared inputs as the render function reads them; reading one it did not declare is a planner's mistake. */
function deployFacts(step: PlannedStep, values: readonly (ServerFacts | string)[]): DeployFacts {
  const lookup = (kind: DeployInput["kind"], key: string) => {
    const index = step.inputs.findIndex((input) => input.kind === kind && (input.kind === "output" ? input.step : input.host) === key);
    if (index < 0) throw new Error(`step ${step.name} reads the ${kind} of ${key} without declaring it as an input`);
    return values[index]!;
  };
  return {
    facts: (host) => lookup("facts", host) as ServerFacts,
    privateIp: (host) => lookup("privateIp", host) as string,
    output: (name) => lookup("output", name) as string,
    dropletId: (host) => lookup("dropletId", host) as string,
    reservedIp: (host) => lookup("reservedIp", host) as string,
  };
}
