import { describe, expect, it } from "vitest";
import { firewallMatrix } from "../../lib/plan/firewall";
import { balancerHealthChecks } from "../../lib/render/balanced-web";
import { balancerAgentPort, renderBalancerAgent, webBackendNames } from "../../lib/render/balancer-agent";
import { resolveWebHost } from "../../lib/render/context";
import { renderWebBackends } from "../../lib/render/haproxy-backends";
import { parseStack } from "../../lib/schema/stack";

/**
 * A web node's agent for HAProxy and `megaweb-drain`: what the balancers ask, where, and who may.
 * test/balancer/balanced-web.test.ts drains a node through the real HAProxy.
 */

const stack = parseStack({ sites: [{ domain: "shop.example.com" }] });
const { host, sites } = resolveWebHost(stack.sites, { name: "web-2", memoryMb: 2048, roles: ["web"] });
const checks = balancerHealthChecks({ host, sites });
const render = renderBalancerAgent({ host, balancers: ["10.20.0.2", "10.20.0.3"], checks });
const file = (suffix: string) => render.files.find((candidate) => candidate.path.endsWith(suffix))!.content;

describe("a web node's balancer agent", () => {
  it("listens on the agent port for the balancers only, one answer per connection", () => {
    const socket = file("/megaweb-balancer-agent.socket");
    expect(socket).toContain(`ListenStream=${balancerAgentPort}\n`);
    expect(socket).toContain("Accept=yes\n");
    expect(socket.match(/^IPAddress(Allow|Deny)=.*$/gm)).toEqual(["IPAddressDeny=any", "IPAddressAllow=10.20.0.2", "IPAddressAllow=10.20.0.3"]);
    expect(file("/megaweb-balancer-agent@.service")).toContain("ExecStart=/usr/local/sbin/megaweb-balancer-agent\n");
  });

  it("has megaweb-drain wait for every backend of every balancer, and check the node as the balancers do", () => {
    const drain = file("/megaweb-drain");
    expect(drain).toContain("balancers=(10.20.0.2 10.20.0.3)\n");
    expect(drain).toContain(`backends=(${webBackendNames.join(" ")})\n`);
    expect(drain).toContain(`checks=(${checks.map((check) => check.path).join(" ")})\n`);
    expect(drain).toContain("http://127.0.0.1:80$path");
  });

  it("is what both web backends of haproxy.cfg ask, each naming itself first", () => {
    const backends = renderWebBackends({ servers: [{ name: "web-1", address: "10.20.0.4" }], checks });
    const sent = [...backends.matchAll(/agent-check agent-port (\d+) agent-inter \d+ms agent-send "(\w+)\\n"/g)].map((match) => [Number(match[1]), match[2]]);
    expect(sent).toEqual(webBackendNames.map((name) => [balancerAgentPort, name]));
  });

  it("is reached through the firewall from the HAProxy balancers only", () => {
    const agentRules = (balancer: "haproxy" | "digitalocean" | undefined) =>
      firewallMatrix(new Set(["web", "loadbalancer", "mysql", "redis", "worker"]), balancer).filter((rule) => rule.port === balancerAgentPort);
    expect(agentRules("haproxy")).toEqual([expect.objectContaining({ role: "web", sources: [{ kind: "role", role: "loadbalancer" }] })]);
    expect(agentRules("digitalocean")).toEqual([]);
    expect(agentRules(undefined)).toEqual([]);
  });
});
