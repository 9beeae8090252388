import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import { appArtifact } from "../../lib/plan/artifact";
import type { CostEstimate } from "../../lib/plan/cost";
import { deploymentProblems, existingHostsEndpoint, PlanError, type PlannedHost, type TopologyPlan, planTopology } from "../../lib/plan/topology";
import type { Phase } from "../../lib/schema/infrastructure";
import type { Stack } from "../../lib/schema/stack";
import { movesReservedIp } from "../../lib/steps/keepalived";
import { planSteps, type StepPlan } from "../../lib/steps/plan";
import { Orchestrator } from "../app/orchestrator";
import { Firewalls, type FirewallsArgs } from "../digitalocean/firewalls";
import { ManagedLoadBalancer, type ManagedLoadBalancerArgs } from "../digitalocean/load-balancer";
import { Network } from "../digitalocean/network";
import { Node, type NodeArgs } from "../digitalocean/node";
import { Project } from "../digitalocean/project";
import { ReservedEndpoint } from "../digitalocean/reserved-ip";
import type { Host } from "../host";
import { Provisioning, type ProvisioningArgs } from "../provision/provisioning";
import { phaseAliases, phaseTypes } from "./types";

/** The validated stack config (`parseStack`): infrastructure keys and sites. */
export type PhaseConfig = Stack;

export interface PhaseArgs {
  /** The stack config after the root schema parsed it; its `phase` must be this component's phase. */
  readonly config: PhaseConfig;
  /**
   * Private key the provisioning steps connect with: the pair of `sshPublicKeys[0]` on
   * DigitalOcean, or a key the existing hosts accept. Pass it as a secret.
   * @example config.requireSecret("sshPrivateKey")
   */
  readonly sshPrivateKey: pulumi.Input<string>;
  /**
   * The app's `MEGAWEB_API_TOKEN`; required when the config's `app` is enabled. Pass it as a secret.
   * @example config.requireSecret("apiToken")
   */
  readonly apiToken?: pulumi.Input<string>;
  /**
   * The restic repositories' password (`megaweb:backupPassword`), and an S3 destination's secret
   * key (`megaweb:backupS3SecretKey`); required when the config has `backups`. Pass them as secrets.
   * @example { password: config.requireSecret("backupPassword") }
   */
  readonly backup?: ProvisioningArgs["backup"];
  /**
   * The DigitalOcean token the HAProxy pair's keepalived moves the reserved IP with; required on
   * DigitalOcean when two HAProxy droplets share it. Scope it to `reserved_ip:update` (and the
   * read scopes it requires: reserved_ip, droplet, regions, sizes, actions, image). Pass it as a secret.
   * @example config.requireSecret("reservedIpToken")
   */
  readonly reservedIpToken?: pulumi.Input<string>;
  /** Adjust children before they are created. */
  readonly transform?: {
    readonly droplet?: NodeArgs["transform"];
    readonly firewall?: FirewallsArgs["transform"];
    readonly loadBalancer?: ManagedLoadBalancerArgs["transform"];
  };
}

export interface HostAddresses {
  readonly publicIp: string;
  readonly privateIp: string;
}

interface Built {
  readonly hosts: Host[];
  readonly endpoint: pulumi.Output<string>;
  /** The HAProxy pair's reserved IP, on DigitalOcean. */
  readonly reservedIp?: pulumi.Output<string>;
}

/**
 * What every phase shares: plan the topology from the config, make (or look up) its hosts,
 * then hand them to provisioning. The phases differ only in what the plan puts in them.
 */
export abstract class PhaseComponent extends pulumi.ComponentResource {
  /** The plan the resources were made from (`megaweb plan` prints the same). */
  readonly plan: TopologyPlan;
  /** The provisioning steps of every host (`megaweb plan --steps` prints the same). */
  readonly steps: StepPlan;
  /** Every server of the phase, as provisioning reaches it. */
  readonly hosts: readonly Host[];
  /** Where clients connect: the load balancer, the HAProxy reserved IP, or the single web node. */
  readonly endpoint: pulumi.Output<string>;
  /** Public and private IP per host name. */
  readonly addresses: pulumi.Output<Record<string, HostAddresses>>;
  /** Monthly list price with a per-droplet breakdown; zero for existing hosts. */
  readonly monthlyCost: CostEstimate;
  readonly provisioning: Provisioning;
  /** The MegaWeb Orchestrator on the phase's web and worker hosts, when the config's `app` is enabled. */
  readonly orchestrator?: Orchestrator;

