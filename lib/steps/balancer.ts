import type { PlannedHost, TopologyPlan } from "../plan/topology";
import type { BalancedWebInput } from "../render/balanced-web";
import { resolveWebHost } from "../render/context";
import type { Stack } from "../schema/stack";
import type { DeployFacts } from "./step";
import { webHostFacts } from "./web-host";

/**
 * What ties the web nodes to the HAProxy nodes in front of them: both sides render from the same
 * input (`renderBalancedWeb` on a node, its `checks` in haproxy.cfg), so the balancers ask exactly
 * the health paths the nodes answer.
 */

/** The HAProxy hosts in front of the web nodes; none without a load balancer or with DigitalOcean's. */
export function haproxyHosts(topology: TopologyPlan): PlannedHost[] {
  if (topology.loadBalancer?.kind !== "haproxy") return [];
  return topology.hosts.filter((host) => host.roles.includes("loadbalancer"));
}

/** A web node's sites as its facts resolve them, and the app's port when the node runs the app: what its health checks follow. */
export function balancedSites(stack: Stack, topology: TopologyPlan, host: PlannedHost, at: DeployFacts): Omit<BalancedWebInput, "balancers"> {
  const { host: context, sites } = resolveWebHost(stack.sites, webHostFacts(topology, host, at));
  return { host: context, sites, ...(stack.app?.enabled && { appPort: stack.app.port }) };
}

/** A web node's side: its sites, and the balancers' addresses, the only ones it believes and answers health checks from. */
export function balancedWebInput(stack: Stack, topology: TopologyPlan, host: PlannedHost, at: DeployFacts): BalancedWebInput {
  return { ...balancedSites(stack, topology, host, at), balancers: haproxyHosts(topology).map((balancer) => at.privateIp(balancer.name)) };
}
