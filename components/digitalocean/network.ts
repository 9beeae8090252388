import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import type { Role } from "../../lib/schema/infrastructure";

export interface NetworkArgs {
  /** @example "nyc3" */
  readonly region: string;
  /**
   * Private range of the VPC.
   * @default a /20 DigitalOcean picks so it overlaps no other VPC of the account
   * @example "10.20.0.0/20"
   */
  readonly ipRange?: string;
  /** Roles that get a tag; a tag exists before any firewall or droplet names it. */
  readonly roles: readonly Role[];
}

/**
 * The cluster's private network and the tags that name its members: one tag for the whole
 * cluster and one per role. Firewalls select droplets by tag, so adding a node never edits a
 * firewall.
 */
export class Network extends pulumi.ComponentResource {
  readonly vpc: digitalocean.Vpc;
  /** Tag on every droplet of the cluster. */
  readonly clusterTag: pulumi.Output<string>;
  /** Tag per role present in the plan. */
  readonly roleTags: Readonly<Partial<Record<Role, pulumi.Output<string>>>>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("megaweb:digitalocean:Network", name, {}, opts);
    this.vpc = new digitalocean.Vpc(`${name}-vpc`, { name: `${name}-vpc`, region: args.region, ipRange: args.ipRange }, { parent: this });
    this.clusterTag = new digitalocean.Tag(`${name}-tag`, { name }, { parent: this }).name;
    this.roleTags = Object.fromEntries(
      args.roles.map((role) => [role, new digitalocean.Tag(`${name}-tag-${role}`, { name: `${name}-${role}` }, { parent: this }).name]),
    );
    this.registerOutputs({ vpc: this.vpc, clusterTag: this.clusterTag, roleTags: this.roleTags });
  }
}
