import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupClientKey, renderBackupServer } from "../../lib/render/backup";
import { eventually, firstAcknowledgedAfter, type LoadSummary, startLoad, summarize } from "../faults/measure";
import type { StoreLoadReport } from "../faults/store-load";
import { buildApp, deployFromOwnBuild } from "./app-build";
import { killProcessesNamed, LocalStack, Machine, memoryOf, peakMemoryOf, repo, restartAfterKill, startMemorySampler, Timings } from "./local-stack";
import { installNmap, openPorts, portsOf } from "./port-scan";

/**
 * The ha phase on local machines through the real engine, from bare machines to serving through
 * the balancers' shared address with one `pulumi up`, then broken in sequence on the same cluster,
 * each fault under a bounded load: the Redis primary SIGKILLed (Sentinel failover), the keepalived
 * MASTER balancer stopped, a web node's nginx and PHP-FPM SIGKILLed, the MySQL primary SIGKILLed and
 * a replica promoted, the app's worker SIGKILLed mid-job. Then a preview must find nothing to change and an `up` must point nothing
 * back at the old primaries. The fault table goes to test-output/ha-faults.json.
 *
 * Eleven machines: the Sentinels run beside the Redis servers (`sentinelHosts: redis`, Redis's own
 * layout of three boxes each with a Redis and a Sentinel: quorum 2 survives losing a box), and the
 * phase's minimum of two MySQL replicas, Redis primary + 2 replicas (with one, `min-replicas-to-write 1`
 * would refuse every write after a failover until the old primary returned) makes 2 + 2 + 3 + 3 + 1.
 * The Redis fault kills the primary's box as the cluster sees it, its Redis server and its Sentinel
 * both, so the failover is the two remaining Sentinels' quorum.
 * MySQL and Redis answer only their client roles, so their loads run on the worker
 * (test/faults/store-load.ts); HTTP loads run from this host, a client of the shared address.
 * The twelfth machine (`none`) stays out of the stack: a client outside the cluster, for the
 * firewall matrix as nmap sees it, and the SFTP server the primaries back up to
 * (`backups.destination.host`, as an operator's own server would be), so backups cost no machine.
 * Before the faults, while the plan's primaries are the real ones, data is backed up, destroyed
 * and restored, and found again on every replica with replication running.
 */

const roles = [...["loadbalancer", "loadbalancer", "web", "web"], ...["redis", "redis", "redis"], ...["mysql", "mysql", "mysql", "worker"], "none"] as const;
type Role = (typeof roles)[number];
const local = new LocalStack("ha", "ha", join(repo, "stacks", "Pulumi.ha.yaml"), roles);
const timings = new Timings("e2e-ha-timings.json");
const faults: Record<string, unknown> = {};
/** Keeps a row of the fault table, written at once so a run cut short keeps the rows it measured. */
function record(row: string, figures: unknown): void {
  faults[row] = figures;
  mkdirSync(join(repo, "test-output"), { recursive: true });
  writeFileSync(join(repo, "test-output", "ha-faults.json"), `${JSON.stringify(faults, null, 2)}\n`);
}
const shop = "shop.megaweb.test";
const app = "orchestrator.megaweb.test";
const siteUser = (domain: string) => domain.replaceAll(".", "_");
const siteDatabase = siteUser(shop);
/** What the test's page on each web node answers: which node served it, through PHP. */
const nodePage = "<?php echo gethostname();\n";

let machines: Machine[];
const byRole = (role: Role) => machines.filter((_, index) => roles[index] === role);
const cluster = () => machines.filter((_, index) => roles[index] !== "none");
const apiToken = randomBytes(24).toString("hex");
const backupPassword = `hb-backup-${randomBytes(12).toString("hex")}`;
/** The SFTP account on the outside machine, as the stack's own backup host would have it. */
const backupServer = renderBackupServer({ user: "megaweb-backup", path: "/srv/megaweb-backup" });
/** The balancers' shared address, as a client reaches it. */
let shared: Machine;
let storeLoad: string;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms / 100) / 10);

/** The load program for the worker: one file with its dependencies, for the worker's Node.js 18. */
async function bundleStoreLoad(): Promise<string> {
  const result = await build({
    entryPoints: [join(repo, "test", "faults", "store-load.ts")],
    bundle: true,
    platform: "node",
    target: "node18",
    format: "cjs",
    write: false,
    logLevel: "warning",
  });
  return result.outputFiles[0]!.text;
}

/** Runs the write load inside the cluster, on the worker (a client of MySQL, Redis and the Sentinels). */
async function loadInCluster(store: "redis" | "mysql", loadSeconds: number): Promise<StoreLoadReport> {
  const output = await byRole("worker")[0]!.sshAsync(`node - ${store} ${loadSeconds}`, (loadSeconds + 120) * 1000, storeLoad);
  return JSON.parse(output) as StoreLoadReport;
}

