import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import type { HealthCheck } from "../../lib/plan/topology";

export interface ManagedLoadBalancerArgs {
  /** @example "nyc3" */
  readonly region: string;
  readonly vpcId: pulumi.Input<string>;
  /** Numeric ids of the web droplets behind it. */
  readonly backendDropletIds: pulumi.Input<number>[];
  /** From the plan: HTTP on port 80 at the app's health path. */
  readonly healthCheck: HealthCheck;
  /** Adjust the load balancer's arguments (size units, sticky sessions, …). */
  readonly transform?: (args: digitalocean.LoadBalancerArgs) => digitalocean.LoadBalancerArgs;
}

/**
 * DigitalOcean's managed load balancer: HTTP forwarded as HTTP, HTTPS passed through so TLS
 * ends on the web nodes with the certificates the sites provision.
 */
export class ManagedLoadBalancer extends pulumi.ComponentResource {
  readonly loadBalancer: digitalocean.LoadBalancer;
  /** The public address clients connect to. */
  readonly ip: pulumi.Output<string>;

  constructor(name: string, args: ManagedLoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("megaweb:digitalocean:ManagedLoadBalancer", name, {}, opts);
    const loadBalancerArgs: digitalocean.LoadBalancerArgs = {
      name,
      region: args.region,
      vpcUuid: args.vpcId,
      sizeUnit: 1,
      dropletIds: args.backendDropletIds,
      forwardingRules: [
        { entryProtocol: "http", entryPort: 80, targetProtocol: "http", targetPort: 80 },
        { entryProtocol: "https", entryPort: 443, targetProtocol: "https", targetPort: 443, tlsPassthrough: true },
      ],
      healthcheck: {
        protocol: args.healthCheck.protocol,
        port: args.healthCheck.port,
        path: args.healthCheck.path,
        checkIntervalSeconds: 10,
        responseTimeoutSeconds: 5,
        healthyThreshold: 3,
        unhealthyThreshold: 3,
      },
    };
    this.loadBalancer = new digitalocean.LoadBalancer(name, args.transform ? args.transform(loadBalancerArgs) : loadBalancerArgs, { parent: this });
    this.ip = this.loadBalancer.ip;
    this.registerOutputs({ loadBalancer: this.loadBalancer, ip: this.ip });
  }
}
