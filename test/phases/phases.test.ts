import { haOnExistingHosts } from "../fixtures/existing-hosts";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import type { PhaseComponent } from "../../components/phases";
import { sizeMemoryMb } from "../../lib/plan/droplet-sizes";
import type { InfrastructureInput } from "../../lib/schema/infrastructure";
import { bootstrapKey, stackConfig } from "./fixtures";
import { type Deployment, deploy, installMocks, valueOf } from "./mocks";

let phases: typeof import("../../components/phases");
beforeAll(async () => {
  await installMocks();
  phases = await import("../../components/phases");
});

const droplet = "digitalocean:index/droplet:Droplet";
const loadBalancer = "digitalocean:index/loadBalancer:LoadBalancer";
const reservedIp = "digitalocean:index/reservedIp:ReservedIp";
const reservedIpAssignment = "digitalocean:index/reservedIpAssignment:ReservedIpAssignment";
const firewall = "digitalocean:index/firewall:Firewall";
const vpc = "digitalocean:index/vpc:Vpc";
const project = "digitalocean:index/project:Project";

const reservedIpToken = "dop_v1_0123456789abcdef0123456789abcdef";

async function deployPhase(infrastructure: InfrastructureInput, sites?: readonly unknown[]): Promise<{ run: Deployment; phase: PhaseComponent }> {
  let phase: PhaseComponent | undefined;
  const run = await deploy(() => {
    phase = phases.phaseComponent("megaweb", {
      config: stackConfig(infrastructure, sites),
      sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----",
      reservedIpToken: pulumi.secret(reservedIpToken),
    });
  });
  return { run, phase: phase! };
}

const dropletsBySize = (run: Deployment) => Object.fromEntries(run.ofType(droplet).map((each) => [each.name.replace("megaweb-", ""), each.inputs.size]));
/** Firewalls, load balancers and reserved IPs take the numeric form of a droplet's id. */
const dropletIdOf = (run: Deployment, host: string) => Number(run.named(droplet, `megaweb-${host}`).id);

describe("refusals before any resource", () => {
  it("refuses a DigitalOcean phase nobody could SSH into, naming both settings, and creates nothing", async () => {
    let thrown: unknown;
    const run = await deploy(() => {
      try {
        phases.phaseComponent("megaweb", { config: stackConfig({ phase: "four-server", sshPublicKeys: [], adminCidrs: [] }), sshPrivateKey: "key" });
      } catch (error) {
        thrown = error;
      }
    });
    expect((thrown as Error).message).toBe(
      "sshPublicKeys: at least one key is needed on digitalocean; the first goes onto new droplets and must match megaweb:sshPrivateKey\n" +
        "adminCidrs: at least one CIDR is needed on digitalocean: SSH is closed to all others and provisioning connects over SSH",
    );
    expect(run.ofType(droplet)).toHaveLength(0);
    expect(run.ofType(vpc)).toHaveLength(0);
  });
});