/** Kills daemons the way a crash does, masked so systemd does not bring them back before the test says. */
const crash = (machine: Machine, units: readonly string[], processNames: readonly string[]) =>
  machine.sshAsync(`systemctl mask --runtime --quiet ${units.join(" ")} && ${killProcessesNamed(processNames)}`);
const restore = (machine: Machine, units: readonly string[]) =>
  machine.sshAsync(
    `systemctl unmask --runtime --quiet ${units.join(" ")}; systemctl reset-failed ${units.join(" ")}; systemctl start ${units.join(" ")} || true`,
    300_000,
  );

/** A root shell on a Redis server, authenticated from its own secrets file (never on a command line). */
const redisCli = (machine: Machine, command: string) =>
  machine.sshAsync(`REDISCLI_AUTH=$(sed -n 's/^requirepass //p' /etc/redis/megaweb.d/secrets.conf) redis-cli --raw ${command} | tr -d '\\r'`);
const redisRole = async (machine: Machine) => /^role:(\w+)$/m.exec(await redisCli(machine, "INFO replication"))?.[1];
const readOnly = async (machine: Machine) => (await machine.sshAsync("mariadb -N -e 'SELECT @@read_only'")).trim() === "1";

/** A Sentinel beside a Redis server, authenticated from its own config (Sentinel may have quoted the value when it rewrote it). */
const sentinelCli = (machine: Machine, command: string) =>
  machine.sshAsync(`REDISCLI_AUTH=$(sed -n 's/^requirepass //p' /etc/redis/sentinel.conf | tr -d '"') redis-cli --raw -p 26379 ${command} | tr -d '\\r'`);
/** What a Sentinel says of the primary: its address and the epoch a failover raises. */
const sentinelView = async (machine: Machine) => {
  const fields = (await sentinelCli(machine, "SENTINEL MASTER megaweb")).trim().split("\n");
  const view = Object.fromEntries(fields.flatMap((value, index) => (index % 2 === 0 ? [[value, fields[index + 1]]] : [])));
  return `${view.ip}:${view.port} epoch ${view["config-epoch"]} ${view.flags}`;
};
/** Lines of a Sentinel's log in which it saw the primary down or failed it over. */
const sentinelDownLines = async (machine: Machine) =>
  Number((await machine.sshAsync("grep -cE '[+-][so]down master|[+]switch-master|[+]failover' /var/log/redis/redis-sentinel.log || true")).trim());

/**
 * The test's Redis keys on a server, counted and digested in one read-only script on it: every
 * `hb:*` key in order with its value and whether it still has a TTL. The same digest everywhere
 * means the same keys and values.
 */
const keyDigestScript = `
local cursor, keys = "0", {}
repeat
  local page = redis.call("SCAN", cursor, "MATCH", ARGV[1], "COUNT", 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do keys[#keys + 1] = key end
until cursor == "0"
table.sort(keys)
local lines = {}
for index, key in ipairs(keys) do
  local kind, value = redis.call("TYPE", key).ok, nil
  if kind == "string" then value = redis.call("GET", key)
  elseif kind == "list" then value = table.concat(redis.call("LRANGE", key, 0, -1), ",")
  else local fields = redis.call("HGETALL", key); table.sort(fields); value = table.concat(fields, ",") end
  lines[index] = key .. " " .. kind .. " " .. value .. (redis.call("PTTL", key) > 0 and " expires" or "")
end
return { #keys, redis.sha1hex(table.concat(lines, "\\n")) }`;
const keyDigest = async (machine: Machine) => {
  await machine.sshAsync("install -m 600 /dev/stdin /root/hb-key-digest.lua", 60_000, keyDigestScript);
  const [count, digest] = (await redisCli(machine, "--eval /root/hb-key-digest.lua , 'hb:*'")).trim().split("\n");
  return { keys: Number(count), digest };
};

/** The test's rows on a MariaDB server: count and checksum of each table it wrote. */
const rowDigest = (machine: Machine) =>
  machine
    .sshAsync(
      `mariadb -N -e "SELECT COUNT(*), SUM(CRC32(note)) FROM ${siteDatabase}.hb_orders; SELECT COUNT(*), SUM(CRC32(note)) FROM megaweb.hb_accounts" 2>&1 || true`,
    )
    .then((output) => output.trim().replace(/\s+/g, " "));
