import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { appArtifact } from "../../lib/plan/artifact";
import { planTopology } from "../../lib/plan/topology";
import type { Stack } from "../../lib/schema/stack";
import { parseFacts, type ServerFacts } from "../../lib/steps/facts";
import { factsStep } from "../../lib/steps/host";
import { planSteps, type StepPlan, stepsOf } from "../../lib/steps/plan";
import type { Host } from "../host";
import { type SecretSources, secretValue } from "./secrets";
import { runStep, type StepRunner } from "./step";

/** The validated stack config as provisioning reads it. */
export type ProvisioningConfig = Stack;

export interface ProvisioningArgs {
  /**
   * The servers to configure, whatever made them (droplets or existing hosts), named as the plan
   * names them.
   * @example phase.hosts
   */
  readonly hosts: readonly Host[];
  /** The validated stack config (the `megaweb:*` keys after the root schema parsed them). */
  readonly config: ProvisioningConfig;
  /**
   * The stack's step plan. The phase components pass theirs, so the topology is planned once.
   * @default planSteps(config, planTopology(config), { artifact: appArtifact(config) })
   */
  readonly steps?: StepPlan;
  /**
   * The backups' secrets, when the config has `backups`: the restic password, and the secret key
   * of an S3 destination. They reach the hosts on a step's stdin only.
   * @example { password: config.requireSecret("backupPassword") }
   */
  readonly backup?: SecretSources["backup"];
  /**
   * On DigitalOcean, the reserved IP the HAProxy pair shares and the token keepalived's notify
   * hook moves it with (`megaweb:reservedIpToken`, scoped to `reserved_ip:update` and the read
   * scopes it requires); needed when the pair is two droplets. The token reaches the balancers on
   * a secret-only step's stdin.
   * @example { address: reserved.ip, token: config.requireSecret("reservedIpToken") }
   */
  readonly reservedIp?: { readonly address: pulumi.Input<string>; readonly token?: pulumi.Input<string> };
}

/**
 * Configures servers over SSH: one remote command per step of the plan (`lib/steps/`) that
 * belongs to provisioning, named `<name>-<step name>`, in the plan's order and dependencies.
 * Base system and firewall, then roles (web tier, MariaDB, Redis, HAProxy), then one step per
 * site, so changing a site touches only its steps. The same steps run on droplets and on
 * existing hosts.
 */
export class Provisioning extends pulumi.ComponentResource {
  /** The plan the steps were made from. */
  readonly plan: StepPlan;
  /** Every step made, by its planned name (`web-1-site-shop_example_com`). */
  readonly steps: Readonly<Record<string, pulumi.Resource>>;
  /** What each host reported about itself (OS, release, memory), per host name. */
  readonly facts: pulumi.Output<Record<string, ServerFacts>>;
  private readonly made = new Map<string, pulumi.Resource>();

  constructor(name: string, args: ProvisioningArgs, opts?: pulumi.ComponentResourceOptions) {
    super("megaweb:provision:Provisioning", name, {}, opts);
    this.plan = args.steps ?? planSteps(args.config, planTopology(args.config), { artifact: appArtifact(args.config) });
    const hosts = new Map(args.hosts.map((host) => [host.name, host]));
    const rootSecret = args.hosts[0]?.connection.privateKey;
    if (rootSecret === undefined) throw new pulumi.ResourceError("provisioning needs the hosts' SSH private key (megaweb:sshPrivateKey)", this);

    const runner: StepRunner = {
      parent: this,
      name,
      hosts,
      made: this.made,
      facts: (host) => this.factsOf(host),
      secret: (secret) => secretValue(secret, { rootSecret, stack: this.plan.stack, backup: args.backup, reservedIpToken: args.reservedIp?.token }),
      reservedIp: args.reservedIp?.address,
    };
    for (const step of stepsOf(this.plan, "provisioning")) this.made.set(step.name, runStep(step, runner));

    this.steps = Object.fromEntries(this.made);
    const hostNames = this.plan.topology.hosts.map((host) => host.name);
    this.facts = pulumi
      .all(hostNames.map((host) => this.factsOf(host)))
      .apply((facts) => Object.fromEntries(hostNames.map((host, index) => [host, facts[index]!])));
    this.registerOutputs({ facts: this.facts });
  }

  /** What the host's facts step reported: later steps, the orchestrator's included, are rendered from it. */
  factsOf(host: string): pulumi.Output<ServerFacts> {
    const step = this.made.get(factsStep(host));
    if (!(step instanceof command.remote.Command)) throw new pulumi.ResourceError(`${host} has no facts step planned before the steps rendered from it`, this);
    return step.stdout.apply(parseFacts);
  }
}
