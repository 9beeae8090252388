import type { PlannedHost, TopologyPlan } from "../plan/topology";
import type { HostFacts } from "../render/context";
import type { DeployFacts } from "./step";

/** More than one web node: PHP sessions must live where every node reads them, in Redis. */
export function sharesSessions(topology: TopologyPlan): boolean {
  return topology.hosts.filter((host) => host.roles.includes("web")).length > 1;
}

/** What sizes a host's PHP pools: its roles, and its memory and cores as the host reports them. */
export function sizingFacts(host: PlannedHost, at: DeployFacts): Pick<HostFacts, "name" | "memoryMb" | "cpus" | "roles"> {
  const { memoryMb, cpus } = at.facts(host.name);
  return { name: host.name, memoryMb, cpus, roles: host.roles };
}

/** What the web renderers know of a web host at deploy time; every step that renders its files starts from this. */
export function webHostFacts(topology: TopologyPlan, host: PlannedHost, at: DeployFacts): HostFacts {
  return {
    ...sizingFacts(host, at),
    sharedSessions: sharesSessions(topology),
    acmeFromIssuer: topology.certificates?.receivers.includes(host.name) ?? false,
  };
}
