import * as digitalocean from "@pulumi/digitalocean";
import type * as inputs from "@pulumi/digitalocean/types/input";
import * as pulumi from "@pulumi/pulumi";
import type { FirewallRule, Source } from "../../lib/plan/firewall";
import type { Role } from "../../lib/schema/infrastructure";

export interface FirewallsArgs {
  /** The plan's firewall matrix. */
  readonly rules: readonly FirewallRule[];
  /** Sources allowed to SSH. @example ["203.0.113.0/24"] */
  readonly adminCidrs: readonly string[];
  /** Tag on every droplet of the cluster; `all` rules and egress apply to it. */
  readonly clusterTag: pulumi.Input<string>;
  readonly roleTags: Readonly<Partial<Record<Role, pulumi.Input<string>>>>;
  /** The managed load balancer's id, when the plan has one. */
  readonly loadBalancerUid?: pulumi.Input<string>;
  /** Adjust a firewall's arguments; `role` is `all` for the cluster-wide one. */
  readonly transform?: (args: digitalocean.FirewallArgs, role: Role | "all") => digitalocean.FirewallArgs;
}

const anywhere = ["0.0.0.0/0", "::/0"];

/** A droplet behind a Cloud Firewall may send nothing the rules do not allow, and it needs apt, DNS and NTP. */
const egress: inputs.FirewallOutboundRule[] = [
  { protocol: "tcp", portRange: "1-65535", destinationAddresses: anywhere },
  { protocol: "udp", portRange: "1-65535", destinationAddresses: anywhere },
  { protocol: "icmp", destinationAddresses: anywhere },
];

/**
 * One DigitalOcean Cloud Firewall per role, selecting droplets by the role's tag, plus one for
 * the whole cluster (SSH and egress). DigitalOcean applies the union of all firewalls a droplet
 * is in, so a host with several roles (the single box) gets exactly the union of their rows.
 */
export class Firewalls extends pulumi.ComponentResource {
  readonly firewalls: Readonly<Partial<Record<Role | "all", digitalocean.Firewall>>>;

  constructor(name: string, args: FirewallsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("megaweb:digitalocean:Firewalls", name, {}, opts);
    const byRole = new Map<Role | "all", FirewallRule[]>();
    for (const rule of args.rules) byRole.set(rule.role, [...(byRole.get(rule.role) ?? []), rule]);

    const firewalls: Partial<Record<Role | "all", digitalocean.Firewall>> = {};
    for (const [role, rules] of byRole) {
      const tag = role === "all" ? args.clusterTag : args.roleTags[role];
      if (tag === undefined) throw new Error(`no tag for role ${role}: the network was built without it`);
      const firewallName = role === "all" ? `${name}-all` : `${name}-${role}`;
      const firewallArgs: digitalocean.FirewallArgs = {
        name: firewallName,
        tags: [tag],
        inboundRules: rules.map((rule) => this.inboundRule(rule, args)),
        ...(role === "all" && { outboundRules: egress }),
      };
      firewalls[role] = new digitalocean.Firewall(firewallName, args.transform ? args.transform(firewallArgs, role) : firewallArgs, { parent: this });
    }
    this.firewalls = firewalls;
    this.registerOutputs({ firewalls: this.firewalls });
  }

  private inboundRule(rule: FirewallRule, args: FirewallsArgs): inputs.FirewallInboundRule {
    const addresses = rule.sources.flatMap((source) => (source.kind === "internet" ? anywhere : source.kind === "admin" ? args.adminCidrs : []));
    const tags = rule.sources.flatMap((source) => (source.kind === "role" ? [requireTag(args, source)] : []));
    const loadBalancers = rule.sources.some((source) => source.kind === "loadBalancer") ? [requireLoadBalancer(args)] : [];
    return {
      protocol: "tcp",
      portRange: String(rule.port),
      ...(addresses.length > 0 && { sourceAddresses: [...addresses] }),
      ...(tags.length > 0 && { sourceTags: tags }),
      ...(loadBalancers.length > 0 && { sourceLoadBalancerUids: loadBalancers }),
    };
  }
}

function requireTag(args: FirewallsArgs, source: Extract<Source, { kind: "role" }>): pulumi.Input<string> {
  const tag = args.roleTags[source.role];
  if (tag === undefined) throw new Error(`no tag for role ${source.role}: the network was built without it`);
  return tag;
}

function requireLoadBalancer(args: FirewallsArgs): pulumi.Input<string> {
  if (args.loadBalancerUid === undefined) throw new Error("a firewall rule names the managed load balancer, but none was given");
  return args.loadBalancerUid;
}
