import { addressFrom, localSockets, secretPlaceholder, socketFrom } from "../plan/cluster";
import { privatePorts } from "../plan/firewall";
import type { PlannedHost, TopologyPlan } from "../plan/topology";
import { redisProxyAddress, renderRedisProxy } from "../render/redis-proxy";
import type { Stack } from "../schema/stack";
import { workerOnlyHostSites } from "./deploy";
import { firewallStep } from "./host";
import type { StepPlanner } from "./plan";
import { redisPassword, redisServers } from "./redis";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, type DeployFacts, privateIpOf } from "./step";

/**
 * Behind Sentinels, every host whose PHP sites talk to Redis (the web hosts, and the worker hosts
 * that run a site's workers) reaches the current primary through a local proxy
 * (`lib/render/redis-proxy.ts`): sessions and the sites' `.env` name it, so a failover moves them
 * within a health check instead of leaving them on a read-only replica.
 */

export const redisProxyStep = (host: string) => `${host}-redis-proxy`;

/** Whether the host's PHP sites reach Redis through the proxy: Sentinels watch Redis and the host gets a PHP site's `.env`. */
export function usesRedisProxy(stack: Stack, topology: TopologyPlan, host: PlannedHost): boolean {
  if (topology.redis.sentinels.length === 0) return false;
  const sites = host.roles.includes("web") ? stack.sites : host.roles.includes("worker") ? workerOnlyHostSites(stack) : [];
  return sites.some((site) => site.kind === "php");
}

export const redisProxySteps: StepPlanner = ({ stack, topology }) => {
  const servers = redisServers(topology);
  return topology.hosts
    .filter((host) => usesRedisProxy(stack, topology, host))
    .map((host): CommandStep => ({
      kind: "command",
      name: redisProxyStep(host.name),
      owner: "provisioning",
      host: host.name,
      dependsOn: [firewallStep(host.name)],
      inputs: servers.map(privateIpOf),
      reads: [],
      secrets: [redisPassword],
      renderer: "redis-proxy",
      render: (at) => {
        const proxy = renderRedisProxy({
          servers: servers.map((server) => ({ name: server, host: addressFrom(host.name, server, (other) => at.privateIp(other)), port: privatePorts.redis })),
          password: secretPlaceholder(redisPassword),
        });
        // Debian's own haproxy.service is the balancers' daemon: installed stopped, and left off where the host balances nothing.
        const install = host.roles.includes("loadbalancer")
          ? "apt_install_stopped haproxy"
          : "apt_install_stopped haproxy\nsystemctl disable haproxy.service >/dev/null 2>&1";
        return { files: [proxy.password, proxy.config, proxy.unit], create: stepCommand(`${install}\n${proxy.step(putFiles)}`), stdin: proxy.password.content };
      },
    }));
};

/** Where a PHP site on `host` reaches Redis: the local proxy behind Sentinels, else the plan's primary. */
export function siteRedisEndpoint(stack: Stack, topology: TopologyPlan, host: PlannedHost): SiteRedisEndpoint {
  if (usesRedisProxy(stack, topology, host)) return { after: [redisProxyStep(host.name)], hosts: [], at: () => redisProxyAddress };
  const primary = topology.redis.primary;
  return {
    after: [],
    hosts: [primary],
    at: (at) => ({
      host: addressFrom(host.name, primary, (other) => at.privateIp(other)),
      port: privatePorts.redis,
      socket: socketFrom(host.name, primary, localSockets.redis),
    }),
  };
}

export interface SiteRedisEndpoint {
  /** The proxy's step, when there is one. */
  readonly after: readonly string[];
  /** The hosts whose private addresses it is rendered from. */
  readonly hosts: readonly string[];
  /** `socket`: the server's unix socket, when it runs on this host (the proxy has none). */
  readonly at: (at: DeployFacts) => { readonly host: string; readonly port: number; readonly socket?: string };
}
