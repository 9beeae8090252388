import { describe, expect, it } from "vitest";
import type { Role } from "../../lib/schema/infrastructure";
import { priceTable, sizeMemoryMb } from "../../lib/plan/droplet-sizes";
import { privatePorts } from "../../lib/plan/firewall";
import { deploymentProblems, planTopology } from "../../lib/plan/topology";
import { Infrastructure, type InfrastructureInput, phases, phaseRules } from "../../lib/schema/infrastructure";

const deployable = { sshPublicKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnmPRvX2XbQ3RRkXhhD0yRSsOEv7Ba9rTfZrgqlIWcm ops"], adminCidrs: ["203.0.113.0/24"] };
const plan = (input: InfrastructureInput) => planTopology(Infrastructure.parse({ ...deployable, ...input }));

describe("monthly cost with default sizes", () => {
  it.each([
    ["single", undefined, 12],
    ["four-server", undefined, 34],
    ["horizontal", undefined, 102],
    ["horizontal", "haproxy", 96],
    ["ha", undefined, 294],
    ["ha", "haproxy", 294],
  ] as const)("%s with %s load balancer costs $%i a month", (phase, kind, total) => {
    const cost = plan({ phase, ...(kind && { loadBalancer: { kind } }) }).cost;
    expect(cost.monthlyTotal).toBe(total);
    expect(cost.lines.reduce((sum, line) => sum + (line.monthly ?? 0), 0)).toBe(total);
    expect(cost.pricesTakenOn).toBe(priceTable.takenOn);
    expect(cost.unpriced).toEqual([]);
  });

  it("breaks the cost down per droplet and lists the managed load balancer", () => {
    expect(plan({ phase: "horizontal" }).cost.lines).toEqual([
      ...["web-1", "web-2", "web-3"].map((item) => ({ item, size: "s-1vcpu-2gb", monthly: 12 })),
      { item: "redis-1", size: "s-1vcpu-2gb", monthly: 12 },
      { item: "mysql-1", size: "s-2vcpu-4gb", monthly: 24 },
      ...["worker-1", "worker-2", "worker-3"].map((item) => ({ item, size: "s-1vcpu-1gb", monthly: 6 })),
      { item: "load balancer", size: "lb-small (1 node)", monthly: 12 },
    ]);
  });

  it("leaves a size the table does not list out of the total, and says so", () => {
    const cost = plan({ phase: "four-server", sizes: { mysql: "m-2vcpu-16gb" } }).cost;
    expect(cost.unpriced).toEqual(["mysql-1 (m-2vcpu-16gb)"]);
    expect(cost.monthlyTotal).toBe(22);
  });

  it("prices existing hosts at nothing", () => {
    const hosts = { web: [{ address: "198.18.0.2" }] };
    expect(planTopology(Infrastructure.parse({ target: "existing", hosts })).cost).toMatchObject({ lines: [], monthlyTotal: 0 });
  });
});

describe("hosts and replication", () => {
  it("makes the single box the web node that also runs MySQL and Redis primaries and the worker", () => {
    const single = plan({ phase: "single" });
    expect(single.hosts).toEqual([
      {
        name: "web-1",
        plannedAs: "web",
        ordinal: 1,
        roles: ["web", "mysql", "redis", "worker"],
        size: "s-1vcpu-2gb",
        memoryMb: 2048,
        mysql: "primary",
        redis: "primary",
      },
    ]);
    expect(single.redis).toEqual({ primary: "web-1", replicas: [], sentinels: [], sentinelQuorum: 0 });
    expect(single.loadBalancer).toBeUndefined();
  });

  it("gives the load balancer the web hosts as backends and the health path", () => {
    expect(plan({ phase: "ha", healthPath: "/healthz", nodes: { web: 3 }, loadBalancer: { kind: "haproxy" } }).loadBalancer).toEqual({
      kind: "haproxy",
      nodes: ["loadbalancer-1", "loadbalancer-2"],
      backends: ["web-1", "web-2", "web-3"],
      healthCheck: { protocol: "http", port: 80, path: "/healthz" },
      reservedIp: true,
    });
  });

  it("runs the Sentinels beside the first Redis servers with sentinelHosts redis, on no host of their own", () => {
    const shared = plan({ phase: "ha", sentinelHosts: "redis", nodes: { redisReplicas: 3 } });
    expect(shared.hosts.filter((host) => host.roles.includes("redis") || host.roles.includes("sentinel"))).toEqual([
      ...[1, 2, 3].map((ordinal) => ({
        name: `redis-${ordinal}`,
        plannedAs: "redis",
        ordinal,
        roles: ["redis", "sentinel"],
        size: "s-1vcpu-2gb",
        memoryMb: 2048,
        redis: ordinal === 1 ? "primary" : "replica",
      })),
      { name: "redis-4", plannedAs: "redis", ordinal: 4, roles: ["redis"], size: "s-1vcpu-2gb", memoryMb: 2048, redis: "replica" },
    ]);
    expect(shared.redis).toEqual({
      primary: "redis-1",
      replicas: ["redis-2", "redis-3", "redis-4"],
      sentinels: ["redis-1", "redis-2", "redis-3"],
      sentinelQuorum: 2,
    });
    // The same firewall rows as with hosts of their own: Sentinel's port opens on the Redis hosts that run one.
    expect(shared.firewall).toEqual(plan({ phase: "ha" }).firewall);
    expect(
      plan({ phase: "ha" })
        .hosts.filter((host) => host.roles.includes("sentinel"))
        .map((host) => host.name),
    ).toEqual(["sentinel-1", "sentinel-2", "sentinel-3"]);
  });

  it("needs no reserved IP for HAProxy on existing hosts", () => {
    const hosts = {
      web: [{ address: "198.18.0.2" }, { address: "198.18.0.7" }],
      worker: [{ address: "198.18.0.3" }],
      redis: [{ address: "198.18.0.4" }],
      mysql: [{ address: "198.18.0.5" }],
      loadbalancer: [{ address: "198.18.0.6" }],
    };
    expect(planTopology(Infrastructure.parse({ phase: "horizontal", target: "existing", nodes: { web: 2, worker: 1 }, hosts })).loadBalancer?.reservedIp).toBe(
      false,
    );
  });
});

describe("the monitoring role as a property over phases", () => {
  it.each(phases.flatMap((phase) => [0, 1].map((backup) => [phase, backup] as const)))(
    "%s with %i backup host: Prometheus joins one host the plan already has, adding no host and no cost",
    (phase, backup) => {
      const unmonitored = plan({ phase, nodes: { backup } });
      const monitored = planTopology({ ...Infrastructure.parse({ ...deployable, phase, nodes: { backup } }), monitoring: { enabled: true } });
      expect(monitored.hosts.map((host) => host.name)).toEqual(unmonitored.hosts.map((host) => host.name));
      expect(monitored.cost.monthlyTotal).toBe(unmonitored.cost.monthlyTotal);
      const carriers = monitored.hosts.filter((host) => host.roles.includes("monitoring")).map((host) => host.name);
      expect(carriers).toEqual([monitored.monitoring]);
      // The single box monitors itself; larger phases put it on the first worker, never on the backup host.
      expect(monitored.monitoring).toBe(phase === "single" ? "web-1" : "worker-1");
    },
  );
});

describe("the firewall matrix as a property over phases, load balancers and counts", () => {
  const internetFacing = (phase: string): Role => (phase === "single" || phase === "four-server" ? "web" : "loadbalancer");
  const combinations = phases.flatMap((phase) =>
    (["digitalocean", "haproxy"] as const)
      .filter((kind) => phaseRules[phase].haproxyNodes > 0 || kind === "digitalocean")
      .flatMap((kind) =>
        [phaseRules[phase].counts.web.min, phaseRules[phase].counts.web.max].map((web) => ({
          phase,
          nodes: { web },
          ...(phaseRules[phase].haproxyNodes > 0 && { loadBalancer: { kind } }),
        })),
      ),
  );

  it.each(combinations)("%j: no database or cache port from the internet, HTTP only on the front, SSH only from admins", (input) => {
    const { firewall, hosts } = plan(input as InfrastructureInput);
    for (const rule of firewall) {
      const fromInternet = rule.sources.some((source) => source.kind === "internet");
      if (Object.values(privatePorts).includes(rule.port as never)) {
        expect(rule.sources.every((source) => source.kind === "role")).toBe(true);
      }
      if (fromInternet) {
        expect([80, 443]).toContain(rule.port);
        expect(rule.role).toBe(internetFacing(input.phase));
      }
      if (rule.port === 22) expect(rule.sources).toEqual([{ kind: "admin" }]);
      expect(rule.sources.length).toBeGreaterThan(0);
    }
    const present = new Set(hosts.flatMap((host) => host.roles));
    expect(firewall.filter((rule) => rule.role !== "all" && !present.has(rule.role))).toEqual([]);
    expect(firewall.filter((rule) => rule.role === "worker")).toEqual([]);
  });
});

describe("deployment needs", () => {
  it("plans a config without SSH access, and names both missing settings for DigitalOcean", () => {
    expect(planTopology(Infrastructure.parse({})).hosts.map((host) => host.name)).toEqual(["web-1"]);
    expect(deploymentProblems(Infrastructure.parse({}))).toEqual([
      { path: "sshPublicKeys", message: "at least one key is needed on digitalocean; the first goes onto new droplets and must match megaweb:sshPrivateKey" },
      { path: "adminCidrs", message: "at least one CIDR is needed on digitalocean: SSH is closed to all others and provisioning connects over SSH" },
    ]);
    expect(deploymentProblems(Infrastructure.parse({ target: "existing", hosts: { web: [{ address: "198.18.0.2" }] } }))).toEqual([]);
  });
});

describe("sizes to RAM", () => {
  it("reads the table, then the slug, and refuses a slug with no memory figure", () => {
    expect(sizeMemoryMb("s-1vcpu-512mb-10gb")).toBe(512);
    expect(sizeMemoryMb("c-2")).toBe(4096);
    expect(sizeMemoryMb("m3-2vcpu-16gb")).toBe(16384);
    expect(() => sizeMemoryMb("c-48")).toThrow('size "c-48" is not in the price table and its slug names no memory size');
  });
});
