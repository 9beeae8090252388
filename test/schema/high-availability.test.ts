import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { reservedIpTokenProblems } from "../../lib/schema/high-availability";
import { Infrastructure } from "../../lib/schema/infrastructure";
import { megaweb } from "../cli/megaweb";
import { problems } from "./problems";

/**
 * Topologies that cannot deliver what their phase promises, refused with the field and the rule
 * before anything is created, by the program (parseStack) and by `megaweb validate`.
 */

const sites = [{ domain: "shop.example.com" }];
const host = (last: number) => ({ address: `198.18.0.${last}` });
const hosts = (roles: Record<string, number>, from = 2) => {
  let next = from;
  return Object.fromEntries(Object.entries(roles).map(([role, count]) => [role, Array.from({ length: count }, () => host(next++))]));
};
const haHosts = hosts({ web: 2, worker: 1, mysql: 3, redis: 3, sentinel: 3, loadbalancer: 2 });
const haExisting = { phase: "ha", target: "existing", nodes: { web: 2, worker: 1 }, hosts: haHosts, sites };

describe("the ha phase refuses topologies that cannot fail over", () => {
  it("refuses fewer than 3 Sentinels", () => {
    expect(problems({ phase: "ha", nodes: { sentinels: 1 }, sites })).toContain("nodes.sentinels: the ha phase needs at least 3 Sentinels, got 1");
  });

  it("refuses a Sentinel quorum above the number of Sentinels", () => {
    expect(problems({ phase: "ha", sentinelQuorum: 4, sites })).toEqual([
      "sentinelQuorum: 4 is more than the 3 Sentinels, so they could never agree the primary is down",
    ]);
    expect(problems({ phase: "ha", nodes: { sentinels: 5 }, sentinelQuorum: 4, sites })).toEqual([]);
  });

  it("refuses a quorum where there are no Sentinels, and one below 1", () => {
    expect(problems({ phase: "four-server", sentinelQuorum: 2, sites })).toEqual([
      "sentinelQuorum: the four-server phase has no Sentinels to agree on anything",
    ]);
    expect(problems({ phase: "ha", sentinelQuorum: 0, sites })).toEqual(["sentinelQuorum: 0 is below 1: some Sentinel must notice"]);
  });

  it("takes a majority of the Sentinels as the quorum unless told otherwise", () => {
    expect(Infrastructure.parse({ phase: "ha" }).sentinelQuorum).toBe(2);
    expect(Infrastructure.parse({ phase: "ha", nodes: { sentinels: 7 } }).sentinelQuorum).toBe(4);
    expect(Infrastructure.parse({ phase: "ha", nodes: { sentinels: 5 }, sentinelQuorum: 2 }).sentinelQuorum).toBe(2);
    expect(Infrastructure.parse({ phase: "four-server" }).sentinelQuorum).toBe(0);
  });

  it("refuses fewer than 2 MySQL replicas", () => {
    expect(problems({ phase: "ha", nodes: { mysqlReplicas: 1 }, sites })).toEqual(["nodes.mysqlReplicas: the ha phase needs at least 2 MySQL replicas, got 1"]);
  });

  it("refuses fewer than 2 load balancers", () => {
    const one = { ...haExisting, loadBalancer: { virtualAddress: "198.18.0.50/24" }, hosts: { ...haHosts, loadbalancer: [host(40)] } };
    expect(problems(one)).toEqual(["hosts.loadbalancer: the ha phase needs 2 loadbalancer hosts with these nodes, got 1"]);
  });

  it("refuses fewer than 2 web nodes behind a load balancer", () => {
    expect(problems({ phase: "horizontal", nodes: { web: 1 }, sites })).toEqual(["nodes.web: the horizontal phase needs at least 2 web nodes, got 1"]);
    expect(problems({ phase: "ha", nodes: { web: 1 }, sites })).toEqual(["nodes.web: the ha phase needs at least 2 web nodes, got 1"]);
  });
});

