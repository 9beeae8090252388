import { existingHosts } from "../fixtures/existing-hosts";
import { describe, expect, it } from "vitest";
import { placeholderPattern, secretName, secretPlaceholder } from "../../lib/plan/cluster";
import { planTopology } from "../../lib/plan/topology";
import type { InfrastructureInput } from "../../lib/schema/infrastructure";
import { parseStack } from "../../lib/schema/stack";
import { filesPerHost, planSteps, type StepPlan } from "../../lib/steps/plan";
import { plannedFacts } from "../../lib/steps/planned-facts";
import type { PlannedStep } from "../../lib/steps/step";

/**
 * The step graph of each phase, from the plan alone: no Pulumi, no mocks. A step reads
 * `name ← what it waits for [secrets]`, with its host left out of its own name and its host's
 * steps it waits for.
 */

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnmPRvX2XbQ3RRkXhhD0yRSsOEv7Ba9rTfZrgqlIWcm ops@example";
const artifact = { path: "/srv/megaweb-orchestrator-0.1.0.tgz", version: "0.1.0", sha256: "ab".repeat(32), release: "0.1.0-abababababab" };
const shop = { domain: "shop.example.com", database: {}, php: { memoryLimit: "96M", extensions: ["mysql", "redis"] }, pool: { maxChildren: 4 } };
const blog = { domain: "blog.example.com", webServer: "apache", php: { memoryLimit: "96M" }, pool: { maxChildren: 2 } };
const files = { domain: "files.example.com", kind: "static" };

/** The graphs of the roles leave monitoring out unless asked: its steps are the subject of their own test. */
function plan(infrastructure: InfrastructureInput, sites: unknown[], app?: Record<string, unknown>, monitoring: unknown = { enabled: false }): StepPlan {
  const stack = parseStack({ sshPublicKeys: [key], adminCidrs: ["203.0.113.0/24"], ...infrastructure, sites, ...(app && { app }), monitoring });
  return planSteps(stack, planTopology(stack), { artifact });
}

/** Each host's steps as `name ← dependencies [secrets]`, in plan order. */
function graph(steps: StepPlan): Record<string, string[]> {
  const byHost: Record<string, string[]> = {};
  for (const step of steps.steps) {
    const local = (name: string) => (name.startsWith(`${step.host}-`) ? name.slice(step.host.length + 1) : name);
    const secrets = step.secrets.length > 0 ? ` [${step.secrets.map(secretName).join(", ")}]` : "";
    const owner = step.owner === "orchestrator" ? "app:" : "";
    (byHost[step.host] ??= []).push(`${owner}${local(step.name)} ← ${step.dependsOn.map(local).join(", ")}${secrets}`.replace(/ ← $/, ""));
  }
  return byHost;
}

const named = (steps: StepPlan, name: string): PlannedStep => steps.steps.find((step) => step.name === name) ?? expect.fail(`no step ${name}`);
const rendered = (steps: StepPlan, name: string) => {
  const step = named(steps, name);
  if (step.kind !== "command") throw new Error(`${name} is an upload`);
  return step.render(plannedFacts(steps));
};

