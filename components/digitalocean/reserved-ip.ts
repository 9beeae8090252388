import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";

export interface ReservedEndpointArgs {
  /** @example "nyc3" */
  readonly region: string;
  /** The droplet that holds the address at first: the first HAProxy node. */
  readonly holderDropletId: pulumi.Input<number>;
}

/**
 * A reserved IP in front of the HAProxy nodes: the public endpoint survives replacing either
 * node, and failover moves it to the standby at run time.
 */
export class ReservedEndpoint extends pulumi.ComponentResource {
  readonly reservedIp: digitalocean.ReservedIp;
  readonly assignment: digitalocean.ReservedIpAssignment;
  readonly ip: pulumi.Output<string>;

  constructor(name: string, args: ReservedEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
    super("megaweb:digitalocean:ReservedEndpoint", name, {}, opts);
    this.reservedIp = new digitalocean.ReservedIp(name, { region: args.region }, { parent: this });
    this.ip = this.reservedIp.ipAddress;
    this.assignment = new digitalocean.ReservedIpAssignment(
      `${name}-assignment`,
      { ipAddress: this.ip, dropletId: args.holderDropletId },
      // After a failover the standby holds the address; an unrelated `pulumi up` must not move it back.
      { parent: this, ignoreChanges: ["dropletId"] },
    );
    this.registerOutputs({ reservedIp: this.reservedIp, assignment: this.assignment, ip: this.ip });
  }
}
