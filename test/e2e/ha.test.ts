import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import Redis from "ioredis";
import { createConnection } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisMasterName } from "../../lib/plan/cluster";
import { eventually, firstAcknowledgedAfter, startLoad, startSampler, summarize } from "../faults/measure";
import { portsBelowEphemeral } from "../monitoring/loopback";
import { LocalStack, type Machine, repo, Timings } from "./local-stack";

/**
 * The ha phase on fourteen local machines through the real engine, from bare machines to serving
 * with one `pulumi up`, then broken in sequence under bounded loads: the Redis primary, the MySQL
 * primary (then promoted), the active load balancer. Each fault's cost is recorded in
 * test-output/e2e-ha-timings.json; after them a preview must find nothing to change and an `up`
 * must point nothing back at the old primaries.
 *
 * Sentinels have hosts of their own in the plan (the ha phase's minimum is 2 + 2 + 2 + 3 + 3 + 1 = 13
 * hosts with one Redis replica), so the cluster is 14 machines, not 12.
 */

const roles = [
  ...["loadbalancer", "loadbalancer", "web", "web"],
  ...["redis", "redis", "redis", "sentinel", "sentinel", "sentinel"],
  ...["mysql", "mysql", "mysql", "worker"],
] as const;
const local = new LocalStack("ha", "ha", join(repo, "stacks", "Pulumi.ha.yaml"), roles);
const timings = new Timings("e2e-ha-timings.json");
const figures: Record<string, unknown> = {};
const app = "orchestrator.megaweb.test";
let machines: Machine[];
const byRole = (role: (typeof roles)[number]) => machines.filter((_, index) => roles[index] === role);
let virtualAddress: string;
const tunnels: ChildProcess[] = [];
/**
 * MEGAWEB_E2E_REUSE=1 runs the faults on the set and stack an earlier bring-up left (the same
 * workspace, test-output/ha), and leaves them up: for working on one fault without a 20-minute
 * bring-up each time. `npm run demo:destroy` with the test's names, or a normal run, removes them.
 */
const reusing = process.env.MEGAWEB_E2E_REUSE === "1";

/** The set's hosts.json: the machines' addresses and the key that reaches them. */
const hostsFile = () =>
  JSON.parse(readFileSync(`/var/lib/megaweb/machines/${local.machineSet}/hosts.json`, "utf8")) as { privateKeyPath: string; machines: { address: string }[] };

/**
 * A local port forwarded through `via` (a web node, which the data tier's firewalls admit) to
 * `target:port`: the test reaches MySQL, Redis and the Sentinels as the web nodes do.
 */
async function tunnel(via: Machine, target: string, port: number): Promise<number> {
  const [local] = await portsBelowEphemeral(1);
  const ssh = spawn(
    "ssh",
    [
      ...["-i", hostsFile().privateKeyPath, "-N", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"],
      ...["-o", "LogLevel=ERROR", "-o", "ExitOnForwardFailure=yes", "-L", `127.0.0.1:${local}:${target}:${port}`, `root@${via.address}`],
    ],
    { stdio: "ignore" },
  );
  tunnels.push(ssh);
  await eventually(
    `a tunnel to ${target}:${port}`,
    () =>
      new Promise<true | undefined>((resolve) => {
        const socket = connect({ host: "127.0.0.1", port: local! });
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(undefined));
      }),
    20,
  );
  return local!;
}