describe("per-phase topology on DigitalOcean", () => {
  it("single: one droplet in the VPC carrying every role's tag, the endpoint is its public IP", async () => {
    const { run, phase } = await deployPhase({ phase: "single" });
    expect(dropletsBySize(run)).toEqual({ "web-1": "s-1vcpu-2gb" });
    const web = run.named(droplet, "megaweb-web-1").inputs;
    expect(web).toMatchObject({ region: "nyc3", image: "debian-12-x64", vpcUuid: "vpc-megaweb-vpc", monitoring: true, name: "megaweb-web-1" });
    expect(web.tags).toEqual(["megaweb", "megaweb-web", "megaweb-mysql", "megaweb-redis", "megaweb-worker", "megaweb-monitoring"]);
    expect(web.userData).toBeUndefined();
    expect(run.ofType(loadBalancer)).toHaveLength(0);
    expect(run.ofType(reservedIp)).toHaveLength(0);
    expect(await valueOf(phase.endpoint)).toBe((await valueOf(phase.addresses))["web-1"]!.publicIp);
    expect(phase.hosts.map((host) => [host.name, host.roles])).toEqual([["web-1", ["web", "mysql", "redis", "worker", "monitoring"]]]);
  });

  it("four-server: web, Redis, MySQL and worker droplets at the guide's roles, all in one VPC", async () => {
    const { run, phase } = await deployPhase({ phase: "four-server" });
    expect(dropletsBySize(run)).toEqual({
      "web-1": "s-1vcpu-2gb",
      "redis-1": "s-1vcpu-1gb",
      "mysql-1": "s-1vcpu-2gb",
      "worker-1": "s-1vcpu-512mb-10gb",
    });
    expect(new Set(run.ofType(droplet).map((each) => each.inputs.vpcUuid))).toEqual(new Set(["vpc-megaweb-vpc"]));
    expect(new Set(run.ofType(droplet).map((each) => each.inputs.region))).toEqual(new Set(["nyc3"]));
    expect(run.ofType(vpc)).toHaveLength(1);
    expect(await valueOf(phase.endpoint)).toBe((await valueOf(phase.addresses))["web-1"]!.publicIp);
  });

  it("horizontal: a DigitalOcean load balancer targets exactly the web droplets and checks the health path", async () => {
    const { run, phase } = await deployPhase({ phase: "horizontal", healthPath: "/up", region: "fra1" });
    expect(Object.keys(dropletsBySize(run)).sort()).toEqual(["mysql-1", "redis-1", "web-1", "web-2", "web-3", "worker-1", "worker-2", "worker-3"]);
    expect(dropletsBySize(run)["mysql-1"]).toBe("s-2vcpu-4gb");
    expect(new Set(run.ofType(droplet).map((each) => each.inputs.region))).toEqual(new Set(["fra1"]));
    const [balancer] = run.ofType(loadBalancer);
    expect(balancer!.inputs).toMatchObject({ region: "fra1", vpcUuid: "vpc-megaweb-vpc", healthcheck: { protocol: "http", port: 80, path: "/up" } });
    expect(balancer!.inputs.dropletIds).toEqual(["web-1", "web-2", "web-3"].map((host) => dropletIdOf(run, host)));
    expect(balancer!.inputs.forwardingRules).toEqual([
      { entryProtocol: "http", entryPort: 80, targetProtocol: "http", targetPort: 80 },
      { entryProtocol: "https", entryPort: 443, targetProtocol: "https", targetPort: 443, tlsPassthrough: true },
    ]);
    expect(await valueOf(phase.endpoint)).toBe("203.0.113.10");
    const web = run.named(firewall, "megaweb-web").inputs;
    expect(web.inboundRules).toEqual([
      { protocol: "tcp", portRange: "80", sourceLoadBalancerUids: ["lb-megaweb-lb"] },
      { protocol: "tcp", portRange: "443", sourceLoadBalancerUids: ["lb-megaweb-lb"] },
      // The exporters answer to the monitoring host (the first worker) alone.
      { protocol: "tcp", portRange: "9113", sourceTags: ["megaweb-monitoring"] },
      { protocol: "tcp", portRange: "3903", sourceTags: ["megaweb-monitoring"] },
      { protocol: "tcp", portRange: "9115", sourceTags: ["megaweb-monitoring"] },
    ]);
    expect(run.named(project, "megaweb").inputs.resources).toContain("do:loadbalancer:lb-megaweb-lb");
  });

  it("horizontal with haproxy: one HAProxy droplet holds a reserved IP, which is the endpoint", async () => {
    const { run, phase } = await deployPhase({ phase: "horizontal", loadBalancer: { kind: "haproxy" } });
    expect(run.ofType(loadBalancer)).toHaveLength(0);
    expect(dropletsBySize(run)["loadbalancer-1"]).toBe("s-1vcpu-1gb");
    expect(run.ofType(reservedIp).map((each) => each.inputs)).toEqual([{ region: "nyc3" }]);
    expect(run.ofType(reservedIpAssignment).map((each) => each.inputs)).toEqual([{ ipAddress: "203.0.113.20", dropletId: dropletIdOf(run, "loadbalancer-1") }]);
    expect(await valueOf(phase.endpoint)).toBe("203.0.113.20");
    expect(run.named(firewall, "megaweb-web").inputs.inboundRules[0]).toEqual({ protocol: "tcp", portRange: "80", sourceTags: ["megaweb-loadbalancer"] });
    expect(run.named(firewall, "megaweb-loadbalancer").inputs.inboundRules).toEqual([
      { protocol: "tcp", portRange: "80", sourceAddresses: ["0.0.0.0/0", "::/0"] },
      { protocol: "tcp", portRange: "443", sourceAddresses: ["0.0.0.0/0", "::/0"] },
    ]);
    expect(run.named(project, "megaweb").inputs.resources).toContain("do:floatingip:203.0.113.20");
  });

  it("ha: 5 web, Redis primary + 2 replicas with 3 Sentinels, MySQL primary + 2 replicas, 5 workers", async () => {
    const { run, phase } = await deployPhase({ phase: "ha" });
    const count = (role: string) => run.ofType(droplet).filter((each) => each.name.startsWith(`megaweb-${role}-`)).length;
    expect([count("web"), count("redis"), count("sentinel"), count("mysql"), count("worker"), count("loadbalancer")]).toEqual([5, 3, 3, 3, 5, 0]);
    expect(phase.plan.redis).toEqual({
      primary: "redis-1",
      replicas: ["redis-2", "redis-3"],
      sentinels: ["sentinel-1", "sentinel-2", "sentinel-3"],
      sentinelQuorum: 2,
    });
    expect(phase.plan.mysql).toEqual({ primary: "mysql-1", replicas: ["mysql-2", "mysql-3"] });
    expect(phase.plan.hosts.filter((host) => host.mysql).map((host) => host.mysql)).toEqual(["primary", "replica", "replica"]);
    expect(run.ofType(loadBalancer)[0]!.inputs.dropletIds).toHaveLength(5);
    // Redis servers ask the Sentinels which server is the primary before they follow one.
    expect(run.named(firewall, "megaweb-sentinel").inputs.inboundRules).toEqual([
      { protocol: "tcp", portRange: "26379", sourceTags: ["megaweb-web", "megaweb-worker", "megaweb-redis", "megaweb-sentinel"] },
      { protocol: "tcp", portRange: "9121", sourceTags: ["megaweb-monitoring"] },
    ]);
  });

  it("ha with haproxy: two HAProxy droplets share one reserved IP, assigned to the first", async () => {
    const { run, phase } = await deployPhase({ phase: "ha", loadBalancer: { kind: "haproxy" }, nodes: { sentinels: 5, redisReplicas: 1 } });
    expect(
      run
        .ofType(droplet)
        .filter((each) => each.name.startsWith("megaweb-loadbalancer-"))
        .map((each) => each.name),
    ).toEqual(["megaweb-loadbalancer-1", "megaweb-loadbalancer-2"]);
    expect(run.ofType(reservedIp)).toHaveLength(1);
    expect(run.ofType(reservedIpAssignment)[0]!.inputs.dropletId).toBe(dropletIdOf(run, "loadbalancer-1"));
    expect(phase.plan.redis.sentinels).toHaveLength(5);
    expect(phase.plan.redis.sentinelQuorum).toBe(3);
    expect(phase.plan.redis.replicas).toEqual(["redis-2"]);
  });

  it("ha with haproxy: keepalived on each droplet moves the reserved IP to that droplet, the token only on a secret stdin", async () => {
    const { run } = await deployPhase({ phase: "ha", loadBalancer: { kind: "haproxy" } });
    const commands = run.ofType("command:remote:Command");
    const stepOf = (name: string) => commands.find((each) => each.name === `megaweb-provisioning-${name}`) ?? expect.fail(`no step ${name}`);
    const plain = (value: any): string => String(value?.value ?? value ?? "");
    for (const host of ["loadbalancer-1", "loadbalancer-2"]) {
      const keepalived = stepOf(`${host}-keepalived`).inputs;
      expect(keepalived.create).toContain(`reserved_ip=203.0.113.20\ndroplet_id=${dropletIdOf(run, host)}\n`);
      expect(keepalived.stdin).toBeUndefined();
      const token = stepOf(`${host}-reserved-ip-token`).inputs;
      expect(plain(token.stdin)).toBe(`${reservedIpToken}\n`);
      expect(token.logging).toBe("none");
    }
    for (const each of commands) for (const field of ["create", "delete"]) expect(String(each.inputs[field] ?? "")).not.toContain(reservedIpToken);
  });

  it("ha with haproxy: refuses to start without the reserved IP's token, before any droplet", async () => {
    let thrown: unknown;
    const run = await deploy(() => {
      try {
        phases.phaseComponent("megaweb", { config: stackConfig({ phase: "ha", loadBalancer: { kind: "haproxy" } }), sshPrivateKey: "key" });
      } catch (error) {
        thrown = error;
      }
    });
    expect((thrown as Error).message).toBe("two HAProxy droplets share a reserved IP but no reservedIpToken was given (megaweb:reservedIpToken)");
    expect(run.ofType(droplet)).toHaveLength(0);
  });

  it("outputs every host's public and private IP and the cost with a per-droplet breakdown", async () => {
    const { phase } = await deployPhase({ phase: "four-server" });
    const addresses = await valueOf(phase.addresses);
    expect(Object.keys(addresses)).toEqual(["web-1", "redis-1", "mysql-1", "worker-1"]);
    for (const { publicIp, privateIp } of Object.values(addresses)) {
      expect(publicIp).toMatch(/^198\.51\.100\.\d+$/);
      expect(privateIp).toMatch(/^10\.10\.0\.\d+$/);
    }
    expect(phase.monthlyCost.lines.map((line) => [line.item, line.monthly])).toEqual([
      ["web-1", 12],
      ["redis-1", 6],
      ["mysql-1", 12],
      ["worker-1", 4],
    ]);
    expect(phase.monthlyCost.monthlyTotal).toBe(34);
  });

  it("gives provisioning connections whose private key is a secret", async () => {
    const { phase } = await deployPhase({ phase: "single" });
    const key = phase.hosts[0]!.connection.privateKey as pulumi.Output<string>;
    expect(await pulumi.isSecret(key)).toBe(true);
    expect(phase.hosts[0]!.server).toBeDefined();
  });

  it("installs only the bootstrap key, puts the project around every droplet, and applies a droplet transform", async () => {
    let phase: PhaseComponent | undefined;
    const run = await deploy(() => {
      phase = phases.phaseComponent("megaweb", {
        config: stackConfig({ phase: "four-server", sshPublicKeys: [bootstrapKey, "ssh-rsa AAAAB3Nza second@example"] }),
        sshPrivateKey: "KEY",
        transform: { droplet: (args, host) => ({ ...args, backups: host.roles.includes("mysql") }) },
      });
    });
    expect(run.ofType("digitalocean:index/sshKey:SshKey").map((each) => each.inputs.publicKey)).toEqual([bootstrapKey]);
    expect(run.named(droplet, "megaweb-mysql-1").inputs.backups).toBe(true);
    expect(run.named(droplet, "megaweb-web-1").inputs.backups).toBe(false);
    expect(run.named(project, "megaweb").inputs).toMatchObject({ name: "megaweb", environment: "Production" });
    expect(run.named(project, "megaweb").inputs.resources).toHaveLength(4);
    expect(phase!.plan.phase).toBe("four-server");
  });
});

