import { type ClusterSecret, loopback, redisMasterName, secretPlaceholder, servesOtherHosts } from "../plan/cluster";
import { privatePorts } from "../plan/firewall";
import type { TopologyPlan } from "../plan/topology";
import { renderRedis } from "../render/redis";
import { renderRedisReplication } from "../render/redis-replication";
import { renderTemplate } from "../render/template";
import { firewallStep } from "./host";
import type { StepPlanner } from "./plan";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, factsOf, privateIpOf } from "./step";

/** Redis on every Redis host, with the cluster's Redis password; behind Sentinels, its replicas. */

export const redisStep = (host: string) => `${host}-redis`;
export const redisReplicationStep = (host: string) => `${host}-redis-replication`;

export const redisPassword: ClusterSecret = { kind: "redis" };
export const sentinelPassword: ClusterSecret = { kind: "sentinel" };
const password = redisPassword;

export const redisSteps: StepPlanner = (context) => [...serverSteps(context), ...replicationSteps(context.topology)];

/** The Redis hosts, the plan's primary first. */
export const redisServers = (topology: TopologyPlan) => [topology.redis.primary, ...topology.redis.replicas];

/**
 * Replication where Sentinels watch the servers. Every server is installed first, then the plan's
 * primary, then its replicas; after a failover the step asks the Sentinels whom to follow, so a
 * re-run points nothing back at the plan's primary.
 */
function replicationSteps(topology: TopologyPlan): CommandStep[] {
  const servers = redisServers(topology);
  if (topology.redis.sentinels.length === 0) return [];
  const sentinels = topology.redis.sentinels;
  return servers.map((host, index): CommandStep => ({
    kind: "command",
    name: redisReplicationStep(host),
    owner: "provisioning",
    host,
    dependsOn: [...servers.map(redisStep), ...(index === 0 ? [] : [redisReplicationStep(servers[0]!)])],
    // Sentinels on the Redis hosts (`sentinelHosts: redis`) are the same hosts: each address once.
    inputs: [...new Set([...servers, ...sentinels])].map(privateIpOf),
    reads: [],
    secrets: [password, sentinelPassword],
    renderer: "redis-replication",
    render: (at) => {
      const render = renderRedisReplication({
        servers: servers.map((server) => ({ host: at.privateIp(server) })),
        index,
        sentinels: sentinels.map((sentinel) => ({ host: at.privateIp(sentinel) })),
        masterName: redisMasterName,
        password: secretPlaceholder(password),
        sentinelPassword: secretPlaceholder(sentinelPassword),
      });
      return { files: [render.settings, render.secrets], create: stepCommand(render.step(putFiles)), stdin: render.stdin };
    },
  }));
}

const serverSteps: StepPlanner = ({ topology }) =>
  topology.hosts
    .filter((host) => host.roles.includes("redis"))
    .map((host): CommandStep => {
      const listensPrivately = servesOtherHosts(topology, host, "redis", privatePorts.redis);
      return {
        kind: "command",
        name: redisStep(host.name),
        owner: "provisioning",
        host: host.name,
        dependsOn: [firewallStep(host.name)],
        inputs: [factsOf(host.name), ...(listensPrivately ? [privateIpOf(host.name)] : [])],
        reads: [],
        secrets: [password],
        renderer: "redis",
        render: (at) => {
          const files = renderRedis({
            bindAddresses: listensPrivately ? [loopback, at.privateIp(host.name)] : [loopback],
            hostMemoryMb: at.facts(host.name).memoryMb,
            dedicated: host.roles.every((role) => role === "redis" || role === "sentinel"),
            password: secretPlaceholder(password),
          });
          const body = renderTemplate("provision/redis.sh", {
            settings: putFiles([files.settings]),
            settingsFile: files.settings.path,
            passwordFile: files.password.path,
          });
          return { files: [files.settings, files.password], create: stepCommand(body), stdin: files.password.content };
        },
      };
    });
