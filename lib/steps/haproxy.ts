import { renderHaproxyConfig } from "../render/haproxy";
import { renderTemplate } from "../render/template";
import { firewallStep } from "./host";
import type { StepPlanner } from "./plan";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, privateIpOf } from "./step";

/** HAProxy on the load balancer hosts, balancing over the web hosts' private addresses. */

export const haproxyStep = (host: string) => `${host}-haproxy`;

export const haproxySteps: StepPlanner = ({ stack, topology }) => {
  const backends = topology.hosts.filter((host) => host.roles.includes("web"));
  return topology.hosts
    .filter((host) => host.roles.includes("loadbalancer"))
    .map((host): CommandStep => ({
      kind: "command",
      name: haproxyStep(host.name),
      owner: "provisioning",
      host: host.name,
      dependsOn: [firewallStep(host.name)],
      inputs: backends.map((backend) => privateIpOf(backend.name)),
      reads: ["healthPath"],
      secrets: [],
      renderer: "haproxy",
      render: (at) => {
        const config = renderHaproxyConfig({
          backends: backends.map((backend) => ({ name: backend.name, address: at.privateIp(backend.name) })),
          healthPath: stack.healthPath,
        });
        return { files: [config], create: stepCommand(renderTemplate("provision/haproxy.sh", { files: putFiles([config]) })) };
      },
    }));
};