/** An HTTP GET to the shared address with a site's Host header; the status, or the error. */
function getThroughBalancer(domain: string, path: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: virtualAddress, path, headers: { Host: domain }, timeout: timeoutMs, agent: false }, (response) => {
      let body = "";
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${response.statusCode}`))));
    });
    request.on("timeout", () => request.destroy(new Error("timeout")));
    request.on("error", reject);
    request.end();
  });
}

/** A value of a host's config file, read over SSH, so the test uses the secrets the hosts were given without deriving them. */
const readSetting = (machine: Machine, command: string) => machine.ssh(command).trim();

/** Stops a daemon the way a crash does (SIGKILL), masked so systemd does not bring it back. */
const crash = (machine: Machine, unit: string) => machine.ssh(`systemctl mask --runtime --quiet ${unit} && systemctl kill -s KILL ${unit}`);
const restore = (machine: Machine, unit: string) => machine.ssh(`systemctl unmask --runtime --quiet ${unit} && systemctl start ${unit}`);

const sinceSeconds = (fromMs: number, toMs: number | undefined) => (toMs === undefined ? undefined : Math.round(toMs - fromMs) / 1000);

/** Peak memory the host's processes used during the bring-up, sampled from /proc/meminfo (MB). */
function usedMemoryMb(): number {
  const info = Object.fromEntries(
    readFileSync("/proc/meminfo", "utf8")
      .split("\n")
      .map((line) => line.split(/:\s+/))
      .map(([key, value]) => [key, Number.parseInt(value ?? "0", 10)]),
  );
  return Math.round((info.MemTotal! - info.MemAvailable!) / 1024);
}

/**
 * Bare machines to serving: the machines booted in parallel (scripts/demo.sh prepare, which also
 * sets the shared address in the set's /24), then one `pulumi up`, with the host's memory sampled.
 */
async function bringUp(): Promise<void> {
  local.destroy();
  const before = usedMemoryMb();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, usedMemoryMb())), 2000);
  try {
    await timings.time("boot 14 machines in parallel (s)", () => local.prepare());
    local.pulumiOk(["config", "set", "--path", "megaweb:app.artifact", join(repo, "app", "dist", "megaweb-orchestrator-0.1.0.tgz")]);
    local.setSecret("megaweb:apiToken", randomBytes(24).toString("hex"));
    await timings.time("bare to serving: pulumi up (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview"], 1500));
  } finally {
    clearInterval(sampler);
  }
  timings.seconds["memory in use before boot (MB)"] = before;
  timings.seconds["peak memory in use during bring-up (MB)"] = peak;
}

describe.sequential("the ha phase on fourteen local machines, with the real engine and faults", () => {
  beforeAll(async () => {
    if (process.platform !== "linux" || process.getuid?.() !== 0)
      throw new Error("the end-to-end test needs Linux and root (it boots systemd-nspawn machines)");
    if (!reusing) await bringUp();
    machines = hostsFile().machines.map((_, index) => local.machine(index));
    virtualAddress = `${readFileSync(`/var/lib/megaweb/machines/${local.machineSet}/prefix`, "utf8").trim()}.200`;
  }, 1_800_000);

  afterAll(() => {
    for (const ssh of tunnels) ssh.kill();
    timings.save();
    if (!reusing) local.destroyOk();
  }, 300_000);

  it("serves the site and the app through the shared address, with MySQL and Redis replicated", async () => {
    expect(await getThroughBalancer("shop.megaweb.test", "/")).toBeDefined();
    const health = JSON.parse(await getThroughBalancer(app, "/api/health"));
    expect(health).toMatchObject({ database: "healthy", redis: "healthy" });
    expect(health.database_replicas.map((replica: { status: string }) => replica.status)).toEqual(["healthy", "healthy"]);
    const [primary, ...replicas] = byRole("mysql");
    for (const replica of replicas) {
      expect(replica.ssh("mariadb -N -e 'SELECT @@read_only'").trim()).toBe("1");
      expect(replica.ssh("mariadb -e 'SHOW SLAVE STATUS\\G'")).toContain(`Master_Host: ${primary!.address}`);
      // The site's and the app's users reached the replica through the binary log.
      expect(replica.ssh("mariadb -N -e \"SELECT DISTINCT user FROM mysql.user WHERE user NOT IN ('root', 'mariadb.sys', 'mysql', '')\"").split("\n")).toEqual(
        expect.arrayContaining(["shop_megaweb_test"]),
      );
    }
    const env = byRole("web")[0]!.ssh("grep -e DB_READ_HOSTS -e REDIS_SENTINELS /var/www/shop_megaweb_test/.env");
    expect(env).toContain(`DB_READ_HOSTS=${replicas.map((replica) => replica.address).join(",")}`);
    expect(env).toContain(
      `REDIS_SENTINELS=${byRole("sentinel")
        .map((sentinel) => `${sentinel.address}:26379`)
        .join(",")}`,
    );
  });

  it("moves the Redis primary when it is killed during writes, and loses no acknowledged write", async () => {
    const [web] = byRole("web");
    const servers = byRole("redis");
    const password = readSetting(servers[0]!, "sed -n 's/^requirepass //p' /etc/redis/megaweb-secrets.conf");
    const sentinelPassword = readSetting(byRole("worker")[0]!, "sed -n 's/^MEGAWEB_REDIS_SENTINEL_PASSWORD=//p' /etc/megaweb/orchestrator.env");
    const serverPorts = await Promise.all(servers.map((server) => tunnel(web!, server.address, 6379)));
    const sentinelPorts = await Promise.all(byRole("sentinel").map((sentinel) => tunnel(web!, sentinel.address, 26379)));
    // The Sentinels name the servers by their private addresses; the test reaches them through its tunnels.
    const natMap = Object.fromEntries(servers.map((server, index) => [`${server.address}:6379`, { host: "127.0.0.1", port: serverPorts[index]! }]));
    const client = new Redis({
      sentinels: sentinelPorts.map((port) => ({ host: "127.0.0.1", port })),
      name: redisMasterName,
      password,
      sentinelPassword,
      natMap,
      failoverDetector: true,
      maxRetriesPerRequest: 3,
      enableOfflineQueue: true,
      reconnectOnError: (error) => (error.message.startsWith("READONLY") ? 2 : false),
    });
    client.on("error", () => undefined);
    const sentinel = new Redis({ host: "127.0.0.1", port: sentinelPorts[0]!, password: sentinelPassword });
    const namedPrimary = async () => ((await sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", redisMasterName)) as string[])[0];
    expect(await namedPrimary()).toBe(servers[0]!.address);
    await client.del("ha:acked");

    const load = startLoad(async (index) => (await client.rpush("ha:acked", String(index)), index), {
      maxOperations: 20_000,
      maxSeconds: 40,
      concurrency: 2,
      pauseMs: 20,
      timeoutMs: 3000,
    });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const killedAt = load.now();
    crash(servers[0]!, "redis-server");
    const promoted = await eventually("a new Redis primary", async () => ((await namedPrimary()) !== servers[0]!.address ? load.now() : undefined), 60);
    timings.seconds["redis: seconds to new primary"] = sinceSeconds(killedAt, promoted)!;
    const healthy = await eventually(
      "the app healthy again",
      async () => (JSON.parse(await getThroughBalancer(app, "/api/health")).redis === "healthy" && load.now() > promoted ? load.now() : undefined),
      60,
    );
    const record = await load.done;
    const acknowledged = record.outcomes.filter((outcome) => outcome.ok).map((outcome) => String(outcome.value));
    const stored = new Set(await client.lrange("ha:acked", 0, -1));
    const lost = acknowledged.filter((value) => !stored.has(value)).length;
    const summary = summarize(record);
    figures.redis = {
      secondsToNewPrimary: sinceSeconds(killedAt, promoted),
      secondsToHealthyApp: sinceSeconds(killedAt, healthy),
      firstWriteAfterKillSeconds: sinceSeconds(killedAt, firstAcknowledgedAfter(record.outcomes, killedAt + 1000)?.endedMs),
      acknowledged: summary.acknowledged,
      failed: summary.failed,
      acknowledgedLost: lost,
    };
    timings.seconds["redis: seconds to new primary"] = sinceSeconds(killedAt, promoted)!;
    timings.seconds["redis: seconds to healthy app"] = sinceSeconds(killedAt, healthy)!;
    timings.seconds["redis: acknowledged writes lost"] = lost;
    timings.seconds["redis: writes acknowledged"] = summary.acknowledged;
    timings.seconds["redis: writes failed"] = summary.failed;
    expect(lost).toBe(0);

    // The old primary comes back as a replica of the new one.
    restore(servers[0]!, "redis-server");
    await eventually(
      "the old Redis primary to follow the new one",
      () =>
        readSetting(servers[0]!, `REDISCLI_AUTH='${password}' redis-cli --raw INFO replication | tr -d '\\r' | sed -n 's/^role://p'`) === "slave"
          ? true
          : undefined,
      60,
    );
    client.disconnect();
    sentinel.disconnect();
  }, 300_000);

  it("promotes a MySQL replica after the primary is killed during committed writes: none lost, never two writable", async () => {
    const [web] = byRole("web");
    const servers = byRole("mysql");
    const url = new URL(readSetting(byRole("worker")[0]!, "sed -n 's/^MEGAWEB_DB_URL=//p' /etc/megaweb/orchestrator.env"));
    const ports = await Promise.all(servers.map((server) => tunnel(web!, server.address, 3306)));
    const connect = (index: number) =>
      createConnection({
        host: "127.0.0.1",
        port: ports[index]!,
        user: decodeURIComponent(url.username),
        password: url.password,
        database: url.pathname.slice(1),
        connectTimeout: 2000,
      });
    const readOnly = async (index: number) => {
      const connection = await connect(index);
      try {
        const [rows] = await connection.query("SELECT @@read_only AS ro");
        return (rows as { ro: number }[])[0]!.ro === 1;
      } finally {
        await connection.end();
      }
    };
    const setup = await connect(0);
    await setup.query("CREATE TABLE IF NOT EXISTS ha_probe (n INT PRIMARY KEY)");
    await setup.query("DELETE FROM ha_probe");
    await setup.end();

    let writer = 0;
    const load = startLoad(
      async (index) => {
        const connection = await connect(writer);
        try {
          await connection.query("INSERT INTO ha_probe (n) VALUES (?)", [index]);
          return index;
        } finally {
          connection.destroy();
        }
      },
      { maxOperations: 20_000, maxSeconds: 45, concurrency: 2, pauseMs: 20, timeoutMs: 3000 },
    );
    const writable = startSampler(
      async () =>
        (
          await Promise.all(
            servers.map((_, index) =>
              readOnly(index)
                .then((ro) => !ro)
                .catch(() => false),
            ),
          )
        ).filter(Boolean).length,
      { intervalMs: 200, maxSeconds: 120 },
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const killedAt = load.now();
    crash(servers[0]!, "mariadb");
    const promoteOutput = servers[1]!.ssh("megaweb-mysql-replication promote 2>&1");
    writer = await eventually("a writable MySQL server", async () => {
      for (const index of [1, 2]) if (!(await readOnly(index).catch(() => true))) return index;
      return undefined;
    });
    const writableAt = load.now();
    const record = await load.done;
    const samples = await writable.stop();
    const acknowledged = record.outcomes.filter((outcome) => outcome.ok).map((outcome) => Number(outcome.value));
    const check = await connect(writer);
    const [rows] = await check.query("SELECT n FROM ha_probe");
    await check.end();
    const stored = new Set((rows as { n: number }[]).map((row) => row.n));
    const lost = acknowledged.filter((value) => !stored.has(value)).length;
    const other = writer === 1 ? 2 : 1;
    const summary = summarize(record);
    figures.mysql = {
      promoteOutput,
      secondsToWritable: sinceSeconds(killedAt, writableAt),
      firstCommitAfterKillSeconds: sinceSeconds(killedAt, firstAcknowledgedAfter(record.outcomes, killedAt + 500)?.endedMs),
      committed: summary.acknowledged,
      failed: summary.failed,
      committedLost: lost,
      mostWritableAtOnce: Math.max(...samples.map((sample) => sample.value)),
    };
    timings.seconds["mysql: seconds to writable (kill to promoted)"] = sinceSeconds(killedAt, writableAt)!;
    timings.seconds["mysql: committed transactions lost"] = lost;
    timings.seconds["mysql: commits acknowledged"] = summary.acknowledged;
    timings.seconds["mysql: most writable servers at once"] = Math.max(...samples.map((sample) => sample.value));
    expect(lost).toBe(0);
    expect(Math.max(...samples.map((sample) => sample.value))).toBeLessThanOrEqual(1);
    expect(servers[other]!.ssh("mariadb -e 'SHOW SLAVE STATUS\\G'")).toContain(`Master_Host: ${servers[writer]!.address}`);

    // The old primary returns read-only: following the new primary, or fenced.
    restore(servers[0]!, "mariadb");
    expect(servers[0]!.ssh("mariadb -N -e 'SELECT @@read_only'").trim()).toBe("1");
    figures.mysqlOldPrimary = servers[0]!.ssh("megaweb-mysql-replication status 2>&1 || true");
  }, 300_000);

  it("moves the shared address when the active load balancer's HAProxy is killed under HTTP load", async () => {
    const balancers = byRole("loadbalancer");
    const holds = (machine: Machine) => machine.ssh("ip -o -4 addr show").includes(` ${virtualAddress}/`);
    const active = await eventually("a balancer holding the address", () => balancers.find(holds), 30);
    const standby = balancers.find((machine) => machine !== active)!;
    const load = startLoad(() => getThroughBalancer("shop.megaweb.test", "/", 1000).then(() => true), {
      maxOperations: 20_000,
      maxSeconds: 20,
      pauseMs: 20,
      timeoutMs: 1500,
    });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const killedAt = load.now();
    crash(active, "haproxy");
    const moved = await eventually("the address on the other balancer", () => (holds(standby) ? load.now() : undefined), 30);
    const summary = summarize(await load.done);
    figures.balancer = {
      secondsToMove: sinceSeconds(killedAt, moved),
      secondsWithoutService: summary.longestOutageSeconds,
      failed: summary.failed,
      requests: summary.operations,
    };
    timings.seconds["balancer: seconds until the address moved"] = sinceSeconds(killedAt, moved)!;
    timings.seconds["balancer: seconds without service"] = summary.longestOutageSeconds;
    timings.seconds["balancer: failed requests"] = summary.failed;
    timings.seconds["balancer: requests"] = summary.operations;
    restore(active, "haproxy");
  }, 120_000);

  it("finds nothing to change after the failovers, and an up points nothing back at the old primaries", () => {
    const preview = timings.time("no-change preview after the failovers (s)", () => local.pulumi(["preview", "--expect-no-changes"]));
    return preview.then((result) => {
      figures.preview = result.status;
      expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
      return timings
        .time("no-change up after the failovers (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview"]))
        .then(() => {
          const servers = byRole("mysql");
          expect(servers[0]!.ssh("mariadb -N -e 'SELECT @@read_only'").trim()).toBe("1");
          const [, ...redis] = byRole("redis");
          const sentinelPassword = readSetting(byRole("worker")[0]!, "sed -n 's/^MEGAWEB_REDIS_SENTINEL_PASSWORD=//p' /etc/megaweb/orchestrator.env");
          const named = readSetting(
            byRole("sentinel")[0]!,
            `REDISCLI_AUTH='${sentinelPassword}' redis-cli -p 26379 --raw SENTINEL get-master-addr-by-name ${redisMasterName} | head -1`,
          );
          expect(redis.map((machine) => machine.address)).toContain(named);
          console.log("ha faults:", JSON.stringify(figures, null, 2));
        });
    });
  }, 900_000);
});
