import { privatePorts } from "../plan/firewall";
import { healthHost, localCheckAddress, type HealthCheck } from "./balanced-web";
import type { HostContext } from "./context";
import type { HostFile } from "./files";
import { hostPort } from "./scrape-targets";
import { renderTemplate } from "./template";

/**
 * A web node's say in the balancers' rotation: HAProxy's agent check answered by a socket-activated
 * script (templates/balancer-agent/), and `megaweb-drain`, which deploys and orchestrator restarts
 * run around their switch so the balancers send the node no new requests meanwhile. The node
 * drains itself, so every balancer of an HA pair hears it and no balancer's admin socket is open
 * to the network; what HAProxy does with the answer shows in its runtime API (`show servers state`).
 */

/** The port the balancers' agent checks connect to on each web node. */
export const balancerAgentPort = privatePorts.balancerAgent;

/** The backends of haproxy.cfg that hold the web nodes; each asks the agent on its own, naming itself first (`agent-send`). */
export const webBackendNames = ["web_http", "web_https"] as const;

/** How often each balancer asks; a drain takes effect within this (plus the answer's round trip). */
export const agentIntervalMs = 1000;

export interface BalancerAgentInput {
  readonly host: HostContext;
  /** The balancers' private addresses. */
  readonly balancers: readonly string[];
  /** The balancers' health checks of this node (`balancerHealthChecks`). */
  readonly checks: readonly HealthCheck[];
}

export interface BalancerAgentRender {
  readonly files: readonly HostFile[];
  readonly socketUnit: string;
  /** `megaweb-drain`: deploys call it when it exists. */
  readonly drainScript: string;
}

/** Where `megaweb-drain` lies on a host (under the host's root in the loopback tests). */
export const drainScript = "/usr/local/sbin/megaweb-drain";
export const drainScriptPath = (host: Pick<HostContext, "path">) => host.path(drainScript);

const socketUnit = "megaweb-balancer-agent.socket";

export function renderBalancerAgent(input: BalancerAgentInput): BalancerAgentRender {
  const { host } = input;
  const agentScript = host.path("/usr/local/sbin/megaweb-balancer-agent");
  const drainScript = drainScriptPath(host);
  const seenRuntimeDirectory = "megaweb/balancer-seen";
  const view = {
    hostName: host.name,
    balancers: input.balancers,
    balancerList: input.balancers.join(", "),
    balancerWords: input.balancers.join(" "),
    backends: webBackendNames.join(" "),
    intervalSeconds: agentIntervalMs / 1000,
    drainDir: host.path("/run/megaweb/drain"),
    seenDir: host.path(`/run/${seenRuntimeDirectory}`),
    seenRuntimeDirectory,
    agentScript,
    // Every address, as the sites listen, unless the host names one; the firewall and IPAddressAllow keep it to the balancers.
    listen: host.listenAddress === undefined ? `${balancerAgentPort}` : hostPort(host.listenAddress, balancerAgentPort),
    checkPaths: input.checks.map((check) => check.path).join(" "),
    healthHost,
    checkAddress: hostPort(localCheckAddress(host), host.ports.http),
    // Five rounds of checks: one missed answer is no reason to give up on a balancer.
    waitSeconds: (agentIntervalMs * 5) / 1000,
  };
  const units = host.path("/etc/systemd/system");
  return {
    files: [
      { path: agentScript, content: renderTemplate("balancer-agent/megaweb-balancer-agent.sh", view), mode: "0755" },
      { path: drainScript, content: renderTemplate("balancer-agent/megaweb-drain.sh", view), mode: "0755" },
      { path: `${units}/${socketUnit}`, content: renderTemplate("balancer-agent/megaweb-balancer-agent.socket", view) },
      { path: `${units}/megaweb-balancer-agent@.service`, content: renderTemplate("balancer-agent/megaweb-balancer-agent@.service", view) },
    ],
    socketUnit,
    drainScript,
  };
}