  protected constructor(phase: Phase, name: string, args: PhaseArgs, opts?: pulumi.ComponentResourceOptions) {
    const type = phaseTypes[phase];
    super(type, name, {}, { ...opts, aliases: [...(opts?.aliases ?? []), ...phaseAliases(phase)] });
    if (args.config.phase !== phase) {
      throw new Error(`${type} builds the ${phase} phase, but the config's phase is ${args.config.phase}; use phaseComponent() to pick the class`);
    }
    this.plan = planTopology(args.config);
    this.steps = planSteps(args.config, this.plan, { artifact: appArtifact(args.config) });
    if (movesReservedIp(this.plan) && args.reservedIpToken === undefined) {
      throw new Error("two HAProxy droplets share a reserved IP but no reservedIpToken was given (megaweb:reservedIpToken)");
    }
    const built = args.config.target === "digitalocean" ? this.onDigitalOcean(name, args) : this.onExistingHosts(args);
    this.hosts = built.hosts;
    this.endpoint = built.endpoint;
    this.addresses = pulumi
      .all(this.hosts.map((host) => pulumi.all([host.publicIp, host.privateIp])))
      .apply((ips) => Object.fromEntries(this.hosts.map((host, index) => [host.name, { publicIp: ips[index]![0], privateIp: ips[index]![1] }])));
    this.monthlyCost = this.plan.cost;
    this.provisioning = new Provisioning(
      `${name}-provisioning`,
      {
        hosts: this.hosts,
        config: args.config,
        steps: this.steps,
        backup: args.backup,
        reservedIp: built.reservedIp && { address: built.reservedIp, token: args.reservedIpToken },
      },
      { parent: this },
    );
    if (args.config.app?.enabled) {
      if (args.apiToken === undefined) throw new Error("the app is enabled but no apiToken was given (megaweb:apiToken)");
      this.orchestrator = new Orchestrator(
        `${name}-orchestrator`,
        { hosts: this.hosts, config: args.config, apiToken: args.apiToken, provisioning: this.provisioning },
        { parent: this },
      );
    }
    this.registerOutputs({
      plan: this.plan,
      endpoint: this.endpoint,
      addresses: this.addresses,
      monthlyCost: this.monthlyCost,
      provisioning: this.provisioning,
      orchestrator: this.orchestrator,
    });
  }

  private onDigitalOcean(name: string, args: PhaseArgs): Built {
    const { config } = args;
    const problems = deploymentProblems(config);
    if (problems.length > 0) throw new PlanError(problems);
    const plan = this.plan;
    const roles = [...new Set(plan.hosts.flatMap((host) => host.roles))];
    const network = new Network(name, { region: config.region, ipRange: config.vpc.ipRange, roles }, { parent: this });
    const bootstrapKey = new digitalocean.SshKey(`${name}-bootstrap-key`, { name: `${name}-bootstrap`, publicKey: config.sshPublicKeys[0]! }, { parent: this });
    const roleTag = (role: PlannedHost["roles"][number]) => network.roleTags[role]!;

    const nodes = new Map(
      plan.hosts.map((host) => [
        host.name,
        new Node(
          `${name}-${host.name}`,
          {
            host,
            region: config.region,
            image: config.image,
            vpcId: network.vpc.id,
            tags: [network.clusterTag, ...host.roles.map(roleTag)],
            sshKeyFingerprint: bootstrapKey.fingerprint,
            sshPrivateKey: args.sshPrivateKey,
            transform: args.transform?.droplet,
          },
          { parent: this },
        ),
      ]),
    );
    const node = (hostName: string) => nodes.get(hostName)!;

    const balancer = plan.loadBalancer;
    const managed =
      balancer?.kind === "digitalocean"
        ? new ManagedLoadBalancer(
            `${name}-lb`,
            {
              region: config.region,
              vpcId: network.vpc.id,
              backendDropletIds: balancer.backends.map((backend) => node(backend).dropletId),
              healthCheck: balancer.healthCheck,
              transform: args.transform?.loadBalancer,
            },
            { parent: this },
          )
        : undefined;
    const reserved = balancer?.reservedIp
      ? new ReservedEndpoint(`${name}-ip`, { region: config.region, holderDropletId: node(balancer.nodes[0]!).dropletId }, { parent: this })
      : undefined;

    new Firewalls(
      name,
      {
        rules: plan.firewall,
        adminCidrs: config.adminCidrs,
        clusterTag: network.clusterTag,
        roleTags: network.roleTags,
        loadBalancerUid: managed?.loadBalancer.id,
        transform: args.transform?.firewall,
      },
      { parent: this },
    );
    new Project(
      name,
      {
        projectName: config.project.name ?? name,
        environment: config.project.environment,
        resourceUrns: [
          ...[...nodes.values()].map((each) => each.droplet.dropletUrn),
          ...(managed ? [managed.loadBalancer.loadBalancerUrn] : []),
          ...(reserved ? [reserved.reservedIp.reservedIpUrn] : []),
        ],
      },
      { parent: this },
    );

    const firstWeb = plan.hosts.find((host) => host.roles.includes("web"))!;
    return {
      hosts: [...nodes.values()].map((each) => each.host),
      endpoint: managed?.ip ?? reserved?.ip ?? node(firstWeb.name).droplet.ipv4Address,
      reservedIp: reserved?.ip,
    };
  }

  /** No cloud API: the hosts are the servers the config lists, matched to the plan by role and order. */
  private onExistingHosts(args: PhaseArgs): Built {
    const privateKey = pulumi.secret(args.sshPrivateKey);
    const given = (planned: PlannedHost) => args.config.hosts[planned.plannedAs]![planned.ordinal - 1]!;
    const hosts: Host[] = this.plan.hosts.map((planned) => ({
      name: planned.name,
      roles: planned.roles,
      connection: { host: given(planned).address, port: given(planned).port, user: given(planned).user, privateKey },
      publicIp: given(planned).address,
      privateIp: given(planned).privateAddress,
    }));
    const endpoint = existingHostsEndpoint(
      this.plan,
      args.config.loadBalancer.virtualAddress,
      (name) => given(this.plan.hosts.find((host) => host.name === name)!).address,
    );
    return { hosts, endpoint: pulumi.output(endpoint) };
  }
}
