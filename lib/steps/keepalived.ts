import { type ClusterSecret, secretPlaceholder } from "../plan/cluster";
import type { TopologyPlan } from "../plan/topology";
import { renderKeepalived, renderReservedIpToken } from "../render/keepalived";
import { renderTemplate } from "../render/template";
import { haproxyStep } from "./haproxy";
import type { StepPlanner } from "./plan";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, type DeployFacts, dropletIdOf, factsOf, privateIpOf, reservedIpOf } from "./step";
import { secretFileCommand } from "./web";

/**
 * keepalived on the HAProxy pair, after HAProxy (its check asks HAProxy). On existing hosts it
 * moves `loadBalancer.virtualAddress` on the private interface; on DigitalOcean its notify hook
 * moves the reserved IP through the API, with the droplet's id and the address as the step's
 * deploy-time inputs and the token (`megaweb:reservedIpToken`) written by a secret-only step
 * before it. The address is run-time state: neither node is configured as the master, so a re-run
 * after a failover moves nothing back (and `ReservedEndpoint`'s assignment ignores the droplet).
 */

export const keepalivedStep = (host: string) => `${host}-keepalived`;
export const reservedIpTokenStep = (host: string) => `${host}-reserved-ip-token`;

export const reservedIpToken: ClusterSecret = { kind: "reservedIpToken" };

/** Whether the stack's balancer pair moves a DigitalOcean reserved IP, and so needs `megaweb:reservedIpToken`. */
export function movesReservedIp(topology: TopologyPlan): boolean {
  return topology.loadBalancer?.kind === "haproxy" && topology.loadBalancer.reservedIp && topology.loadBalancer.nodes.length >= 2;
}

export const keepalivedSteps: StepPlanner = ({ stack, topology }) => {
  const nodes = topology.loadBalancer?.kind === "haproxy" ? topology.loadBalancer.nodes : [];
  const virtualAddress = stack.loadBalancer.virtualAddress;
  const reserved = movesReservedIp(topology);
  if (nodes.length < 2 || (virtualAddress === undefined && !reserved)) return [];
  const render = (host: string, index: number, at: DeployFacts) => {
    const privateAddress = at.privateIp(host);
    return renderKeepalived({
      nodes: nodes.map((node) => ({ name: node, privateAddress: at.privateIp(node) })),
      index,
      interface: at.facts(host).interfaces?.[privateAddress] ?? `<interface of ${privateAddress}>`,
      ...(reserved
        ? { reservedIp: { address: at.reservedIp(host), dropletId: at.dropletId(host), token: secretPlaceholder(reservedIpToken) } }
        : { virtualAddress }),
    });
  };
  return nodes.flatMap((host, index): CommandStep[] => {
    const token: CommandStep[] = reserved
      ? [
          {
            kind: "command",
            name: reservedIpTokenStep(host),
            owner: "provisioning",
            host,
            dependsOn: [haproxyStep(host)],
            inputs: [],
            reads: [],
            secrets: [reservedIpToken],
            renderer: "keepalived",
            render: () => {
              const file = renderReservedIpToken(secretPlaceholder(reservedIpToken));
              return { files: [file], create: secretFileCommand(file), stdin: file.content };
            },
          },
        ]
      : [];
    const keepalived: CommandStep = {
      kind: "command",
      name: keepalivedStep(host),
      owner: "provisioning",
      host,
      dependsOn: [haproxyStep(host), ...token.map((step) => step.name)],
      inputs: [factsOf(host), ...nodes.map(privateIpOf), ...(reserved ? [dropletIdOf(host), reservedIpOf(host)] : [])],
      reads: reserved ? [] : ["loadBalancer.virtualAddress"],
      secrets: [],
      renderer: "keepalived",
      render: (at) => {
        const files = render(host, index, at);
        const written = [files.config, files.check, ...(files.reservedIp ? [files.reservedIp.hook, files.reservedIp.settings] : [])];
        return { files: written, create: stepCommand(renderTemplate("provision/keepalived.sh", { files: putFiles(written) })) };
      },
    };
    return [...token, keepalived];
  });
};