describe("transform hooks", () => {
  it("let a user adjust the load balancer and a role's firewall", async () => {
    const run = await deploy(() =>
      phases.phaseComponent("megaweb", {
        config: stackConfig({ phase: "horizontal" }),
        sshPrivateKey: "KEY",
        transform: {
          loadBalancer: (args) => ({ ...args, stickySessions: { type: "cookies", cookieName: "lb", cookieTtlSeconds: 300 } }),
          firewall: (args, role) => (role === "mysql" ? { ...args, name: "megaweb-db" } : args),
        },
      }),
    );
    expect(run.ofType(loadBalancer)[0]!.inputs.stickySessions).toEqual({ type: "cookies", cookieName: "lb", cookieTtlSeconds: 300 });
    expect(run.named(firewall, "megaweb-mysql").inputs.name).toBe("megaweb-db");
    expect(run.named(firewall, "megaweb-redis").inputs.name).toBe("megaweb-redis");
  });
});

describe("existing hosts", () => {
  const hosts = {
    web: [{ address: "198.18.0.2" }, { address: "198.18.0.3", privateAddress: "10.0.0.3", port: 2222, user: "deploy" }],
    redis: [{ address: "198.18.0.4" }],
    mysql: [{ address: "198.18.0.5" }],
    worker: [{ address: "198.18.0.6" }],
    loadbalancer: [{ address: "198.18.0.7" }],
  };

  it("creates no cloud resource and maps the listed servers onto the plan's hosts", async () => {
    const { run, phase } = await deployPhase({ phase: "horizontal", target: "existing", nodes: { web: 2, worker: 1 }, hosts });
    expect(run.registrations.filter((each) => each.type.startsWith("digitalocean:"))).toEqual([]);
    expect(phase.hosts.map((host) => [host.name, host.publicIp, host.privateIp])).toEqual([
      ["loadbalancer-1", "198.18.0.7", "198.18.0.7"],
      ["web-1", "198.18.0.2", "198.18.0.2"],
      ["web-2", "198.18.0.3", "10.0.0.3"],
      ["redis-1", "198.18.0.4", "198.18.0.4"],
      ["mysql-1", "198.18.0.5", "198.18.0.5"],
      ["worker-1", "198.18.0.6", "198.18.0.6"],
    ]);
    expect(phase.hosts[2]!.connection).toMatchObject({ host: "198.18.0.3", port: 2222, user: "deploy" });
    expect(phase.hosts[2]!.server).toBeUndefined();
    expect(await valueOf(phase.endpoint)).toBe("198.18.0.7");
    expect(phase.monthlyCost.monthlyTotal).toBe(0);
  });

  it("gives the balancer pair's shared address as the endpoint of ha, not either balancer's own", async () => {
    const { phase } = await deployPhase(haOnExistingHosts);
    expect(await valueOf(phase.endpoint)).toBe("198.18.0.200");
  });
});