describe("the step graph of each phase", () => {
  it("single: the base, the firewall, MariaDB, Redis, the web tier and each site's steps, then the app's, on the one host", () => {
    const steps = plan({ phase: "single" }, [shop, blog, files], { domain: "orchestrator.example.com" });
    expect(graph(steps)).toEqual({
      "web-1": [
        "facts",
        "base ← facts",
        "firewall ← base",
        "hardening ← firewall",
        "mysql ← firewall",
        "db-shop_example_com ← mysql [mysql:shop.example.com]",
        "redis ← firewall [redis]",
        "web ← firewall",
        "site-shop_example_com ← web, mysql, redis",
        "site-shop_example_com-env ← site-shop_example_com, db-shop_example_com [redis, mysql:shop.example.com]",
        "site-blog_example_com ← web, mysql, redis",
        "site-blog_example_com-env ← site-blog_example_com [redis]",
        "site-files_example_com ← web, mysql, redis",
        "site-orchestrator_example_com ← web, mysql, redis",
        "app:database ← mysql [mysql:orchestrator.example.com]",
        "app:artifact ← base",
        "app:environment ← base [api-token, mysql:orchestrator.example.com, redis]",
        "app:install ← artifact, environment, database, redis, firewall, site-orchestrator_example_com",
      ],
    });
    expect(steps.steps.map((step) => step.renderer)).toContain("nginx, apache, php-fpm");
    // PHP on the box reaches MariaDB over loopback TCP or its socket, whose clients MariaDB calls localhost: both are granted.
    const grants = rendered(steps, "web-1-db-shop_example_com").create;
    expect(grants).toContain(".* TO 'shop_example_com'@'127.0.0.1';");
    expect(grants).toContain(".* TO 'shop_example_com'@'localhost';");
    expect(grants).toContain('clients=" 127.0.0.1 localhost "');
  });

  it("four-server: each role on its host; the web host's steps wait for the database and Redis steps on theirs", () => {
    const steps = plan({ phase: "four-server" }, [shop], { domain: "orchestrator.example.com" });
    expect(graph(steps)).toEqual({
      "web-1": [
        "facts",
        "base ← facts",
        "firewall ← base",
        "hardening ← firewall",
        "web ← firewall",
        "site-shop_example_com ← web",
        // The first web host moves what it held as the single box (nothing on a new stack) before an environment points away,
        // once everything else the environments wait for is done: the writes it refuses come back right after.
        "redis-move ← base, redis-1-redis, site-shop_example_com, mysql-1-db-shop_example_com, mysql-1-mysql, worker-1-base [redis]",
        "site-shop_example_com-database-move ← site-shop_example_com, mysql-1-db-shop_example_com, base, redis-1-redis, mysql-1-mysql, worker-1-base [mysql:shop.example.com]",
        "site-shop_example_com-env ← site-shop_example_com, site-shop_example_com-database-move, mysql-1-db-shop_example_com, redis-move [redis, mysql:shop.example.com]",
        "site-orchestrator_example_com ← web",
        // So does the app's, before any host's environment names the new primary. The Redis move, made by provisioning
        // before the orchestrator makes anything, waits for the MariaDB under the app's database instead.
        "app:database-move ← base, mysql-1-database, redis-1-redis, site-shop_example_com, mysql-1-db-shop_example_com, worker-1-base [mysql:orchestrator.example.com]",
        "app:artifact ← base",
        "app:environment ← base, database-move, redis-move [api-token, mysql:orchestrator.example.com, redis]",
        "app:install ← artifact, environment, mysql-1-database, redis-1-redis, firewall, site-orchestrator_example_com",
      ],
      "redis-1": ["facts", "base ← facts", "firewall ← base", "hardening ← firewall", "redis ← firewall [redis]"],
      "mysql-1": [
        "facts",
        "base ← facts",
        "firewall ← base",
        "hardening ← firewall",
        "mysql ← firewall",
        "db-shop_example_com ← mysql [mysql:shop.example.com]",
        "app:database ← mysql [mysql:orchestrator.example.com]",
      ],
      "worker-1": [
        "facts",
        "base ← facts",
        "firewall ← base",
        "hardening ← firewall",
        "app:artifact ← base",
        "app:environment ← base, web-1-database-move, web-1-redis-move [api-token, mysql:orchestrator.example.com, redis]",
        // After the web host's: one host's app restarts at a time.
        "app:install ← artifact, environment, mysql-1-database, redis-1-redis, firewall, web-1-install",
      ],
    });
    // What each step is rendered from at deploy time: its own facts, and the addresses of the hosts it names.
    expect(named(steps, "web-1-site-shop_example_com-env").inputs).toEqual([
      { kind: "facts", host: "web-1" },
      { kind: "privateIp", host: "redis-1" },
      { kind: "privateIp", host: "mysql-1" },
    ]);
    expect(named(steps, "mysql-1-db-shop_example_com").inputs).toEqual([
      { kind: "privateIp", host: "web-1" },
      { kind: "privateIp", host: "worker-1" },
    ]);
    // No client shares the database's host, so no socket: neither in the grants nor in the .env.
    expect(rendered(steps, "mysql-1-db-shop_example_com").create).not.toContain("localhost");
    expect(rendered(steps, "web-1-site-shop_example_com-env").stdin).not.toContain("_SOCKET=");
    expect(named(steps, "mysql-1-mysql").inputs).toEqual([
      { kind: "facts", host: "mysql-1" },
      { kind: "facts", host: "web-1" },
      { kind: "privateIp", host: "mysql-1" },
    ]);
  });

  it("horizontal with HAProxy: the load balancer's step is rendered from its own facts, one web host's checks and every web host's address", () => {
    const steps = plan({ phase: "horizontal", loadBalancer: { kind: "haproxy" }, nodes: { web: 2, worker: 1 } }, [files]);
    expect(graph(steps)["loadbalancer-1"]).toEqual(["facts", "base ← facts", "firewall ← base", "hardening ← firewall", "haproxy ← firewall"]);
    expect(named(steps, "loadbalancer-1-haproxy").inputs).toEqual([
      { kind: "facts", host: "loadbalancer-1" },
      { kind: "facts", host: "web-1" },
      { kind: "privateIp", host: "web-1" },
      { kind: "privateIp", host: "web-2" },
    ]);
    expect(graph(steps)["web-2"]).toEqual([
      "facts",
      "base ← facts",
      "firewall ← base",
      "hardening ← firewall",
      "web ← firewall",
      "site-files_example_com ← web",
      "balancer ← site-files_example_com",
    ]);
    // The balancer step follows only the balancers' addresses: a new web node leaves the others' steps as they were.
    expect(named(steps, "web-2-balancer").inputs.map((input) => input.host)).toEqual(["web-2", "loadbalancer-1"]);
  });

  it("horizontal: each PHP site's sessions go to Redis through a root-only file written before its pool starts", () => {
    const steps = plan({ phase: "horizontal", loadBalancer: { kind: "haproxy" }, nodes: { web: 2, worker: 1 } }, [shop]);
    expect(graph(steps)["web-1"]).toEqual([
      "facts",
      "base ← facts",
      "firewall ← base",
      "hardening ← firewall",
      "web ← firewall",
      "site-shop_example_com-sessions ← web [redis]",
      "site-shop_example_com ← web, site-shop_example_com-sessions",
      "balancer ← site-shop_example_com",
      // The moves wait for the new web node's site too: its environment also waits for Redis's move.
      "redis-move ← base, redis-1-redis, site-shop_example_com, mysql-1-db-shop_example_com, web-2-site-shop_example_com [redis]",
      "site-shop_example_com-database-move ← site-shop_example_com, mysql-1-db-shop_example_com, base, redis-1-redis, web-2-site-shop_example_com [mysql:shop.example.com]",
      "site-shop_example_com-env ← site-shop_example_com, site-shop_example_com-database-move, mysql-1-db-shop_example_com, redis-move [redis, mysql:shop.example.com]",
    ]);
    const sessions = rendered(steps, "web-1-site-shop_example_com-sessions");
    expect(sessions.files).toEqual([
      expect.objectContaining({ path: "/etc/php/8.2/fpm/sessions/shop_example_com.conf", mode: "0600", owner: "root:root", secret: true }),
    ]);
    expect(sessions.stdin).toContain(`?auth=${secretPlaceholder({ kind: "redis" })}&prefix=PHPREDIS_SESSION:shop.example.com:`);
    const web = rendered(steps, "web-1-web");
    expect(web.create).toContain("php8.2-redis");
  });

  it("single: sessions stay in files under the site's home, with no Redis session step", () => {
    const steps = plan({ phase: "single" }, [shop]);
    expect(steps.steps.map((step) => step.name)).not.toContain("web-1-site-shop_example_com-sessions");
    const pool = rendered(steps, "web-1-site-shop_example_com").files.find((file) => file.path.endsWith("pool.d/shop_example_com.conf"))!;
    expect(pool.content).toContain("php_admin_value[session.save_path] = /var/www/shop_example_com/sessions\n");
  });

  it("ha: replication after every server of its kind is installed, the Sentinels after it, the databases after replication", () => {
    const steps = plan({ phase: "ha" }, [shop], { domain: "orchestrator.example.com" });
    const byHost = graph(steps);
    expect(Object.keys(byHost)).toEqual([
      ...["web-1", "web-2", "web-3", "web-4", "web-5"],
      ...["redis-1", "redis-2", "redis-3", "sentinel-1", "sentinel-2", "sentinel-3", "mysql-1", "mysql-2", "mysql-3"],
      ...["worker-1", "worker-2", "worker-3", "worker-4", "worker-5"],
    ]);
    const redisReplication = ["redis-1-redis-replication", "redis-2-redis-replication", "redis-3-redis-replication"].join(", ");
    for (const host of ["sentinel-1", "sentinel-2", "sentinel-3"]) {
      expect(byHost[host]).toEqual([
        "facts",
        "base ← facts",
        "firewall ← base",
        "hardening ← firewall",
        `sentinel ← firewall, ${redisReplication} [redis, sentinel]`,
      ]);
    }
    expect(byHost["redis-1"]).toEqual([
      "facts",
      "base ← facts",
      "firewall ← base",
      "hardening ← firewall",
      "redis ← firewall [redis]",
      "redis-replication ← redis, redis-2-redis, redis-3-redis [redis, sentinel]",
    ]);
    expect(byHost["redis-2"]).toEqual([
      "facts",
      "base ← facts",
      "firewall ← base",
      "hardening ← firewall",
      "redis ← firewall [redis]",
      "redis-replication ← redis-1-redis, redis, redis-3-redis, redis-1-redis-replication [redis, sentinel]",
    ]);
    const mysqlReplication = ["mysql-1-mysql-replication", "mysql-2-mysql-replication", "mysql-3-mysql-replication"];
    expect(byHost["mysql-1"]).toEqual([
      "facts",
      "base ← facts",
      "firewall ← base",
      "hardening ← firewall",
      "mysql ← firewall",
      "mysql-replication ← mysql, mysql-2-mysql, mysql-3-mysql [mysql-replication]",
      `db-shop_example_com ← mysql, mysql-replication, ${mysqlReplication.slice(1).join(", ")} [mysql:shop.example.com]`,
      `app:database ← mysql, mysql-replication, ${mysqlReplication.slice(1).join(", ")} [mysql:orchestrator.example.com]`,
    ]);
    for (const host of ["mysql-2", "mysql-3"]) {
      expect(byHost[host]).toEqual([
        "facts",
        "base ← facts",
        "firewall ← base",
        "hardening ← firewall",
        "mysql ← firewall",
        `mysql-replication ← ${["mysql-1-mysql", "mysql-2-mysql", "mysql-3-mysql"].map((name) => name.replace(`${host}-`, "")).join(", ")}, mysql-1-mysql-replication [mysql-replication]`,
      ]);
    }
    // The same steps on every web host, but that each host's app restarts after the one before's,
    // and only the first moves the databases it may hold from the single-box days. Their order differs:
    // an environment waiting for the Redis move is made after it, once the last web host's site is.
    const asOtherWebHost = (line: string) =>
      line
        .replace("site-shop_example_com-database-move, ", "")
        .replace(", database-move,", ", web-1-database-move,")
        .replace(/, redis-move \[/, ", web-1-redis-move [");
    const withoutMove = byHost["web-1"]!.filter((line) => !/(database|redis)-move ←/.test(line)).map(asOtherWebHost);
    expect(withoutMove.length).toBe(byHost["web-1"]!.length - 3);
    for (const [index, web] of ["web-2", "web-3", "web-4", "web-5"].entries()) {
      expect([...byHost[web]!].sort()).toEqual(
        withoutMove.map((line) => (line.startsWith("app:install ←") ? `${line}, web-${index + 1}-install` : line)).sort(),
      );
    }
    // Every MariaDB is sized for the PHP workers of all five web hosts.
    expect(
      named(steps, "mysql-2-mysql")
        .inputs.filter((input) => input.kind === "facts")
        .map((input) => input.host),
    ).toEqual(["mysql-2", "web-1", "web-2", "web-3", "web-4", "web-5"]);
    // The app asks the Sentinels for Redis, so its environment is rendered from their addresses, not the primary's.
    expect(named(steps, "worker-3-environment").inputs.map((input) => input.host)).toEqual([
      "mysql-1",
      "mysql-2",
      "mysql-3",
      "sentinel-1",
      "sentinel-2",
      "sentinel-3",
    ]);
    expect(named(steps, "worker-3-environment").secrets.map(secretName)).toContain("sentinel");
    // The app's health reads each replica's lag (SHOW REPLICA STATUS), so its user may; a site's may not.
    expect(rendered(steps, "mysql-1-database").create).toMatch(/GRANT SLAVE MONITOR ON \*\.\* TO '[a-z_]+'@'/);
    expect(rendered(steps, "mysql-1-db-shop_example_com").create).not.toContain("SLAVE MONITOR");
    expect(rendered(plan({ phase: "four-server" }, [shop], { domain: "orchestrator.example.com" }), "mysql-1-database").create).not.toContain("SLAVE MONITOR");
    // facts, base, firewall and hardening on 19 hosts; web tier, two sites, a session file, an .env and the Redis proxy on 5; 3 Redis
    // and their replication; 3 Sentinels; 3 MariaDB, their replication and a database; the app on 10 and its
    // database; the first web host's moves (the site's database, the app's, Redis).
    expect(steps.steps).toHaveLength(19 * 4 + 5 * 6 + 3 * 2 + 3 + 3 * 2 + 1 + 10 * 3 + 1 + 3);
  });

  it("ha: PHP sessions and each site's .env reach Redis through the host's proxy to the current primary, not the plan's primary", () => {
    const steps = plan({ phase: "ha", nodes: { web: 2, worker: 1 } }, [shop]);
    expect(graph(steps)["web-1"]!.slice(4, 7)).toEqual([
      "redis-proxy ← firewall [redis]",
      "web ← firewall",
      "site-shop_example_com-sessions ← web, redis-proxy [redis]",
    ]);
    // The Redis move waits for the primary's replicas, and for every proxy an environment waiting for it reaches Redis through.
    expect(graph(steps)["web-1"]).toContain(
      "redis-move ← base, redis-1-redis, redis-1-redis-replication, site-shop_example_com, mysql-1-db-shop_example_com, redis-proxy, web-2-site-shop_example_com, web-2-redis-proxy [redis]",
    );
    expect(graph(steps)["web-1"]).toContain(
      "site-shop_example_com-env ← site-shop_example_com, site-shop_example_com-database-move, redis-proxy, mysql-1-db-shop_example_com, redis-move [redis, mysql:shop.example.com, sentinel]",
    );
    // The proxy follows every Redis server's address; the sessions and the .env follow none, so a failover changes no step.
    expect(named(steps, "web-2-redis-proxy").inputs.map((input) => input.host)).toEqual(["redis-1", "redis-2", "redis-3"]);
    expect(named(steps, "web-2-site-shop_example_com-sessions").inputs).toEqual([{ kind: "facts", host: "web-2" }]);
    expect(named(steps, "web-2-site-shop_example_com-env").inputs.map((input) => input.host)).not.toContain("redis-1");
    const facts = plannedFacts(steps);
    const proxy = rendered(steps, "web-2-redis-proxy");
    expect(proxy.files.map((file) => [file.path, file.secret ?? false])).toEqual([
      ["/etc/megaweb/redis-proxy-password.cfg", true],
      ["/etc/megaweb/redis-proxy.cfg", false],
      ["/etc/systemd/system/megaweb-redis-proxy.service", false],
    ]);
    expect(proxy.stdin).toBe(
      `# Managed by megaweb. Root only: the Redis password the proxy's check authenticates with.\nglobal\n    setenv MEGAWEB_REDIS_PASSWORD <secret:redis>\n`,
    );
    for (const server of ["redis-1", "redis-2", "redis-3"]) expect(proxy.create).toContain(`    server ${server} ${facts.privateIp(server)}:6379 check\n`);
    expect(rendered(steps, "web-2-site-shop_example_com-sessions").stdin).toContain(
      'php_admin_value[session.save_path] = "tcp://127.0.0.1:6380?auth=<secret:redis>&',
    );
    expect(rendered(steps, "web-2-site-shop_example_com-env").stdin).toContain("REDIS_HOST=127.0.0.1\nREDIS_PORT=6380\n");
    // No PHP site, no proxy; and a worker host that runs no site's workers has none either (the app follows the Sentinels itself).
    expect(plan({ phase: "ha", nodes: { web: 2, worker: 1 } }, [files]).steps.map((step) => step.name)).not.toContain("web-1-redis-proxy");
    expect(steps.steps.map((step) => step.name)).not.toContain("worker-1-redis-proxy");
    // A worker host running a site's queue workers gets the site's .env, so it gets the proxy too.
    const queued = { ...shop, code: { repository: "git://198.18.0.1/sample-php-app.git" }, workers: [{ name: "queue", command: "php artisan queue:work" }] };
    const withWorkers = plan({ phase: "ha", nodes: { web: 2, worker: 1 } }, [queued]);
    expect(named(withWorkers, "worker-1-site-shop_example_com-env").dependsOn).toContain("worker-1-redis-proxy");
  });

  it("ha after a MySQL promotion: naming the new primary points every client at it and leaves the replication steps as they were", () => {
    const hosts = existingHosts({ loadbalancer: 2, web: 2, redis: 3, sentinel: 3, mysql: 3, worker: 1 });
    const infrastructure = {
      phase: "ha",
      target: "existing",
      nodes: { web: 2, worker: 1 },
      loadBalancer: { kind: "haproxy", virtualAddress: "198.18.0.50/24" },
      hosts,
    } as const;
    const app = { domain: "orchestrator.example.com" };
    const before = plan(infrastructure, [shop], app);
    const after = plan({ ...infrastructure, mysqlPrimary: "mysql-2" }, [shop], app);
    expect(after.topology.mysql).toEqual({ primary: "mysql-2", replicas: ["mysql-1", "mysql-3"] });
    // mysql-1 is 198.18.0.20, mysql-2 198.18.0.21, mysql-3 198.18.0.22.
    const env = rendered(after, "web-1-site-shop_example_com-env").stdin!;
    expect(env).toContain("DB_HOST=198.18.0.21\n");
    expect(env).toContain("DB_READ_HOSTS=198.18.0.20,198.18.0.22\n");
    expect(rendered(after, "worker-1-environment").stdin).toContain("198.18.0.21");
    // The database steps keep their names, so the change is an update on the new primary, never a delete on the old one.
    for (const name of ["mysql-1-db-shop_example_com", "mysql-1-database"]) {
      expect(named(after, name).host).toBe("mysql-2");
      expect(named(before, name).host).toBe("mysql-1");
    }
    // The replication files list the servers in the bootstrap order: nothing there changes, so no MariaDB restarts.
    for (const host of ["mysql-1", "mysql-2", "mysql-3"]) {
      expect(rendered(after, `${host}-mysql-replication`).create).toBe(rendered(before, `${host}-mysql-replication`).create);
      expect(named(after, `${host}-mysql-replication`).dependsOn).toEqual(named(before, `${host}-mysql-replication`).dependsOn);
    }
    expect(after.steps.map((step) => step.name)).toEqual(before.steps.map((step) => step.name));
  });

  it("ha on DigitalOcean with HAProxy: the token in a secret-only step, then keepalived moving the reserved IP to its own droplet", () => {
    const steps = plan({ phase: "ha", loadBalancer: { kind: "haproxy" }, nodes: { web: 2, worker: 1 } }, [files]);
    for (const host of ["loadbalancer-1", "loadbalancer-2"]) {
      expect(graph(steps)[host]).toEqual([
        "facts",
        "base ← facts",
        "firewall ← base",
        "hardening ← firewall",
        "haproxy ← firewall",
        "reserved-ip-token ← haproxy [reserved-ip-token]",
        "keepalived ← haproxy, reserved-ip-token",
      ]);
    }
    const token = rendered(steps, "loadbalancer-2-reserved-ip-token");
    expect(token.files).toEqual([{ path: "/etc/megaweb/digitalocean-reserved-ip-token", content: "<secret:reserved-ip-token>\n", mode: "0600", secret: true }]);
    expect(token.stdin).toBe("<secret:reserved-ip-token>\n");
    // The droplet's id and the address are deploy-time inputs: DigitalOcean assigns them.
    expect(named(steps, "loadbalancer-2-keepalived").inputs).toEqual([
      { kind: "facts", host: "loadbalancer-2" },
      { kind: "privateIp", host: "loadbalancer-1" },
      { kind: "privateIp", host: "loadbalancer-2" },
      { kind: "dropletId", host: "loadbalancer-2" },
      { kind: "reservedIp", host: "loadbalancer-2" },
    ]);
    const facts = plannedFacts(steps);
    const onDroplet = {
      ...facts,
      dropletId: (host: string) => (host === "loadbalancer-2" ? "400007" : facts.dropletId(host)),
      reservedIp: () => "203.0.113.20",
    };
    const keepalived = named(steps, "loadbalancer-2-keepalived");
    if (keepalived.kind !== "command") throw new Error("keepalived is a command");
    const render = keepalived.render(onDroplet);
    expect(render.files.map((file) => file.path)).toEqual([
      "/etc/keepalived/keepalived.conf",
      "/usr/local/libexec/megaweb/haproxy-alive",
      "/usr/local/libexec/megaweb/reserved-ip-assign",
      "/etc/megaweb/reserved-ip.conf",
    ]);
    expect(render.files[3]!.content).toBe(
      "# Managed by megaweb: what keepalived's notify hook moves, and where to.\nreserved_ip=203.0.113.20\ndroplet_id=400007\napi=https://api.digitalocean.com\ntoken_file=/etc/megaweb/digitalocean-reserved-ip-token\n",
    );
    expect(render.files[0]!.content).toContain('notify_master "/usr/local/libexec/megaweb/reserved-ip-assign"');
    expect(render.files[0]!.content).not.toContain("virtual_ipaddress");
    expect(render.stdin).toBeUndefined();
    // Horizontal's single HAProxy droplet holds the address alone: no keepalived, no token.
    const single = plan({ phase: "horizontal", loadBalancer: { kind: "haproxy" } }, [files]);
    expect(single.steps.filter((step) => /keepalived|reserved-ip/.test(step.name))).toEqual([]);
  });

  it("ha on existing hosts: keepalived after HAProxy on both balancers, moving the virtual address on the private interface", () => {
    const hosts = existingHosts({ loadbalancer: 2, web: 2, redis: 3, sentinel: 3, mysql: 3, worker: 1 });
    const steps = plan(
      { phase: "ha", target: "existing", nodes: { web: 2, worker: 1 }, loadBalancer: { kind: "haproxy", virtualAddress: "198.18.0.50/24" }, hosts },
      [shop],
    );
    for (const host of ["loadbalancer-1", "loadbalancer-2"]) {
      expect(graph(steps)[host]).toEqual(["facts", "base ← facts", "firewall ← base", "hardening ← firewall", "haproxy ← firewall", "keepalived ← haproxy"]);
    }
    const keepalived = named(steps, "loadbalancer-2-keepalived");
    if (keepalived.kind !== "command") throw new Error("keepalived is a command");
    const facts = plannedFacts(steps);
    const onHost = { ...facts, facts: (host: string) => ({ ...facts.facts(host), interfaces: { "127.0.0.1": "lo", "198.18.0.11": "host0" } }) };
    const config = keepalived.render(onHost).files.find((file) => file.path === "/etc/keepalived/keepalived.conf")!.content;
    expect(config).toContain("interface host0");
    expect(config).toContain("198.18.0.50/24");
    expect(config).toMatch(/unicast_peer \{\s*198\.18\.0\.10\s*\}/);
    // The balancers hear each other's adverts through their firewalls, and nobody else's.
    const firewall = named(steps, "loadbalancer-1-firewall");
    if (firewall.kind !== "command") throw new Error("the firewall is a command");
    expect(firewall.render(facts).files[0]!.content).toContain("ip saddr { 198.18.0.11 } meta l4proto 112 accept");
    // Sites read from the replicas and find Redis through the Sentinels.
    const env = named(steps, "web-1-site-shop_example_com-env");
    if (env.kind !== "command") throw new Error("the .env is a command");
    const stdin = env.render(facts).stdin!;
    expect(stdin).toContain("DB_HOST=198.18.0.20\n");
    expect(stdin).toContain("DB_READ_HOSTS=198.18.0.21,198.18.0.22\n");
    expect(stdin).toContain("REDIS_HOST=127.0.0.1\nREDIS_PORT=6380\n");
    // The proxy on loopback is not Redis: no socket to name.
    expect(stdin).not.toContain("_SOCKET=");
    expect(stdin).toContain("REDIS_SENTINELS=198.18.0.17:26379,198.18.0.18:26379,198.18.0.19:26379\n");
    expect(stdin).toContain("REDIS_SENTINEL_PASSWORD=<secret:sentinel>\n");
  });

  it("ha with sentinelHosts redis on existing hosts: each Redis host runs its server, its replication, then its Sentinel", () => {
    const hosts = existingHosts({ loadbalancer: 2, web: 2, redis: 3, mysql: 3, worker: 1 });
    const steps = plan(
      {
        phase: "ha",
        target: "existing",
        sentinelHosts: "redis",
        nodes: { web: 2, worker: 1 },
        loadBalancer: { kind: "haproxy", virtualAddress: "198.18.0.50/24" },
        hosts,
      },
      [shop],
      { domain: "orchestrator.example.com" },
    );
    const byHost = graph(steps);
    expect(Object.keys(byHost)).toEqual([
      ...["loadbalancer-1", "loadbalancer-2", "web-1", "web-2", "redis-1", "redis-2", "redis-3"],
      ...["mysql-1", "mysql-2", "mysql-3", "worker-1"],
    ]);
    const redisReplication = ["redis-1-redis-replication", "redis-2-redis-replication", "redis-3-redis-replication"];
    expect(byHost["redis-2"]).toEqual([
      "facts",
      "base ← facts",
      "firewall ← base",
      "hardening ← firewall",
      "redis ← firewall [redis]",
      "redis-replication ← redis-1-redis, redis, redis-3-redis, redis-1-redis-replication [redis, sentinel]",
      `sentinel ← firewall, ${redisReplication.map((name) => name.replace("redis-2-", "")).join(", ")} [redis, sentinel]`,
    ]);
    // Each address once, though every Redis host is a Sentinel host too.
    expect(named(steps, "redis-2-sentinel").inputs.map((input) => input.host)).toEqual(["redis-1", "redis-2", "redis-3"]);
    expect(named(steps, "redis-2-redis-replication").inputs.map((input) => input.host)).toEqual(["redis-1", "redis-2", "redis-3"]);
    // redis-1 is 198.18.0.14, redis-2 .15, redis-3 .16: Redis and Sentinel answer the other two (and the clients), on one host.
    const facts = plannedFacts(steps);
    const nftables = rendered(steps, "redis-2-firewall").files[0]!.content;
    expect(nftables).toContain("(roles: redis, sentinel)");
    for (const port of [6379, 26379]) expect(nftables).toMatch(new RegExp(`ip saddr \{ [^}]*198\.18\.0\.14, 198\.18\.0\.16[^}]* \} tcp dport ${port} accept`));
    expect(rendered(steps, "redis-2-sentinel").stdin).toContain(`sentinel announce-ip ${facts.privateIp("redis-2")}`);
    // The clients find the Sentinels at the Redis hosts' addresses.
    expect(rendered(steps, "web-1-site-shop_example_com-env").stdin).toContain("REDIS_SENTINELS=198.18.0.14:26379,198.18.0.15:26379,198.18.0.16:26379\n");
    expect(rendered(steps, "worker-1-environment").stdin).toContain("198.18.0.16:26379");
  });
});

describe("every planned step", () => {
  // Monitored, with both kinds of receiver credential; the single box grows to hold the monitoring beside its pools.
  const monitored = {
    receivers: {
      email: { to: ["ops@example.com"], from: "alerts@example.com", smarthost: "smtp.example.com:587", username: "alerts", password: { secure: "v1:pw" } },
      webhooks: [{ url: "https://hooks.example.com/megaweb", bearerToken: { secure: "v1:token" } }],
    },
  };
  const phases: [string, InfrastructureInput][] = [
    ["single", { phase: "single", sizes: { web: "s-2vcpu-4gb" } }],
    ["four-server", { phase: "four-server" }],
    ["horizontal", { phase: "horizontal", loadBalancer: { kind: "haproxy" } }],
    ["ha", { phase: "ha" }],
    ["ha with HAProxy", { phase: "ha", loadBalancer: { kind: "haproxy" } }],
  ];
  const custom = {
    domain: "tls.example.com",
    kind: "static",
    tls: { mode: "custom", certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", key: { secure: "v1:abc" } },
  };

  it.each(phases)("%s: waits only for steps planned before it, on hosts the plan has", (_, infrastructure) => {
    const steps = plan(infrastructure, [shop, blog, custom], { domain: "orchestrator.example.com" }, monitored);
    const seen = new Set<string>();
    const hosts = new Set(steps.topology.hosts.map((host) => host.name));
    for (const step of steps.steps) {
      for (const dependency of step.dependsOn) expect(seen.has(dependency), `${step.name} waits for ${dependency}`).toBe(true);
      for (const input of step.inputs) expect(hosts.has(input.host), `${step.name} reads ${input.host}`).toBe(true);
      seen.add(step.name);
    }
  });

  it.each(phases)("%s: a data move waits for everything else each step waiting for it waits for, so its window opens last", (_, infrastructure) => {
    const queued = { ...shop, code: { repository: "git://198.18.0.1/sample-php-app.git" }, workers: [{ name: "queue", command: "php artisan queue:work" }] };
    const steps = plan(infrastructure, [queued, blog, custom], { domain: "orchestrator.example.com" });
    const byName = new Map(steps.steps.map((step) => [step.name, step]));
    const moves = steps.steps.filter((step) => step.kind === "command" && step.movesData);
    expect(moves.map((move) => move.name)).toEqual(
      infrastructure.phase === "single"
        ? []
        : ["web-1-redis-move", "web-1-site-shop_example_com-database-move", "web-1-database-move"].filter((name) => byName.has(name)),
    );
    const isMove = (name: string) => moves.some((move) => move.name === name);
    // Provisioning makes its steps before the orchestrator's, so there a move waits for what the orchestrator's step waits for.
    const madeBefore = (move: PlannedStep, name: string): string[] =>
      move.owner === "provisioning" && byName.get(name)!.owner === "orchestrator"
        ? byName.get(name)!.dependsOn.flatMap((each) => madeBefore(move, each))
        : [name];
    let switches = 0;
    for (const step of steps.steps.filter((each) => !isMove(each.name))) {
      const waitedFor = moves.filter((move) => step.dependsOn.includes(move.name));
      if (waitedFor.length > 0) switches += 1;
      for (const move of waitedFor) {
        for (const dependency of step.dependsOn.filter((name) => !isMove(name)).flatMap((name) => madeBefore(move, name))) {
          expect(move.dependsOn, `${move.name} waits for ${dependency}, as ${step.name} does`).toContain(dependency);
        }
      }
    }
    if (moves.length > 0) expect(switches).toBeGreaterThan(0);
    // Nothing that ends a window runs before a move starts: the moves run side by side, none after another's switch.
    for (const move of moves) {
      for (const dependency of move.dependsOn) {
        expect(isMove(dependency) || byName.get(dependency)!.dependsOn.some(isMove), `${move.name} waits for ${dependency}`).toBe(false);
      }
    }
  });

  it.each(phases)("%s: carries its secrets on stdin only, as the placeholders it declares", (_, infrastructure) => {
    const steps = plan(infrastructure, [shop, blog, custom], { domain: "orchestrator.example.com" }, monitored);
    for (const step of steps.steps) {
      if (step.kind !== "command") continue;
      const { create, delete: undo, stdin } = step.render(plannedFacts(steps));
      expect(`${create}${undo ?? ""}`.match(placeholderPattern), step.name).toBeNull();
      expect(stdin !== undefined, `${step.name} has stdin exactly when it declares secrets`).toBe(step.secrets.length > 0);
      expect(new Set(stdin?.match(placeholderPattern) ?? []), step.name).toEqual(new Set(step.secrets.map(secretPlaceholder)));
    }
  });

  /** The steps of `after` whose script differs from the same step's in `before`, or that are new. */
  const changedScripts = (before: StepPlan, after: StepPlan) => {
    const scripts = (steps: StepPlan) =>
      Object.fromEntries(steps.steps.flatMap((step) => (step.kind === "command" ? [[step.name, step.render(plannedFacts(steps)).create]] : [])));
    const [a, b] = [scripts(before), scripts(after)];
    return Object.keys(b).filter((name) => a[name] !== b[name]);
  };

  it("changing one site's PHP settings changes only that site's steps, on every web host", () => {
    const before = plan({ phase: "horizontal" }, [shop, blog]);
    const after = plan({ phase: "horizontal" }, [{ ...shop, php: { ...shop.php, memoryLimit: "128M" } }, blog]);
    expect(changedScripts(before, after)).toEqual(["web-1-site-shop_example_com", "web-2-site-shop_example_com", "web-3-site-shop_example_com"]);
  });

  it("a fourth web node changes no step of the three before it: only what lists every web node, and the new host's own", () => {
    const withWebNodes = (web: number) =>
      plan({ phase: "horizontal", loadBalancer: { kind: "haproxy" }, nodes: { web, worker: 1 } }, [shop, blog], { domain: "orchestrator.example.com" });
    const changed = changedScripts(withWebNodes(3), withWebNodes(4));
    expect(changed.filter((name) => /^web-[123]-/.test(name))).toEqual([]);
    expect(changed.filter((name) => !name.startsWith("web-4-"))).toEqual([
      // Only the web nodes (and the worker) may reach MySQL and Redis; MySQL's connection limit and
      // each database's grants count the web nodes; the balancer sends to each.
      "redis-1-firewall",
      "mysql-1-firewall",
      "mysql-1-mysql",
      "mysql-1-db-shop_example_com",
      "loadbalancer-1-haproxy",
      "mysql-1-database",
    ]);
  });

  it("renders every file of every host from the plan, the secret ones as placeholders", () => {
    const steps = plan({ phase: "four-server" }, [shop, custom], { domain: "orchestrator.example.com" }, {});
    const perHost = filesPerHost(steps, plannedFacts(steps));
    const secretFiles = [...perHost].flatMap(([host, files]) => files.filter((file) => file.secret).map((file) => `${host}:${file.path}`));
    expect(secretFiles.sort()).toEqual([
      "mysql-1:/etc/prometheus/mysqld-exporter.cnf",
      "redis-1:/etc/prometheus/redis-exporter-passwords.json",
      "redis-1:/etc/redis/megaweb.d/secrets.conf",
      "web-1:/etc/megaweb/orchestrator.env",
      "web-1:/etc/ssl/private/megaweb-tls_example_com.key",
      "web-1:/var/www/shop_example_com/.env",
      "worker-1:/etc/megaweb/orchestrator.env",
    ]);
    expect(rendered(steps, "web-1-site-shop_example_com-env").stdin).toBe(perHost.get("web-1")!.find((file) => file.path.endsWith("/.env"))!.content);
  });
});

describe("the monitoring steps", () => {
  it("single: the box runs its exporters, then Prometheus and Alertmanager; the logging-in exporters get their password on stdin", () => {
    const steps = plan({ phase: "single" }, [shop, files], undefined, {});
    expect(steps.topology.monitoring).toBe("web-1");
    expect(graph(steps)["web-1"]!.filter((step) => /exporter|monitoring/.test(step))).toEqual([
      "exporters ← firewall, web",
      "mysqld-exporter ← exporters, mysql [mysql-exporter]",
      "redis-exporter ← exporters, redis [redis]",
      "monitoring ← exporters",
    ]);
    const script = rendered(steps, "web-1-monitoring").create;
    expect(script).toContain("checked promtool check config /etc/prometheus/prometheus.yml");
    expect(script).toContain("checked amtool check-config /etc/prometheus/alertmanager.yml");
    // The primary makes the exporter's MariaDB account, from the password stdin brought.
    expect(rendered(steps, "web-1-mysqld-exporter").create).toContain(
      "GRANT PROCESS, BINLOG MONITOR, REPLICA MONITOR ON *.* TO 'megaweb_exporter'@'localhost';",
    );
  });

  it("four-server: Prometheus on the worker, every host's exporters answer to it alone, and the receivers' credentials arrive in steps of their own", () => {
    const receivers = { webhooks: [{ url: "https://hooks.example.com/megaweb", bearerToken: { secure: "v1:token" } }] };
    const steps = plan({ phase: "four-server" }, [shop], undefined, { receivers });
    expect(steps.topology.monitoring).toBe("worker-1");
    expect(graph(steps)["worker-1"]!.filter((step) => /exporter|monitoring|secret/.test(step))).toEqual([
      "exporters ← firewall",
      "secret-alert-webhook-1-token ← exporters [alert-webhook-1-token]",
      "monitoring ← exporters, secret-alert-webhook-1-token",
    ]);
    const nftables = (host: string) => rendered(steps, `${host}-firewall`).files[0]!.content;
    expect(nftables("mysql-1")).toContain("ip saddr { <worker-1 private IP> } tcp dport 9100 accept");
    expect(nftables("mysql-1")).toContain("ip saddr { <worker-1 private IP> } tcp dport 9104 accept");
    expect(nftables("web-1")).not.toMatch(/tcp dport 9104/);
    expect(nftables("worker-1")).toContain("ip saddr { <web-1 private IP> } tcp dport 9090 accept");
    expect(nftables("worker-1")).not.toMatch(/tcp dport 9093/);
    const prometheus = rendered(steps, "worker-1-monitoring").files.find((file) => file.path === "/etc/prometheus/prometheus.yml")!.content;
    for (const target of ["<web-1 private IP>:9100", "<mysql-1 private IP>:9104", "<redis-1 private IP>:9121", "<web-1 private IP>:9113"]) {
      expect(prometheus).toContain(target);
    }
  });

  it("leaves monitoring out when the stack turns it off, but not the hardening", () => {
    const steps = plan({ phase: "single" }, [shop]);
    expect(steps.topology.monitoring).toBeUndefined();
    expect(steps.steps.map((step) => step.name).filter((name) => /exporter|monitoring/.test(name))).toEqual([]);
    expect(steps.topology.firewall.map((rule) => rule.port)).not.toContain(9100);
    expect(rendered(steps, "web-1-hardening").create).toContain("checked fail2ban-client -t");
  });
});

describe("forgetting the copies a growth moved away from (forgetMovedData)", () => {
  const forgetting = (infrastructure: InfrastructureInput, sites: unknown[], app?: Record<string, unknown>) =>
    plan({ ...infrastructure, forgetMovedData: true }, sites, app);

  it("four-server: each move's forget runs on its host after the move and every step switching to the new copy, with the move's secrets", () => {
    const steps = forgetting({ phase: "four-server" }, [shop, blog], { domain: "orchestrator.example.com" });
    expect(graph(steps)["web-1"]!.filter((line) => line.includes("-forget"))).toEqual([
      // The app's environment switches to the new Redis too, so the orchestrator makes the forget after it.
      "app:redis-move-forget ← redis-move, site-shop_example_com-env, site-blog_example_com-env, environment, worker-1-environment [redis]",
      "site-shop_example_com-database-move-forget ← site-shop_example_com-database-move, site-shop_example_com-env [mysql:shop.example.com]",
      "app:database-move-forget ← database-move, environment, worker-1-environment [mysql:orchestrator.example.com]",
      // After the last forget of the host, the box's daemons stop: the orchestrator's, as two forgets are.
      "app:box-retire ← redis-move-forget, site-shop_example_com-database-move-forget, database-move-forget",
    ]);
    for (const move of ["web-1-redis-move", "web-1-site-shop_example_com-database-move", "web-1-database-move"]) {
      const [moving, forget] = [named(steps, move), named(steps, `${move}-forget`)];
      expect(forget).toMatchObject({ host: moving.host, inputs: moving.inputs, secrets: moving.secrets, renderer: "data-move" });
      // Not a move itself: `movesLate` holds no window open for it.
      expect(forget.kind === "command" && forget.movesData).toBeFalsy();
      const [movingRender, forgetRender] = [rendered(steps, move), rendered(steps, `${move}-forget`)];
      // The new copy's credentials reach the forget as they reach the move: on stdin, as placeholders filled in on the way.
      expect(forgetRender.stdin).toBe(movingRender.stdin);
      expect(forgetRender.create.match(placeholderPattern)).toBeNull();
      expect(forgetRender.create).toMatch(move.endsWith("redis-move") ? /FLUSHALL/ : /DROP DATABASE/);
      expect(forgetRender.files).toEqual([]);
    }
  });

  it("four-server without the app: the Redis forget is provisioning's, after the sites' switches", () => {
    const steps = forgetting({ phase: "four-server" }, [shop]);
    expect(graph(steps)["web-1"]!.filter((line) => line.includes("-forget"))).toEqual([
      "redis-move-forget ← redis-move, site-shop_example_com-env [redis]",
      "site-shop_example_com-database-move-forget ← site-shop_example_com-database-move, site-shop_example_com-env [mysql:shop.example.com]",
      "box-retire ← redis-move-forget, site-shop_example_com-database-move-forget",
    ]);
    // MariaDB stops only once it holds no database, Redis once its forget has run; no secret needed for either.
    const retire = rendered(steps, "web-1-box-retire");
    expect(retire.create).toContain(`WHERE schema_name NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys')`);
    expect(retire.create).toContain("retire mariadb.service MariaDB");
    expect(retire.create).toContain("retire redis-server.service Redis");
    expect(retire.stdin).toBeUndefined();
  });

  const phases: [string, InfrastructureInput][] = [
    ["single", { phase: "single" }],
    ["four-server", { phase: "four-server" }],
    ["horizontal", { phase: "horizontal", loadBalancer: { kind: "haproxy" }, nodes: { web: 2, worker: 1 } }],
    ["ha", { phase: "ha" }],
  ];

  it.each(phases)("%s: plans no forget unless the stack asks for it, and then one per move, after each step waiting for the move", (_, infrastructure) => {
    const queued = { ...shop, code: { repository: "git://198.18.0.1/sample-php-app.git" }, workers: [{ name: "queue", command: "php artisan queue:work" }] };
    const app = { domain: "orchestrator.example.com" };
    expect(plan(infrastructure, [queued, blog], app).steps.filter((step) => step.name.endsWith("-forget"))).toEqual([]);
    const steps = forgetting(infrastructure, [queued, blog], app);
    const moves = steps.steps.filter((step) => step.kind === "command" && step.movesData);
    const forgets = steps.steps.filter((step) => step.name.endsWith("-forget"));
    expect(forgets.map((step) => step.name)).toEqual(moves.map((move) => `${move.name}-forget`));
    if (infrastructure.phase === "single") expect(forgets).toEqual([]);
    for (const move of moves) {
      const forget = named(steps, `${move.name}-forget`);
      const switches = steps.steps.filter((step) => step !== forget && step.dependsOn.includes(move.name));
      expect(switches.length, `${move.name} has steps waiting for it`).toBeGreaterThan(0);
      expect(forget.dependsOn).toEqual([move.name, ...switches.map((step) => step.name)]);
      expect(forget.owner).toBe([move, ...switches].some((step) => step.owner === "orchestrator") ? "orchestrator" : "provisioning");
    }
    // Nothing but the box's retirement waits for a forget: the plan of the other steps is the one without the flag.
    const retirements = steps.steps.filter((step) => step.dependsOn.some((name) => name.endsWith("-forget")));
    expect(retirements.map((step) => [step.name, step.dependsOn])).toEqual(
      forgets.length > 0 ? [[`${forgets[0]!.host}-box-retire`, forgets.map((step) => step.name)]] : [],
    );
  });
});
