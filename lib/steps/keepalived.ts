import { renderKeepalived } from "../render/keepalived";
import { renderTemplate } from "../render/template";
import { haproxyStep } from "./haproxy";
import type { StepPlanner } from "./plan";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, factsOf, privateIpOf } from "./step";

/**
 * keepalived on the HAProxy pair of existing hosts, after HAProxy (its check asks HAProxy), moving
 * `loadBalancer.virtualAddress` on the private interface. The address is run-time state: neither
 * node is configured as the master, so a re-run after a failover moves nothing back.
 *
 * On DigitalOcean the pair moves a reserved IP from keepalived's notify hook (`renderKeepalived`'s
 * `reservedIp`); that needs the droplets' ids and the API token as step inputs, which the step
 * plan does not carry yet, so DigitalOcean's pair gets no keepalived step here.
 */

export const keepalivedStep = (host: string) => `${host}-keepalived`;

export const keepalivedSteps: StepPlanner = ({ stack, topology }) => {
  const nodes = topology.loadBalancer?.kind === "haproxy" ? topology.loadBalancer.nodes : [];
  const virtualAddress = stack.loadBalancer.virtualAddress;
  if (nodes.length < 2 || virtualAddress === undefined) return [];
  return nodes.map((host, index): CommandStep => ({
    kind: "command",
    name: keepalivedStep(host),
    owner: "provisioning",
    host,
    dependsOn: [haproxyStep(host)],
    inputs: [factsOf(host), ...nodes.map(privateIpOf)],
    reads: ["loadBalancer.virtualAddress"],
    secrets: [],
    renderer: "keepalived",
    render: (at) => {
      const privateAddress = at.privateIp(host);
      const files = renderKeepalived({
        nodes: nodes.map((node) => ({ name: node, privateAddress: at.privateIp(node) })),
        index,
        interface: at.facts(host).interfaces?.[privateAddress] ?? `<interface of ${privateAddress}>`,
        virtualAddress,
      });
      return {
        files: [files.config, files.check],
        create: stepCommand(renderTemplate("provision/keepalived.sh", { files: putFiles([files.config, files.check]) })),
      };
    },
  }));
};