describe("changes that must not touch servers", () => {
  it("changing sites or the app's site leaves every droplet's inputs unchanged", async () => {
    const app = (port: number) => ({ domain: "orchestrator.example.com", kind: "proxy", proxy: { port } });
    const before = await deployPhase({ phase: "ha" }, [{ domain: "shop.example.com", phpVersion: "8.2" }, app(3000)]);
    const after = await deployPhase({ phase: "ha" }, [
      { domain: "shop.example.com", phpVersion: "8.3" },
      { domain: "blog.example.com", kind: "static" },
      app(3100),
    ]);
    const inputs = (run: Deployment) => run.ofType(droplet).map((each) => [each.name, each.inputs]);
    expect(inputs(after.run)).toHaveLength(19);
    expect(inputs(after.run)).toEqual(inputs(before.run));
    // The change does reach the servers, through provisioning steps only.
    const steps = (run: Deployment) => run.ofType("command:remote:Command").map((each) => JSON.stringify(each.inputs));
    expect(steps(after.run)).not.toEqual(steps(before.run));
  });

  it("growing from 3 to 5 web nodes leaves the first 3 unchanged", async () => {
    const three = await deployPhase({ phase: "horizontal", nodes: { web: 3 } });
    const five = await deployPhase({ phase: "horizontal", nodes: { web: 5 } });
    for (const name of ["megaweb-web-1", "megaweb-web-2", "megaweb-web-3"]) {
      const [a, b] = [three.run.named(droplet, name), five.run.named(droplet, name)];
      expect(b.inputs).toEqual(a.inputs);
      expect(b.urn).toBe(a.urn);
    }
    expect(five.run.ofType(droplet).filter((each) => each.name.startsWith("megaweb-web-"))).toHaveLength(5);
    // Firewalls select by tag, so a new node joins them without any firewall changing.
    expect(five.run.ofType(firewall).map((each) => each.inputs)).toEqual(three.run.ofType(firewall).map((each) => each.inputs));
  });

  it("single → four-server keeps the web droplet: same URN through the phase's alias, same inputs but its tags", async () => {
    const single = await deployPhase({ phase: "single" });
    const four = await deployPhase({ phase: "four-server" });
    const [before, after] = [single.run.named(droplet, "megaweb-web-1"), four.run.named(droplet, "megaweb-web-1")];
    // The engine gives each child the aliases of its parents, so a FourServer that aliases the
    // SingleBox type makes its web-1 answer to the URN the single box's web-1 had.
    const phaseComponent = four.run.named("megaweb:phases:FourServer", "megaweb");
    const inheritedUrns = phaseComponent.aliases.map((alias) => after.urn.replace("megaweb:phases:FourServer", String(alias.type)));
    expect(inheritedUrns).toContain(before.urn);
    expect(phaseComponent.aliases).toContainEqual(expect.objectContaining({ type: "megaweb:phases:SingleBox", name: "" }));
    const { tags: tagsBefore, ...restBefore } = before.inputs;
    const { tags: tagsAfter, ...restAfter } = after.inputs;
    expect(restAfter).toEqual(restBefore);
    expect(tagsAfter).toEqual(["megaweb", "megaweb-web"]);
    expect(tagsBefore).toContain("megaweb-mysql");
    expect(four.run.named(vpc, "megaweb-vpc").urn.replace("FourServer", "SingleBox")).toBe(single.run.named(vpc, "megaweb-vpc").urn);
  });
});

