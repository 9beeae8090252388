import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import type { PlannedHost } from "../../lib/plan/topology";
import type { Host } from "../host";

export interface NodeArgs {
  /** The plan's host: name, roles and size. @example { name: "web-1", roles: ["web"], size: "s-1vcpu-2gb", memoryMb: 2048 } */
  readonly host: PlannedHost;
  /** @example "nyc3" */
  readonly region: string;
  /** @example "debian-12-x64" */
  readonly image: string;
  /** The VPC the droplet's private interface joins. */
  readonly vpcId: pulumi.Input<string>;
  /** Tag names: the cluster tag and one per role; firewalls and the project find droplets by them. */
  readonly tags: pulumi.Input<string>[];
  /** Fingerprint of the bootstrap SSH key, the only thing a new droplet is given besides its size and image. */
  readonly sshKeyFingerprint: pulumi.Input<string>;
  /** Private key matching the bootstrap key; kept secret in state and in the connection. */
  readonly sshPrivateKey: pulumi.Input<string>;
  /** Adjust the droplet's arguments before it is created. */
  readonly transform?: (args: digitalocean.DropletArgs, host: PlannedHost) => digitalocean.DropletArgs;
}

/**
 * One droplet of the plan: web, MySQL, Redis, Sentinel, worker or HAProxy node alike, since
 * what a server does is provisioned over SSH and never baked into the droplet.
 */
export class Node extends pulumi.ComponentResource {
  readonly droplet: digitalocean.Droplet;
  /** The droplet as provisioning sees it. */
  readonly host: Host;
  /** The droplet's numeric id, the form firewalls, load balancers and reserved IPs take. */
  readonly dropletId: pulumi.Output<number>;

  constructor(name: string, args: NodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("megaweb:digitalocean:Node", name, {}, opts);
    const dropletArgs: digitalocean.DropletArgs = {
      name,
      region: args.region,
      size: args.host.size,
      image: args.image,
      vpcUuid: args.vpcId,
      monitoring: true,
      tags: args.tags,
      sshKeys: [args.sshKeyFingerprint],
    };
    this.droplet = new digitalocean.Droplet(name, args.transform ? args.transform(dropletArgs, args.host) : dropletArgs, {
      parent: this,
      // sshKeys force a replacement, yet the key only matters for the first boot: later keys
      // are the provisioning steps' business, and rotating one must not rebuild the servers.
      ignoreChanges: ["sshKeys"],
    });
    this.dropletId = this.droplet.id.apply(Number);
    this.host = {
      name: args.host.name,
      roles: args.host.roles,
      connection: { host: this.droplet.ipv4Address, port: 22, user: "root", privateKey: pulumi.secret(args.sshPrivateKey) },
      publicIp: this.droplet.ipv4Address,
      privateIp: this.droplet.ipv4AddressPrivate,
      server: this.droplet,
      dropletId: this.dropletId,
    };
    this.registerOutputs({ droplet: this.droplet, dropletId: this.dropletId });
  }
}
