import { describe, expect, it } from "vitest";
import { sizeMemoryMb } from "../../lib/plan/droplet-sizes";
import { Infrastructure, type InfrastructureInput, hostCountsPerRole } from "../../lib/schema/infrastructure";

/** Issues as `path: message` lines, the form users read. */
function problems(input: InfrastructureInput | Record<string, unknown>): string[] {
  const result = Infrastructure.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message));
}

describe("infrastructure schema: per-phase limits", () => {
  it("rejects zero web nodes in horizontal", () => {
    expect(problems({ phase: "horizontal", nodes: { web: 0 } })).toEqual(["nodes.web: the horizontal phase needs at least 2 web nodes, got 0"]);
  });

  it("rejects fewer than 3 Sentinels in ha", () => {
    expect(problems({ phase: "ha", nodes: { sentinels: 2 } })).toEqual(["nodes.sentinels: the ha phase needs at least 3 Sentinels, got 2"]);
  });

  it("rejects an even number of Sentinels", () => {
    expect(problems({ phase: "ha", nodes: { sentinels: 4 } })).toEqual([
      "nodes.sentinels: must be odd so a majority of Sentinels always agrees on a failover, got 4",
    ]);
  });

  it("rejects replicas above what the phase allows", () => {
    expect(problems({ phase: "horizontal", nodes: { mysqlReplicas: 2 } })).toEqual(["nodes.mysqlReplicas: the horizontal phase has no MySQL replicas, got 2"]);
    expect(problems({ phase: "ha", nodes: { redisReplicas: 6 } })).toEqual(["nodes.redisReplicas: the ha phase allows at most 5 Redis replicas, got 6"]);
  });

  it("rejects a second web node in the fixed phases", () => {
    expect(problems({ phase: "four-server", nodes: { web: 2 } })).toEqual(["nodes.web: the four-server phase allows at most 1 web node, got 2"]);
    expect(problems({ phase: "single", nodes: { worker: 1 } })).toEqual(["nodes.worker: the single phase has no worker nodes, got 1"]);
  });

  it("rejects a fractional or negative count", () => {
    expect(problems({ phase: "ha", nodes: { web: 2.5 } })).toEqual(["nodes.web: 2.5 is not a whole number"]);
    expect(problems({ phase: "ha", nodes: { web: -1 } })).toEqual(["nodes.web: -1 is negative"]);
  });

  it("rejects a load balancer where the phase has none, and DigitalOcean's on existing hosts", () => {
    expect(problems({ phase: "four-server", loadBalancer: { kind: "haproxy" } })).toEqual([
      "loadBalancer: the four-server phase has no load balancer (horizontal and ha have one)",
    ]);
    expect(problems({ phase: "single", target: "existing", hosts: { web: [{ address: "198.18.0.2" }] }, loadBalancer: { kind: "digitalocean" } })).toContain(
      'loadBalancer.kind: "digitalocean" needs the digitalocean target; existing hosts use "haproxy"',
    );
  });
});

describe("infrastructure schema: field formats", () => {
  it("rejects an unknown size slug format", () => {
    expect(problems({ sizes: { web: "large" } })).toEqual(['sizes.web: "large" is not a DigitalOcean size slug (like s-1vcpu-1gb)']);
    expect(problems({ sizes: { mysql: "S-1VCPU-1GB" } })).toEqual(['sizes.mysql: "S-1VCPU-1GB" is not a DigitalOcean size slug (like s-1vcpu-1gb)']);
  });

  it("rejects a size whose memory it cannot know", () => {
    expect(problems({ sizes: { redis: "c-48" } })).toEqual([
      'sizes.redis: "c-48" is not in the size table and names no memory size (use a slug like c2-4vcpu-8gb)',
    ]);
  });

  it("accepts sizes newer than the table when their slug names the memory", () => {
    expect(problems({ sizes: { web: "so1_5-2vcpu-16gb", mysql: "c2-4vcpu-8gb" } })).toEqual([]);
  });

  it("rejects a size for a role that does not exist", () => {
    expect(problems({ sizes: { cache: "s-1vcpu-1gb" } })).toEqual(['sizes: Unrecognized key: "cache"']);
  });

  it("rejects a public or oversized VPC range", () => {
    expect(problems({ vpc: { ipRange: "8.8.8.0/24" } })).toEqual(['vpc.ipRange: "8.8.8.0/24" is not a private (RFC 1918) IPv4 range from /16 to /28']);
    expect(problems({ vpc: { ipRange: "10.0.0.0/8" } })).toEqual(['vpc.ipRange: "10.0.0.0/8" is not a private (RFC 1918) IPv4 range from /16 to /28']);
    expect(problems({ vpc: { ipRange: "172.20.0.0/20" } })).toEqual([]);
  });

  it("rejects a health path that is not a plain absolute path", () => {
    expect(problems({ healthPath: "health" })).toEqual(['healthPath: "health" is not an absolute URL path (like /health)']);
    expect(problems({ healthPath: "/up\n    server evil 1.2.3.4:80" })).toHaveLength(1);
  });

  it("rejects a bad admin CIDR and a region that is not a slug", () => {
    expect(problems({ adminCidrs: ["203.0.113.0/33"], region: "New York" })).toEqual([
      'region: "New York" is not a DigitalOcean region slug (like nyc3)',
      'adminCidrs.0: "203.0.113.0/33" is not an IP address or CIDR',
    ]);
  });

  it("rejects unknown keys", () => {
    expect(problems({ webNodes: 3 })).toEqual(['Unrecognized key: "webNodes"']);
  });
});