describe("Sentinels on the Redis hosts (sentinelHosts: redis)", () => {
  it("refuses more Sentinels than Redis hosts, naming the field and the rule", () => {
    expect(problems({ phase: "ha", sentinelHosts: "redis", nodes: { sentinels: 5 }, sites })).toEqual([
      'sentinelHosts: "redis" runs each Sentinel beside a Redis server, and the 5 Sentinels outnumber the 3 Redis hosts; use "own", more nodes.redisReplicas or fewer nodes.sentinels',
    ]);
    expect(problems({ phase: "ha", sentinelHosts: "redis", nodes: { redisReplicas: 1 }, sites })).toEqual([
      'sentinelHosts: "redis" runs each Sentinel beside a Redis server, and the 3 Sentinels outnumber the 2 Redis hosts; use "own", more nodes.redisReplicas or fewer nodes.sentinels',
    ]);
    expect(problems({ phase: "ha", sentinelHosts: "redis", nodes: { redisReplicas: 4, sentinels: 5 }, sites })).toEqual([]);
  });

  it("refuses a value other than own or redis", () => {
    expect(problems({ phase: "ha", sentinelHosts: "web", sites })).toEqual(['sentinelHosts: Invalid option: expected one of "own"|"redis"']);
  });

  it("takes no sentinel hosts on existing hosts, and refuses them when given", () => {
    const { sentinel, ...withoutSentinelHosts } = haHosts;
    const shared = { ...haExisting, sentinelHosts: "redis", hosts: withoutSentinelHosts, loadBalancer: { virtualAddress: "198.18.0.50/24" } };
    expect(problems(shared)).toEqual([]);
    expect(problems({ ...shared, hosts: { ...withoutSentinelHosts, sentinel } })).toEqual([
      "hosts.sentinel: the ha phase needs 0 sentinel hosts with these nodes, got 3",
    ]);
  });
});

describe("the address the load balancers share on existing hosts", () => {
  it("is required, and accepted inside the load balancers' private network", () => {
    expect(problems(haExisting)).toEqual([
      "loadBalancer.virtualAddress: the ha phase on existing hosts needs the address keepalived moves between the two load balancers (like 198.18.0.50/24)",
    ]);
    expect(problems({ ...haExisting, loadBalancer: { virtualAddress: "198.18.0.50/24" } })).toEqual([]);
  });

  it("is refused outside the private network, naming the host it cannot reach", () => {
    expect(problems({ ...haExisting, loadBalancer: { virtualAddress: "203.0.113.50/24" } })).toEqual([
      'loadBalancer.virtualAddress: "203.0.113.50/24" is outside the private network of hosts.loadbalancer[0] (198.18.0.14), so keepalived could not move it there',
      'loadBalancer.virtualAddress: "203.0.113.50/24" is outside the private network of hosts.loadbalancer[1] (198.18.0.15), so keepalived could not move it there',
    ]);
    const privateAddresses = {
      ...haHosts,
      loadbalancer: [
        { address: "203.0.113.7", privateAddress: "10.20.0.2" },
        { address: "203.0.113.8", privateAddress: "10.20.1.3" },
      ],
    };
    expect(problems({ ...haExisting, hosts: privateAddresses, loadBalancer: { virtualAddress: "10.20.0.50/24" } })).toEqual([
      'loadBalancer.virtualAddress: "10.20.0.50/24" is outside the private network of hosts.loadbalancer[1] (10.20.1.3), so keepalived could not move it there',
    ]);
  });

  it("is refused when it is a host's own, the network's or the broadcast address, or not an address", () => {
    expect(problems({ ...haExisting, loadBalancer: { virtualAddress: "198.18.0.14/24" } })).toEqual([
      'loadBalancer.virtualAddress: "198.18.0.14/24" is the address of hosts.loadbalancer[0]',
    ]);
    expect(problems({ ...haExisting, loadBalancer: { virtualAddress: "198.18.0.255/24" } })).toEqual([
      'loadBalancer.virtualAddress: "198.18.0.255/24" is the network\'s own or broadcast address, which no host can hold',
    ]);
    expect(problems({ ...haExisting, loadBalancer: { virtualAddress: "198.18.0.50" } })).toEqual([
      'loadBalancer.virtualAddress: "198.18.0.50" is not an IPv4 address with its network\'s prefix length (like 198.18.0.50/24)',
    ]);
  });

  it("is refused where the phase has no pair, and on DigitalOcean, which uses a reserved IP", () => {
    expect(problems({ phase: "horizontal", loadBalancer: { kind: "haproxy", virtualAddress: "10.20.0.50/24" }, sites })).toEqual([
      "loadBalancer.virtualAddress: only the ha phase has a pair of load balancers to share an address",
    ]);
    expect(problems({ phase: "ha", loadBalancer: { kind: "haproxy", virtualAddress: "10.20.0.50/24" }, sites })).toEqual([
      "loadBalancer.virtualAddress: on digitalocean the load balancers share a reserved IP the stack creates; a virtual address is for existing hosts",
    ]);
  });
});

