import { loopback, redisMasterName, secretPlaceholder } from "../plan/cluster";
import { renderSentinel } from "../render/redis-replication";
import { firewallStep } from "./host";
import type { StepPlanner } from "./plan";
import { redisPassword, redisReplicationStep, redisServers, sentinelPassword } from "./redis";
import { stepCommand } from "./script";
import { type CommandStep, privateIpOf } from "./step";

/**
 * A Sentinel on every Sentinel host, once the Redis servers replicate: a Sentinel that starts
 * watching a primary whose replicas are not attached yet would learn no replicas to fail over to.
 */

export const sentinelStep = (host: string) => `${host}-sentinel`;

export const sentinelSteps: StepPlanner = ({ topology }) => {
  const sentinels = topology.redis.sentinels;
  const servers = redisServers(topology);
  return sentinels.map((host, index): CommandStep => ({
    kind: "command",
    name: sentinelStep(host),
    owner: "provisioning",
    host,
    dependsOn: [firewallStep(host), ...servers.map(redisReplicationStep)],
    inputs: [...new Set([...servers, ...sentinels])].map(privateIpOf),
    reads: ["sentinelQuorum"],
    secrets: [redisPassword, sentinelPassword],
    renderer: "redis-replication",
    render: (at) => {
      const render = renderSentinel({
        sentinels: sentinels.map((sentinel) => ({ host: at.privateIp(sentinel) })),
        index,
        servers: servers.map((server) => ({ host: at.privateIp(server) })),
        masterName: redisMasterName,
        quorum: topology.redis.sentinelQuorum,
        bindAddresses: [loopback, at.privateIp(host)],
        password: secretPlaceholder(redisPassword),
        sentinelPassword: secretPlaceholder(sentinelPassword),
      });
      // Installed stopped: Debian's package would start a Sentinel watching 127.0.0.1 as mymaster.
      return { files: [render.seed], create: stepCommand(`apt_install_stopped redis-sentinel\n${render.step}`), stdin: render.seed.content };
    },
  }));
};
