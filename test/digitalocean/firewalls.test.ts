import { beforeAll, describe, expect, it } from "vitest";
import { privatePorts } from "../../lib/plan/firewall";
import type { InfrastructureInput } from "../../lib/schema/infrastructure";
import { stackConfig } from "../phases/fixtures";
import { deploy, installMocks } from "../phases/mocks";

let phases: typeof import("../../components/phases");
beforeAll(async () => {
  await installMocks();
  phases = await import("../../components/phases");
});

const internet = ["0.0.0.0/0", "::/0"];
const cachePorts = new Set(Object.values(privatePorts).map(String));

/** Every phase and load balancer kind, at default, smallest and other sizes, with admin CIDRs that include the whole internet. */
const scenarios: InfrastructureInput[] = [
  { phase: "single" },
  { phase: "single", sizes: { web: "s-4vcpu-8gb" } },
  { phase: "four-server" },
  { phase: "four-server", sizes: { mysql: "s-2vcpu-4gb-amd", redis: "s-1vcpu-512mb-10gb" } },
  { phase: "horizontal", nodes: { web: 2, worker: 1 } },
  { phase: "horizontal", nodes: { web: 20 }, loadBalancer: { kind: "haproxy" } },
  { phase: "horizontal", sizes: { web: "g-2vcpu-8gb" }, adminCidrs: ["0.0.0.0/0", "::/0"] },
  { phase: "ha" },
  { phase: "ha", loadBalancer: { kind: "haproxy" }, nodes: { sentinels: 7, redisReplicas: 5, mysqlReplicas: 5 } },
  { phase: "ha", nodes: { web: 2, worker: 1, sentinels: 3 }, sizes: { sentinel: "s-1vcpu-1gb" }, adminCidrs: ["0.0.0.0/0"] },
];

describe("the firewall matrix, as rendered into Cloud Firewalls", () => {
  it.each(scenarios)("keeps MySQL, Redis and Sentinel off the internet: %j", async (infrastructure) => {
    // The token is needed only where two HAProxy droplets share a reserved IP; it opens no port.
    const run = await deploy(() =>
      phases.phaseComponent("megaweb", { config: stackConfig(infrastructure), sshPrivateKey: "KEY", reservedIpToken: "dop_v1_0123456789abcdef" }),
    );
    const firewalls = run.ofType("digitalocean:index/firewall:Firewall");
    expect(firewalls.length).toBeGreaterThan(1);
    for (const { name, inputs } of firewalls) {
      for (const rule of inputs.inboundRules) {
        if (cachePorts.has(rule.portRange)) {
          // Database and cache ports admit tagged droplets only: no address of any kind.
          expect(rule.sourceAddresses, `${name} port ${rule.portRange}`).toBeUndefined();
          expect(rule.sourceTags.length, `${name} port ${rule.portRange}`).toBeGreaterThan(0);
        }
        if (rule.portRange === "22") expect(rule.sourceAddresses).toEqual(stackConfig(infrastructure).adminCidrs);
        const open = (rule.sourceAddresses ?? []).some((address: string) => internet.includes(address));
        if (open && rule.portRange !== "22") {
          expect(["80", "443"]).toContain(rule.portRange);
          const facesInternet = infrastructure.phase === "single" || infrastructure.phase === "four-server" ? "megaweb-web" : "megaweb-loadbalancer";
          expect(name).toBe(facesInternet);
        }
      }
    }
    // Workers take nothing but SSH, which the cluster-wide firewall gives every droplet.
    expect(firewalls.map((each) => each.name)).not.toContain("megaweb-worker");
    expect(run.named("digitalocean:index/firewall:Firewall", "megaweb-all").inputs.tags).toEqual(["megaweb"]);
  });

  it("lets droplets reach apt, DNS and NTP: egress is open on the cluster-wide firewall", async () => {
    const run = await deploy(() => phases.phaseComponent("megaweb", { config: stackConfig({ phase: "single" }), sshPrivateKey: "KEY" }));
    expect(run.named("digitalocean:index/firewall:Firewall", "megaweb-all").inputs.outboundRules).toEqual([
      { protocol: "tcp", portRange: "1-65535", destinationAddresses: internet },
      { protocol: "udp", portRange: "1-65535", destinationAddresses: internet },
      { protocol: "icmp", destinationAddresses: internet },
    ]);
  });
});