describe("growing through every phase", () => {
  it("keeps every droplet that stays, only ever resizing it up", async () => {
    const chain = ["single", "four-server", "horizontal", "ha"] as const;
    const runs = [];
    for (const phase of chain) runs.push((await deployPhase({ phase })).run);
    for (let step = 1; step < chain.length; step++) {
      const [before, after] = [runs[step - 1]!, runs[step]!];
      for (const kept of before.ofType(droplet)) {
        const grown = after.named(droplet, kept.name);
        expect(sizeMemoryMb(grown.inputs.size), `${kept.name} ${chain[step - 1]} → ${chain[step]}`).toBeGreaterThanOrEqual(sizeMemoryMb(kept.inputs.size));
        const { size: _sizeBefore, tags: _tagsBefore, ...restBefore } = kept.inputs;
        const { size: _sizeAfter, tags: _tagsAfter, ...restAfter } = grown.inputs;
        expect(restAfter).toEqual(restBefore);
      }
    }
  });
});

describe("misuse", () => {
  it("refuses a config whose phase is another component's", () => {
    expect(() => new phases.Horizontal("megaweb", { config: stackConfig({ phase: "ha" }), sshPrivateKey: "KEY" })).toThrow(
      "megaweb:phases:Horizontal builds the horizontal phase, but the config's phase is ha; use phaseComponent() to pick the class",
    );
  });

  it("refuses a DigitalOcean deployment nobody could SSH into", () => {
    const config = { ...stackConfig({ phase: "single" }), adminCidrs: [] };
    expect(() => new phases.SingleBox("megaweb", { config, sshPrivateKey: "KEY" })).toThrow(
      "adminCidrs: at least one CIDR is needed on digitalocean: SSH is closed to all others and provisioning connects over SSH",
    );
  });
});
