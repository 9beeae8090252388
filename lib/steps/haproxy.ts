import { balancerHealthChecks } from "../render/balanced-web";
import { renderHaproxyConfig } from "../render/haproxy";
import { renderTemplate } from "../render/template";
import { balancedSites, haproxyHosts } from "./balancer";
import { firewallStep } from "./host";
import type { StepPlanner } from "./plan";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, factsOf, privateIpOf } from "./step";

/**
 * HAProxy on the load balancer hosts, balancing over the web hosts' private addresses with the
 * health checks the web nodes answer, its `maxconn` sized from the host's own facts.
 */

export const haproxyStep = (host: string) => `${host}-haproxy`;

export const haproxySteps: StepPlanner = ({ stack, topology }) => {
  const backends = topology.hosts.filter((host) => host.roles.includes("web"));
  // Every node answers the same checks (they follow the sites), so the first one's stand for all.
  const checked = backends[0];
  if (checked === undefined) return [];
  return haproxyHosts(topology).map((host): CommandStep => ({
    kind: "command",
    name: haproxyStep(host.name),
    owner: "provisioning",
    host: host.name,
    dependsOn: [firewallStep(host.name)],
    inputs: [factsOf(host.name), factsOf(checked.name), ...backends.map((backend) => privateIpOf(backend.name))],
    reads: ["sites", "app.port"],
    secrets: [],
    renderer: "haproxy",
    render: (at) => {
      const facts = at.facts(host.name);
      const config = renderHaproxyConfig({
        servers: backends.map((backend) => ({ name: backend.name, address: at.privateIp(backend.name) })),
        checks: balancerHealthChecks(balancedSites(stack, topology, checked, at)),
        host: { openFilesLimit: facts.openFilesLimit, memoryMb: facts.memoryMb },
      });
      return { files: [config], create: stepCommand(renderTemplate("provision/haproxy.sh", { files: putFiles([config]) })) };
    },
  }));
};
