import * as pulumi from "@pulumi/pulumi";
import type { Host } from "../host";

/**
 * The validated stack config as far as provisioning reads it. Replaced by the root schema's
 * `z.infer` type (lib/schema/stack.ts) as soon as it lands; the constructor shape stays.
 */
export interface ProvisioningConfig {
  readonly sites: readonly unknown[];
}

export interface ProvisioningArgs {
  /**
   * The servers to configure, whatever made them (droplets or existing hosts). Each host gets the
   * base steps and the steps of its roles; web hosts get the sites.
   * @example phase.hosts
   */
  readonly hosts: readonly Host[];
  /** The validated stack config (the `megaweb:*` keys after the root schema parsed them). */
  readonly config: ProvisioningConfig;
}

/**
 * Configures servers over SSH with idempotent remote steps: base system, roles, then sites.
 * Same steps whether the hosts are droplets or existing servers.
 */
export class Provisioning extends pulumi.ComponentResource {
  constructor(name: string, args: ProvisioningArgs, opts?: pulumi.ComponentResourceOptions) {
    super("megaweb:provision:Provisioning", name, {}, opts);
    void args;
    this.registerOutputs({});
  }
}