describe("infrastructure schema: existing hosts", () => {
  it("needs exactly the hosts the topology has, per role", () => {
    expect(problems({ phase: "four-server", target: "existing", hosts: { web: [{ address: "198.18.0.2" }], mysql: [{ address: "198.18.0.3" }] } })).toEqual([
      "hosts.redis: the four-server phase needs 1 redis host with these nodes, got 0",
      "hosts.worker: the four-server phase needs 1 worker host with these nodes, got 0",
    ]);
  });

  it("counts hosts for the nodes asked for, HAProxy included", () => {
    expect(problems({ phase: "ha", target: "existing", nodes: { web: 2, worker: 1 }, loadBalancer: { virtualAddress: "198.18.0.50/24" }, hosts: {} })).toEqual([
      "hosts.web: the ha phase needs 2 web hosts with these nodes, got 0",
      "hosts.mysql: the ha phase needs 3 mysql hosts with these nodes, got 0",
      "hosts.redis: the ha phase needs 3 redis hosts with these nodes, got 0",
      "hosts.sentinel: the ha phase needs 3 sentinel hosts with these nodes, got 0",
      "hosts.worker: the ha phase needs 1 worker host with these nodes, got 0",
      "hosts.loadbalancer: the ha phase needs 2 loadbalancer hosts with these nodes, got 0",
    ]);
  });

  it("refuses hosts on the digitalocean target", () => {
    expect(problems({ hosts: { web: [{ address: "198.18.0.2" }] } })).toEqual(["hosts: only the existing target takes hosts; digitalocean creates droplets"]);
  });
});

describe("infrastructure schema: resolved defaults", () => {
  it("takes a config with nothing set as a single box on DigitalOcean", () => {
    const infrastructure = Infrastructure.parse({});
    expect(infrastructure).toMatchObject({ phase: "single", target: "digitalocean", region: "nyc3", healthPath: "/health", image: "debian-12-x64" });
    expect(infrastructure.nodes).toEqual({ web: 1, worker: 0, redisReplicas: 0, mysqlReplicas: 0, sentinels: 0, backup: 0 });
    expect(infrastructure.sizes.web).toBe("s-1vcpu-2gb");
  });

  it("fills each phase's counts, keeps the ones given, and picks the load balancer kind by target", () => {
    const ha = Infrastructure.parse({ phase: "ha", nodes: { web: 8 } });
    expect(ha.nodes).toEqual({ web: 8, worker: 5, redisReplicas: 2, mysqlReplicas: 2, sentinels: 3, backup: 0 });
    expect(hostCountsPerRole(ha)).toEqual({ web: 8, worker: 5, redis: 3, mysql: 3, sentinel: 3, loadbalancer: 0, backup: 0 });
    expect(ha.loadBalancer.kind).toBe("digitalocean");
    expect(hostCountsPerRole(Infrastructure.parse({ phase: "ha", loadBalancer: { kind: "haproxy" } })).loadbalancer).toBe(2);
  });

  it("gives every role a size that only grows from phase to phase", () => {
    const order = ["single", "four-server", "horizontal", "ha"] as const;
    const memory = (phase: (typeof order)[number], role: "web" | "mysql" | "redis" | "worker") => sizeMemoryMb(Infrastructure.parse({ phase }).sizes[role]);
    for (const role of ["web", "mysql", "redis", "worker"] as const) {
      const sizes = order.slice(1).map((phase) => memory(phase, role));
      expect(sizes, role).toEqual([...sizes].sort((a, b) => a - b));
    }
    expect(Infrastructure.parse({ phase: "single" }).sizes.web).toBe(Infrastructure.parse({ phase: "four-server" }).sizes.web);
  });
});
