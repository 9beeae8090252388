import { type ClusterSecret, loopback, secretPlaceholder, servesOtherHosts } from "../plan/cluster";
import { privatePorts } from "../plan/firewall";
import { renderRedis } from "../render/redis";
import { renderTemplate } from "../render/template";
import { firewallStep } from "./host";
import type { StepPlanner } from "./plan";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, factsOf, privateIpOf } from "./step";

/** Redis on every Redis host, with the cluster's Redis password. */

export const redisStep = (host: string) => `${host}-redis`;

const password: ClusterSecret = { kind: "redis" };

export const redisSteps: StepPlanner = ({ topology }) =>
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