describe("megaweb validate", () => {
  const scratch = mkdtempSync(join(tmpdir(), "megaweb-ha-validate-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("prints the same lines for an ha stack file that cannot fail over, and exits 1", async () => {
    const file = join(scratch, "Pulumi.thin.yaml");
    writeFileSync(
      file,
      [
        "config:",
        "  megaweb:phase: ha",
        "  megaweb:sshPublicKeys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMegawebTestKeyOnly ci]",
        "  megaweb:adminCidrs: [198.51.100.0/24]",
        "  megaweb:nodes: { mysqlReplicas: 1, sentinels: 3 }",
        "  megaweb:sentinelQuorum: 5",
        "  megaweb:sites:",
        "    - domain: shop.example.com",
        "",
      ].join("\n"),
    );
    const result = await megaweb("validate", file);
    expect(result).toMatchObject({
      code: 1,
      err: [
        "nodes.mysqlReplicas: the ha phase needs at least 2 MySQL replicas, got 1",
        "sentinelQuorum: 5 is more than the 3 Sentinels, so they could never agree the primary is down",
      ],
    });
  });
});

describe("the reserved IP's token (megaweb:reservedIpToken)", () => {
  it("is required, naming the command that sets it", () => {
    expect(reservedIpTokenProblems(undefined)).toEqual([
      {
        path: ["reservedIpToken"],
        message:
          "is required when two HAProxy droplets share a reserved IP (pulumi config set --secret megaweb:reservedIpToken, a token scoped to reserved_ip:update)",
      },
    ]);
  });

  it("refuses a character the hook's curl config would read as syntax", () => {
    expect(reservedIpTokenProblems('dop_v1_abc"def')).toEqual([
      { path: ["reservedIpToken"], message: "may hold only letters, digits and _ (like a DigitalOcean token, dop_v1_…)" },
    ]);
    expect(reservedIpTokenProblems("dop_v1_0123456789abcdef")).toEqual([]);
  });
});

describe("the current MySQL primary (mysqlPrimary)", () => {
  it("names one of the plan's MySQL hosts", () => {
    expect(problems({ phase: "ha", mysqlPrimary: "mysql-2" })).toEqual([]);
    expect(problems({ phase: "ha", mysqlPrimary: "mysql-4" })).toEqual(['mysqlPrimary: "mysql-4" is not a MySQL host of the plan (mysql-1, mysql-2, mysql-3)']);
    expect(problems({ phase: "ha", mysqlPrimary: "redis-1" })).toEqual(['mysqlPrimary: "redis-1" is not a MySQL host of the plan (mysql-1, mysql-2, mysql-3)']);
    expect(problems({ phase: "four-server", mysqlPrimary: "mysql-2" })).toEqual(['mysqlPrimary: "mysql-2" is not a MySQL host of the plan (mysql-1)']);
    expect(problems({ phase: "single", mysqlPrimary: "mysql-1" })).toEqual(['mysqlPrimary: "mysql-1" is not a MySQL host of the plan (web-1)']);
  });
});