/** A MariaDB replica's threads, errors, source and position. */
const replicaState = async (machine: Machine) => {
  const status = await machine.sshAsync("mariadb -e 'SHOW SLAVE STATUS\\G'");
  const field = (name: string) => new RegExp(`^\\s*${name}: (.*)$`, "m").exec(status)?.[1] ?? "";
  return {
    source: field("Master_Host"),
    io: field("Slave_IO_Running"),
    sql: field("Slave_SQL_Running"),
    errors: `${field("Last_IO_Errno")}/${field("Last_SQL_Errno")}`,
  };
};
const gtidPosition = async (machine: Machine) => (await machine.sshAsync("mariadb -N -e 'SELECT @@gtid_current_pos'")).trim();

/** The app's API through the shared address, as its clients call it. */
async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const answer = await shared.request(method, app, path, { body, headers: { Authorization: `Bearer ${apiToken}` } });
  if (answer.status >= 300) throw new Error(`${method} ${path}: HTTP ${answer.status} ${answer.body}`);
  return JSON.parse(answer.body) as T;
}

async function appHealth(): Promise<{ database: string; redis: string; database_replicas: { status: string }[] }> {
  const answer = await shared.get(app, "/api/health");
  return JSON.parse(answer.body);
}

async function nodeThroughSharedAddress(): Promise<string> {
  const answer = await shared.get(shop, "/node.php");
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status}`);
  return answer.body;
}

/** Waits until six requests through the shared address reach both web nodes. */
const bothWebNodesServing = (withinSeconds: number) =>
  eventually(
    "both web nodes serving through the shared address",
    async () => {
      const nodes = await Promise.all(Array.from({ length: 6 }, nodeThroughSharedAddress));
      return new Set(nodes).size === 2 ? true : undefined;
    },
    withinSeconds,
  );

/**
 * A bounded HTTP load through the shared address while `fault` runs three seconds in; whether a
 * request started after the fault's own wait ended was served.
 */
async function httpUnderFault<T>(fault: () => Promise<T>): Promise<{ summary: LoadSummary; during: T; servedAfter: boolean }> {
  const load = startLoad(nodeThroughSharedAddress, { maxOperations: 5000, maxSeconds: 25, concurrency: 2, pauseMs: 20, timeoutMs: 5000 });
  await sleep(3000);
  const during = await fault();
  const faultEnded = load.now();
  const record = await load.done;
  return { summary: summarize(record), during, servedAfter: firstAcknowledgedAfter(record.outcomes, faultEnded) !== undefined };
}

/** The figures a fault table row keeps of a load: not every outcome. */
const brief = ({ operations, acknowledged, failed, failureRate, longestOutageSeconds, errors }: LoadSummary) => ({
  operations,
  acknowledged,
  failed,
  failureRate: Math.round(failureRate * 10_000) / 10_000,
  longestOutageSeconds,
  errors,
});

describe.sequential("the ha phase on local machines, with the real engine and faults", () => {
  beforeAll(async () => {
    local.destroy();
    const bundled = bundleStoreLoad();
    await timings.time("app build (s)", buildApp);
    await timings.time(`${roles.length} machines booted in parallel (s)`, () => local.prepare());
    deployFromOwnBuild(local, apiToken);
    const hosts = JSON.parse(readFileSync(`/var/lib/megaweb/machines/${local.machineSet}/hosts.json`, "utf8")) as {
      privateKeyPath: string;
      machines: unknown[];
      gateway: string;
    };
    machines = hosts.machines.map((_, index) => local.machine(index));
    // SSH only from the machine running Pulumi, so a scan from elsewhere finds it shut.
    local.pulumiOk(["config", "set", "--path", "megaweb:adminCidrs[0]", `${hosts.gateway}/32`]);
    // The primaries back up to the outside machine over SFTP; the hosts' keys are let in once `up` made them.
    const outside = byRole("none")[0]!;
    const hostKey = outside.ssh("cut -d ' ' -f 1,2 /etc/ssh/ssh_host_ed25519_key.pub").trim();
    local.setConfig("megaweb:backups", { destination: { kind: "sftp", host: outside.address, hostKey, user: backupServer.user, path: backupServer.path } });
    local.setSecret("megaweb:backupPassword", backupPassword);
    // The client outside the cluster gets its tools while the cluster comes up (nothing waits on its output).
    const outsideTools = byRole("none")[0]!.sshAsync("apt-get update -qq && apt-get install -y -qq --no-install-recommends nmap >/dev/null", 900_000);
    await timings.time("bare to serving: pulumi up (s)", () => local.pulumiAsync(["up", "--yes", "--skip-preview"], 2400));
    const prefix = readFileSync(`/var/lib/megaweb/machines/${local.machineSet}/prefix`, "utf8").trim();
    shared = new Machine(`${prefix}.200`, hosts.privateKeyPath);
    [storeLoad] = await Promise.all([bundled, outsideTools, startMemorySampler(cluster())]);
    timings.save();
    for (const web of byRole("web")) {
      web.placePage(siteUser(shop), `/var/www/${siteUser(shop)}/public`, "node.php", nodePage);
    }
  }, 2_700_000);

  afterAll(async () => {
    if (machines !== undefined) {
      record("memoryMb", memoryOf(cluster()));
      record("peakMemoryMb", await peakMemoryOf(cluster()).catch((error: Error) => error.message));
    }
    console.log("ha faults:", JSON.stringify(faults, null, 2));
    timings.save();
    local.destroyOk();
  }, 1_000_000);

  it("serves through the shared address from both web nodes, with MySQL and Redis replicated", async () => {
    // `up` ends once the last web node's own checks pass; the balancers take it back after `rise 2` rounds.
    await bothWebNodesServing(30);
    expect(await appHealth()).toMatchObject({ database: "healthy", redis: "healthy", database_replicas: [{ status: "healthy" }, { status: "healthy" }] });
    const [primary, ...replicas] = byRole("mysql");
    for (const replica of replicas) {
      expect(await readOnly(replica)).toBe(true);
      expect(await replica.sshAsync("mariadb -e 'SHOW SLAVE STATUS\\G'")).toContain(`Master_Host: ${primary!.address}`);
    }
    expect(await readOnly(primary!)).toBe(false);
    expect(await Promise.all(byRole("redis").map(redisRole))).toEqual(["master", "slave", "slave"]);
  });

  it("answers from outside only on HTTP and HTTPS at the balancers, and the operators' CIDR (this host) on SSH everywhere", async () => {
    const balancers = [...byRole("loadbalancer"), shared];
    expect(await openPorts(byRole("none")[0]!, [...cluster(), shared])).toEqual(portsOf(balancers, [80, 443]));
    expect(await openPorts("this host", [...cluster(), shared])).toEqual([...portsOf([...cluster(), shared], [22]), ...portsOf(balancers, [80, 443])].sort());
  }, 300_000);

  it("lets each role reach exactly what the firewall matrix gives it: MySQL, Redis and Sentinel only from their clients and peers", async () => {
    await installNmap(cluster());
    // Not the shared address from a balancer: the one holding it would be reaching itself.
    const from = (machine: Machine) =>
      openPorts(
        machine,
        [...cluster(), ...(byRole("loadbalancer").includes(machine) ? [] : [shared])].filter((other) => other !== machine),
      );
    const balancers = portsOf([...byRole("loadbalancer"), shared], [80, 443]);
    const data = [...portsOf(byRole("mysql"), [3306]), ...portsOf(byRole("redis"), [6379, 26379])];
    const [lb, otherLb] = byRole("loadbalancer");
    // The balancers alone reach the web nodes' agents; replication and Sentinel gossip stay among peers.
    expect(await from(lb!)).toEqual([...portsOf([otherLb!], [80, 443]), ...portsOf(byRole("web"), [80, 443, 9777])].sort());
    expect(await from(byRole("web")[0]!)).toEqual([...balancers, ...data].sort());
    expect(await from(byRole("worker")[0]!)).toEqual([...balancers, ...data].sort());
    const [mysql, ...otherMysql] = byRole("mysql");
    expect(await from(mysql!)).toEqual([...balancers, ...portsOf(otherMysql, [3306])].sort());
    const [redis, ...otherRedis] = byRole("redis");
    expect(await from(redis!)).toEqual([...balancers, ...portsOf(otherRedis, [6379, 26379])].sort());
  }, 600_000);

  it("backs up the primaries, and after the data is destroyed restores every row and key on the primaries and every replica, replication running", async () => {
    const [mysqlPrimary, ...mysqlReplicas] = byRole("mysql");
    const [redisPrimary, ...redisReplicas] = byRole("redis");
    const outside = byRole("none")[0]!;
    // The keys the backup steps made, let into the SFTP account the way the stack's backup host does it.
    const holders = { "web-1": byRole("web")[0]!, "mysql-1": mysqlPrimary!, "redis-1": redisPrimary! };
    const keys = await Promise.all(
      Object.entries(holders).map(async ([name, machine]) =>
        backupClientKey(backupServer, name, (await machine.sshAsync("cat /etc/megaweb/backup/id_ed25519.pub")).trim()),
      ),
    );
    await outside.sshAsync(
      [
        `id ${backupServer.user} >/dev/null 2>&1 || useradd --system --home-dir ${backupServer.path} --no-create-home --shell /usr/sbin/nologin ${backupServer.user}`,
        `install -d -m 700 -o ${backupServer.user} -g ${backupServer.user} ${backupServer.path}`,
        `printf '%s' '${Buffer.from(backupServer.sshd.content).toString("base64")}' | base64 -d | install -m 644 /dev/stdin ${backupServer.sshd.path}`,
        `install -m 644 /dev/stdin ${backupServer.authorizedKeys}`,
        "sshd -t && systemctl reload ssh",
      ].join(" && "),
      60_000,
      keys.map((key) => key.content).join(""),
    );

    // Rows in a site's database and the app's, keys in Redis (some with a TTL, a list, a hash): all through the primaries.
    await mysqlPrimary!.sshAsync(
      `mariadb ${siteDatabase} -e "CREATE TABLE ${siteDatabase}.hb_orders (id INT PRIMARY KEY, note VARCHAR(64)); INSERT INTO ${siteDatabase}.hb_orders SELECT seq, CONCAT('order ', seq, ' ', MD5(seq)) FROM seq_1_to_5000;` +
        ` CREATE TABLE megaweb.hb_accounts (id INT PRIMARY KEY, note VARCHAR(64)); INSERT INTO megaweb.hb_accounts SELECT seq, CONCAT('account ', seq) FROM seq_1_to_2000"`,
    );
    await redisPrimary!.sshAsync(
      `export REDISCLI_AUTH=$(sed -n 's/^requirepass //p' /etc/redis/megaweb.d/secrets.conf); ` +
        `{ for n in $(seq 3000); do echo "SET hb:key:$n value-$n"; done; for n in $(seq 500); do echo "SET hb:session:$n session-$n EX 86400"; done; ` +
        `echo "RPUSH hb:queue job-1 job-2 job-3"; echo "HSET hb:hash a 1 b 2"; } | redis-cli >/dev/null`,
    );
    const rowsBefore = await rowDigest(mysqlPrimary!);
    expect(rowsBefore).toMatch(/^5000 \d+ 2000 \d+$/);
    const keysBefore = await eventually("the keys on every Redis server", async () => {
      const digests = await Promise.all(byRole("redis").map(keyDigest));
      return digests.every((each) => each.keys === 3502 && each.digest === digests[0]!.digest) ? digests[0] : undefined;
    });

    const [mysqlBackup, redisBackup] = await Promise.all(
      [mysqlPrimary!, redisPrimary!].map(async (machine) => {
        const started = Date.now();
        await machine.sshAsync("systemctl start megaweb-backup.service", 600_000);
        return seconds(Date.now() - started);
      }),
    );
    const repositoryMb = async (host: string) =>
      Math.round(Number((await outside.sshAsync(`du -sb ${backupServer.path}/${host} | cut -f 1`)).trim()) / 10_000) / 100;

    // Destroyed on the primaries; the replicas follow.
    await mysqlPrimary!.sshAsync(`mariadb -e "DROP DATABASE ${siteDatabase}; DROP TABLE megaweb.hb_accounts"`);
    await redisCli(redisPrimary!, "FLUSHALL");
    await eventually("the data gone from every replica too", async () => {
      const gone = await Promise.all([
        ...mysqlReplicas.map(async (replica) => /doesn't exist|Unknown database/.test(await rowDigest(replica))),
        ...redisReplicas.map(async (replica) => (await keyDigest(replica)).keys === 0),
      ]);
      return gone.every(Boolean) ? true : undefined;
    });

    const redisPid = (await redisPrimary!.sshAsync("systemctl show -p MainPID --value redis-server")).trim();
    const sentinelsBefore = await Promise.all(byRole("redis").map(sentinelView));
    const downLinesBefore = await Promise.all(byRole("redis").map(sentinelDownLines));
    const [mysqlRestore, redisRestore] = await Promise.all(
      [
        [mysqlPrimary!, "megaweb-restore all"],
        [redisPrimary!, "megaweb-restore redis"],
      ].map(async ([machine, command]) => {
        const started = Date.now();
        const output = await (machine as Machine).sshAsync(`${command as string} 2>&1`, 600_000);
        return { seconds: seconds(Date.now() - started), output: output.trim().split("\n") };
      }),
    );

    // Every row on the primary and both replicas, the replicas' threads running without error at the primary's position.
    for (const server of byRole("mysql"))
      expect(await eventually(`the rows on ${server.address}`, async () => ((await rowDigest(server)) === rowsBefore ? true : undefined), 60)).toBe(true);
    for (const replica of mysqlReplicas) {
      expect(await replicaState(replica)).toEqual({ source: mysqlPrimary!.address, io: "Yes", sql: "Yes", errors: "0/0" });
    }
    const positions = await eventually(
      "the same GTID position on every MySQL server",
      async () => {
        const each = await Promise.all(byRole("mysql").map(gtidPosition));
        return new Set(each).size === 1 ? each : undefined;
      },
      60,
    );
    // Every key on the primary and both replicas, linked up; the primary never stopped and no Sentinel saw it down.
    const keysAfter = await Promise.all(byRole("redis").map(keyDigest));
    for (const digest of keysAfter) expect(digest).toEqual(keysBefore);
    for (const replica of redisReplicas) {
      const info = await redisCli(replica, "INFO replication");
      expect(info).toMatch(/^master_link_status:up$/m);
      expect(info).toContain(`master_host:${redisPrimary!.address}`);
    }
    expect((await redisPrimary!.sshAsync("systemctl show -p MainPID --value redis-server")).trim()).toBe(redisPid);
    expect(await Promise.all(byRole("redis").map(sentinelView))).toEqual(sentinelsBefore);
    expect(await Promise.all(byRole("redis").map(sentinelDownLines))).toEqual(downLinesBefore);
    expect(await redisRole(redisPrimary!)).toBe("master");
    expect(mysqlRestore!.output.join("\n")).toMatch(new RegExp(`database ${siteDatabase} from snapshot [0-9a-f]{8}\\n.*database megaweb from snapshot`));
    expect(redisRestore.output.at(-1)).toMatch(/Redis from snapshot [0-9a-f]{8}: \d+ keys, into 127\.0\.0\.1:6379; 2 of 2 replicas in step$/);
    await eventually(
      "the app healthy",
      () => appHealth().then((health) => (health.database === "healthy" && health.redis === "healthy" ? true : undefined)),
      60,
    );

    record("backupAndRestore", {
      backupSeconds: { "mysql-1": mysqlBackup, "redis-1": redisBackup },
      repositoryMb: { "mysql-1": await repositoryMb("mysql-1"), "redis-1": await repositoryMb("redis-1") },
      restoreSeconds: { "mysql-1 (all: site and app databases)": mysqlRestore!.seconds, "redis-1": redisRestore!.seconds },
      rowsCheckedPerServer: 7000,
      mysqlServersChecked: byRole("mysql").length,
      keysCheckedPerServer: keysBefore.keys,
      redisServersChecked: byRole("redis").length,
      gtidPosition: positions[0],
      sentinels: sentinelsBefore,
      restoreOutput: { mysql: mysqlRestore!.output, redis: redisRestore!.output },
    });
  }, 900_000);

  it("fails the Redis primary over when its box's Redis and Sentinel are SIGKILLed during writes, and loses no acknowledged write", async () => {
    const [primary, ...replicas] = byRole("redis");
    const loading = loadInCluster("redis", 45);
    await sleep(5000);
    const killedAt = Date.now();
    await crash(primary!, ["redis-server", "redis-sentinel"], ["redis-server", "redis-sentinel"]);
    try {
      // The Sentinels promote a replica, then the app is healthy through the new primary. The app may
      // never be seen unhealthy in between (its checks run every few seconds, each within 1.5 s), so
      // the wait is for the promotion, not for a dip (a run at 22:10 failed waiting for the dip).
      await eventually("a replica promoted", async () => ((await Promise.all(replicas.map(redisRole))).includes("master") ? true : undefined), 60);
      await eventually("the app healthy again", () => appHealth().then((health) => (health.redis === "healthy" ? true : undefined)), 120);
      const healthyAt = Date.now();
      const report = await loading;
      const promoted = report.changes.find((change) => change.atEpochMs > killedAt && replicas.some((replica) => replica.address === change.value));
      const killedOnLoadClock = killedAt - report.record.startedAt;
      const summary = summarize(report.record);
      record("redisPrimaryKilled", {
        secondsToNewPrimary: seconds(promoted && promoted.atEpochMs - killedAt),
        secondsToHealthyApp: seconds(healthyAt - killedAt),
        secondsToFirstWriteAfterKill: seconds(
          (firstAcknowledgedAfter(report.record.outcomes, killedOnLoadClock + 1000)?.endedMs ?? Number.NaN) - killedOnLoadClock,
        ),
        writesAcknowledged: summary.acknowledged,
        writesFailed: summary.failed,
        acknowledgedWritesLost: report.lost,
        primaries: report.changes,
      });
      expect(promoted, JSON.stringify(report.changes)).toBeDefined();
      expect(report.lost).toBe(0);
    } finally {
      // The old primary returns, even after a failed check, so the steps after this test find it unmasked.
      await restore(primary!, ["redis-server", "redis-sentinel"]);
    }
    // It follows the new primary, as Sentinel reconfigures it.
    await eventually("the old Redis primary to follow the new one", async () => ((await redisRole(primary!)) === "slave" ? true : undefined), 120);
  }, 600_000);

  it("moves the shared address when the keepalived MASTER balancer stops, under HTTP load", async () => {
    const holds = async (machine: Machine) => (await machine.sshAsync("ip -o -4 addr show")).includes(` ${shared.address}/`);
    const balancers = byRole("loadbalancer");
    const master = await eventually("a balancer holding the address", async () =>
      (await holds(balancers[0]!)) ? balancers[0] : (await holds(balancers[1]!)) ? balancers[1] : undefined,
    );
    const backup = balancers.find((balancer) => balancer !== master)!;
    const { summary, during, servedAfter } = await httpUnderFault(async () => {
      const stoppedAt = Date.now();
      await master!.sshAsync("systemctl stop keepalived haproxy");
      await eventually("the address on the other balancer", async () => ((await holds(backup)) ? true : undefined), 60);
      return { secondsToMove: seconds(Date.now() - stoppedAt) };
    });
    record("masterBalancerStopped", { ...during, ...brief(summary) });
    // Back as BACKUP (nopreempt): the address stays where it moved.
    await master!.sshAsync("systemctl start haproxy keepalived");
    expect(servedAfter).toBe(true);
  }, 300_000);

  it("serves on when a web node's nginx and PHP-FPM are SIGKILLed under HTTP load, with at most 1 % failed", async () => {
    const [, stopped] = byRole("web");
    try {
      const { summary } = await httpUnderFault(() => stopped!.sshAsync(killProcessesNamed(["nginx", "php-fpm8.2"])));
      record("webNodeKilled", brief(summary));
      expect(summary.failureRate).toBeLessThanOrEqual(0.01);
    } finally {
      // By name: a SIGKILLed pool's unit is failed, and reset-failed unloads it, so a glob would match nothing.
      await restartAfterKill(stopped!, ["nginx", `php8.2-fpm-site@${siteUser(shop)}.service`]);
    }
    await bothWebNodesServing(120);
  }, 300_000);

  it("finishes a scale job whose worker is SIGKILLed mid-job once systemd restarts it: no job lost, no session twice", async () => {
    const [worker] = byRole("worker");
    type JobState = { state: string; currentSessions?: number; attemptsMade: number; failedReason: string | null };
    // Enough sessions for the job to run for seconds on the cluster (about 10,000 a second here).
    const target = 150_000;
    const queued = await api<{ jobId: string; currentSessions: number }>("POST", "/api/embed/scale-million", { targetSessions: target });
    const job = () => api<JobState>("GET", `/api/jobs/${queued.jobId}`);
    let seen: JobState | undefined;
    const midJob = await eventually(
      "the job half done",
      async () => {
        await sleep(200);
        seen = await job();
        return seen.state === "active" && (seen.currentSessions ?? 0) > queued.currentSessions ? seen : undefined;
      },
      120,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last seen ${JSON.stringify(seen)}`);
    });
    const unit = "orchestrator-worker.service";
    const killedPid = (await worker!.sshAsync(`systemctl show -p MainPID --value ${unit}`)).trim();
    const killedAt = Date.now();
    await worker!.sshAsync(`kill -KILL ${killedPid}`);
    const back = await eventually(
      "the worker restarted by systemd",
      async () => {
        const pid = (await worker!.sshAsync(`systemctl show -p MainPID --value ${unit}`)).trim();
        return pid !== killedPid && pid !== "0" ? Date.now() : undefined;
      },
      60,
    );
    // BullMQ finds the job stalled once its lock (30 s) lapses and its stalled check (every 30 s) runs.
    const done = await eventually(
      "the job completed",
      async () => {
        await sleep(500);
        const state = await job();
        if (state.state === "failed") throw new Error(`the job failed: ${state.failedReason}`);
        return state.state === "completed" ? state : undefined;
      },
      300,
    );
    const completedAt = Date.now();
    const [primary] = byRole("mysql");
    const sessions = Number((await primary!.sshAsync("mariadb -N -e 'SELECT COUNT(*) FROM megaweb.sessions'")).trim());
    record("workerKilledMidJob", {
      sessionsAtKill: midJob.currentSessions,
      target,
      secondsToWorkerRestarted: seconds(back - killedAt),
      secondsToJobCompleted: seconds(completedAt - killedAt),
      jobState: done.state,
      attemptsMade: done.attemptsMade,
      sessions,
      jobsLost: done.state === "completed" ? 0 : 1,
    });
    expect(done.currentSessions).toBe(target);
    expect(sessions).toBe(target);
  }, 600_000);

  it("promotes a MySQL replica after the primary is SIGKILLed during committed writes: none lost, never two writable", async () => {
    const servers = byRole("mysql");
    const [primary, replica] = servers;
    const loading = loadInCluster("mysql", 45);
    await sleep(5000);
    const killedAt = Date.now();
    await crash(primary!, ["mariadb"], ["mariadbd"]);
    const promotion = await replica!.sshAsync("megaweb-mysql-replication promote 2>&1", 180_000);
    const promotedAt = Date.now();
    const report = await loading;
    const killedOnLoadClock = killedAt - report.record.startedAt;
    const summary = summarize(report.record);
    const writableCounts = report.changes.map((change) => Number(change.value));
    record("mysqlPrimaryKilledThenPromoted", {
      secondsToPromoted: seconds(promotedAt - killedAt),
      secondsToFirstCommitAfterKill: seconds(
        (firstAcknowledgedAfter(report.record.outcomes, killedOnLoadClock + 1000)?.endedMs ?? Number.NaN) - killedOnLoadClock,
      ),
      commitsAcknowledged: summary.acknowledged,
      commitsFailed: summary.failed,
      committedWritesLost: report.lost,
      mostWritableAtOnce: Math.max(...writableCounts),
      promotion: promotion.trim().split("\n").slice(-3),
    });
    expect(report.lost).toBe(0);
    expect(Math.max(...writableCounts)).toBeLessThanOrEqual(1);
    const survivors = servers.slice(1);
    const writers: Machine[] = [];
    for (const server of survivors) if (!(await readOnly(server))) writers.push(server);
    expect(writers).toHaveLength(1);
    const follower = survivors.find((server) => server !== writers[0])!;
    expect(await follower.sshAsync("mariadb -e 'SHOW SLAVE STATUS\\G'")).toContain(`Master_Host: ${writers[0]!.address}`);

    // The old primary returns read-only: following the new primary, or fenced.
    await restore(primary!, ["mariadb"]);
    expect(await eventually("the old MySQL primary answering", () => readOnly(primary!), 120)).toBe(true);
    record("mysqlOldPrimaryReturned", (await primary!.sshAsync("megaweb-mysql-replication status 2>&1 || true")).trim().split("\n"));
  }, 600_000);

  it("refuses a database restore on the old MySQL primary, now read-only, and backs up its copy only while it replicates", async () => {
    const [oldPrimary] = byRole("mysql");
    const refused = await oldPrimary!.sshAsync(`megaweb-restore app 2>&1; echo "exit $?"`, 120_000);
    expect(refused).toMatch(
      /^megaweb-restore: MariaDB here is (a replica of [\d.]+:3306 \(read_only=1\)|read-only \(read_only=1\) and follows no primary: [^.]*)\. Loading a dump here would write into a replica and break replication, so nothing was restored: make this server the primary first with `megaweb-mysql-replication promote --to [\d.]+:3306`/m,
    );
    expect(refused.trim().split("\n").at(-1)).toBe("exit 1");
    const state = await replicaState(oldPrimary!);
    const backup = await oldPrimary!.sshAsync(
      `systemctl start megaweb-backup.service >/dev/null 2>&1; echo "exit $?"; journalctl -u megaweb-backup.service -o cat --no-pager | grep '^megaweb-backup: ' | tail -n 2`,
      600_000,
    );
    record("afterMysqlFailover", { oldPrimary: state, restore: refused.trim().split("\n"), backup: backup.trim().split("\n") });
    if (state.io === "Yes" && state.sql === "Yes") {
      expect(backup).toMatch(/^exit 0$/m);
      expect(backup).toMatch(/^megaweb-backup: MariaDB here is a replica of [\d.]+:3306 \(\d+ s behind\): the dumps are its copy$/m);
    } else {
      expect(backup).toMatch(/^exit 1$/m);
      expect(backup).toContain("so nothing was backed up");
    }
  }, 900_000);

  it("finds nothing to change after the failovers, and an up points nothing back at the old primaries", async () => {
    await timings.time("no-change preview after the failovers (s)", () => local.pulumiAsync(["preview", "--expect-no-changes"], 900));
    await timings.time("no-change up after the failovers (s)", () => local.pulumiAsync(["up", "--yes", "--skip-preview", "--expect-no-changes"], 900));
    // A no-change up runs no step; what must not fight the failovers is a step that does run again
    // (a changed file, a replaced host's neighbours): the old primaries' own steps and the Sentinels'.
    const state = JSON.parse((await local.pulumiAsync(["stack", "export"])).stdout) as { deployment: { resources: { urn: string }[] } };
    const rerun = state.deployment.resources
      .map((resource) => resource.urn)
      .filter((urn) => /-(redis-1-redis|redis-1-redis-replication|redis-\d-sentinel|mysql-1-mysql|mysql-1-mysql-replication)$/.test(urn));
    expect(rerun, JSON.stringify(rerun)).toHaveLength(7);
    await timings.time("up re-running the old primaries' and the Sentinels' steps (s)", () =>
      local.pulumiAsync(["up", "--yes", "--skip-preview", ...rerun.flatMap((urn) => ["--replace", urn])], 900),
    );
    const [oldRedisPrimary] = byRole("redis");
    expect(await redisRole(oldRedisPrimary!)).toBe("slave");
    const [oldMysqlPrimary, ...survivors] = byRole("mysql");
    expect(await readOnly(oldMysqlPrimary!)).toBe(true);
    expect((await Promise.all(survivors.map(readOnly))).filter((isReadOnly) => !isReadOnly)).toHaveLength(1);
  }, 2_000_000);
});
