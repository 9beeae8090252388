import type * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import type { Role } from "../lib/schema/infrastructure";

/**
 * A server the provisioning steps can reach, whatever made it: a droplet or an existing host.
 * Phase components produce these; provisioning components consume them.
 */
export interface Host {
  /** The plan's name for the host, e.g. `web-1`; resource names derive from it. */
  readonly name: string;
  readonly roles: readonly Role[];
  readonly connection: command.types.input.remote.ConnectionArgs;
  readonly publicIp: pulumi.Input<string>;
  readonly privateIp: pulumi.Input<string>;
  /** The droplet behind the host; steps are `deletedWith` it and re-run when it is replaced. Absent for existing hosts. */
  readonly server?: pulumi.Resource;
  /** The droplet's numeric id, which DigitalOcean's API takes (the reserved IP's notify hook). Absent for existing hosts. */
  readonly dropletId?: pulumi.Input<number>;
}
