import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderBackupHost, type BackupHost, type BackupRender } from "../../lib/render/backup";
import type { Backups } from "../../lib/schema/backups";
import { parseStack } from "../../lib/schema/stack";
import { LoopbackSshd } from "../engine/sshd";
import { eventually } from "../faults/measure";
import { portsBelowEphemeral } from "../monitoring/loopback";
import { MariaDbCluster, query, type ClusterServer } from "../replication/mariadb-cluster";
import { masterName, RedisCluster, type RedisInstance } from "../replication/redis-cluster";
import { removeRoot, scratchRoot, writeHostFile } from "./harness";

/**
 * Backups and restores where the data is replicated, on loopback: a MariaDB primary and its
 * replica (GTID, semi-sync) and a Redis primary with two replicas and three Sentinels, each set up
 * by the rendered replication steps, and restic over SFTP on a throw-away sshd. megaweb-backup and
 * megaweb-restore run as rendered for the plan's primaries, and for a replica as the plan's
 * primary is one after a failover. The ha e2e does the same on local machines; here each refusal
 * and each replica state is caused on purpose.
 */

const siteDatabase = "shop_megaweb_test";
const appDatabase = "megaweb";
const password = randomBytes(24).toString("base64url");

let mysqlCluster: MariaDbCluster;
let redisCluster: RedisCluster;
let sshd: LoopbackSshd;
let repositories: string;
let backups: Backups;
const figures: Record<string, string> = {};

/** A host's backup files as its backup step leaves them, with the password and the SFTP key in place. */
function install(host: Omit<BackupHost, "backups">): BackupRender {
  const render = renderBackupHost({ ...host, backups });
  for (const file of render.files) writeHostFile(file.path, file.content, file.mode ?? "0644");
  writeHostFile(render.passwordFile, `${password}\n`, "0600");
  writeHostFile(render.identityFile!, sshd.privateKey, "0600");
  return render;
}

const mysqlHost = (server: ClusterServer, name: string) =>
  install({
    name,
    root: server.root,
    sites: [{ domain: "shop.megaweb.test", database: siteDatabase, paths: [], excludes: [] }],
    appDatabase,
    mariadbSocket: join(server.root, "run/mysqld/mysqld.sock"),
  });
const redisHost = (server: RedisInstance, name: string) => install({ name, root: server.root, sites: [], redis: { port: server.port } });

function run(script: string, args: string[] = []) {
  const started = performance.now();
  const result = spawnSync(script, args, { encoding: "utf8", timeout: 300_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}`, ms: Math.round(performance.now() - started) };
}

const backupOf = (render: BackupRender) => run(render.backupScript);

// --- MariaDB -----------------------------------------------------------------------------------

const [primaryIndex, replicaIndex] = [0, 1];
const mysql = (index: number) => mysqlCluster.servers[index]!;

async function counts(server: ClusterServer): Promise<string> {
  const [row] = await query(
    server,
    `SELECT (SELECT COUNT(*) FROM ${siteDatabase}.orders) AS orders, (SELECT SUM(CRC32(note)) FROM ${siteDatabase}.orders) AS sum,
            (SELECT COUNT(*) FROM ${appDatabase}.accounts) AS accounts`,
  );
  return `${row!.orders} ${row!.sum} ${row!.accounts}`;
}

/** The replica once it has applied everything the primary logged: its threads, errors and position against the primary's. */
async function replicaInStep(): Promise<{ io: string; sql: string; errors: string; replicaPosition: string; primaryPosition: string }> {
  const [{ position }] = (await query(mysql(primaryIndex), "SELECT @@gtid_binlog_pos AS position")) as { position: string }[];
  await query(mysql(replicaIndex), "SELECT MASTER_GTID_WAIT(?, 30)", [position]);
  const [status] = await query(mysql(replicaIndex), "SHOW SLAVE STATUS");
  const positions = await Promise.all([primaryIndex, replicaIndex].map(async (index) => (await query(mysql(index), "SELECT @@gtid_current_pos AS p"))[0]!.p));
  return {
    io: status!.Slave_IO_Running,
    sql: status!.Slave_SQL_Running,
    errors: `${status!.Last_IO_Error}${status!.Last_SQL_Error}`,
    primaryPosition: positions[0],
    replicaPosition: positions[1],
  };
}

// --- Redis -------------------------------------------------------------------------------------

const redisServer = (index: number) => redisCluster.servers[index]!;

/**
 * Every key of every database the test writes to as `db key → type and value` (a set's members
 * sorted: its DUMP's order is not the set's), and the TTLs apart.
 */
async function keyspace(server: RedisInstance): Promise<{ values: Map<string, string>; ttls: Map<string, number> }> {
  const client = redisCluster.client(server);
  const values = new Map<string, string>();
  const ttls = new Map<string, number>();
  const hex = (value: unknown): unknown => (Buffer.isBuffer(value) ? value.toString("hex") : Array.isArray(value) ? value.map(hex) : value);
  const results = async (pipeline: ReturnType<Redis["pipeline"]>) =>
    (await pipeline.exec())!.map(([error, value]) => {
      if (error) throw error;
      return value;
    });
  try {
    for (const db of [0, 2]) {
      await client.select(db);
      const keys = (await client.keysBuffer("*")).sort(Buffer.compare);
      const types = await results(keys.reduce((pipeline, key) => pipeline.type(key), client.pipeline()));
      const reads = client.pipeline();
      keys.forEach((key, index) => {
        switch (types[index]) {
          case "string":
            reads.getBuffer(key);
            break;
          case "hash":
            reads.hgetallBuffer(key);
            break;
          case "list":
            reads.lrangeBuffer(key, 0, -1);
            break;
          case "set":
            reads.smembersBuffer(key);
            break;
          default:
            reads.zrangeBuffer(key, 0, -1, "WITHSCORES");
        }
        reads.pttl(key);
      });
      const answers = await results(reads);
      keys.forEach((key, index) => {
        const name = `${db} ${key.toString("hex")}`;
        let value = hex(answers[2 * index]);
        if (types[index] === "set") value = (value as string[]).sort();
        if (types[index] === "hash")
          value = Object.entries(value as Record<string, Buffer>)
            .map(([field, each]) => `${field}=${each.toString("hex")}`)
            .sort();
        values.set(name, `${types[index]} ${JSON.stringify(value)}`);
        ttls.set(name, answers[2 * index + 1] as number);
      });
    }
  } finally {
    client.disconnect();
  }
  return { values, ttls };
}

async function replicationInfo(client: Redis): Promise<Record<string, string>> {
  return Object.fromEntries(
    (await client.info("replication"))
      .split("\r\n")
      .filter((line) => line.includes(":"))
      .map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1)]),
  );
}

/** What each Sentinel says of the primary: its address and the epoch a failover would raise. */
async function sentinelViews(): Promise<string[]> {
  return Promise.all(
    redisCluster.sentinels.map(async (sentinel) => {
      const client = redisCluster.sentinelClient(sentinel);
      try {
        const fields = (await client.call("SENTINEL", "MASTER", masterName)) as string[];
        const view = Object.fromEntries(fields.flatMap((value, index) => (index % 2 === 0 ? [[value, fields[index + 1]]] : [])));
        return `${view.ip}:${view.port} epoch ${view["config-epoch"]} ${view.flags}`;
      } finally {
        client.disconnect();
      }
    }),
  );
}

/** Lines in which a Sentinel saw the primary down, over all three logs. */
const downSightings = () =>
  redisCluster.sentinels.flatMap((sentinel) =>
    readFileSync(join(sentinel.root, "var/log/redis/redis-sentinel.log"), "utf8")
      .split("\n")
      .filter((line) => /[+-](s|o)down master|\+switch-master|\+failover/.test(line)),
  );

async function writeRedisData(): Promise<void> {
  const client = redisCluster.client(redisServer(0));
  try {
    await client.mset(Object.fromEntries(Array.from({ length: 2000 }, (_, index) => [`key:${index}`, `value-${index}`])));
    for (let index = 0; index < 200; index++) await client.set(`session:${index}`, randomBytes(64).toString("hex"), "EX", 3600);
    await client.hset("hash", { a: "1", b: "2" });
    await client.rpush("queue", "job-1", "job-2", "job-3");
    await client.zadd("delayed", 1, "job-4", 2, "job-5");
    await client.set(Buffer.from([0x6b, 0x00, 0xff, 0x0a, 0x20]), Buffer.from([0x00, 0x01, 0xfe, 0xff]));
    await client.select(2);
    await client.sadd("other-database", "x", "y");
  } finally {
    client.disconnect();
  }
}

beforeAll(async () => {
  // One call: two would each see the other's ports free and could hand out the same ones.
  const ports = await portsBelowEphemeral(8);
  [mysqlCluster, redisCluster, sshd] = await Promise.all([
    MariaDbCluster.start(ports.slice(0, 2), randomBytes(24).toString("base64url")),
    RedisCluster.start(ports.slice(2, 5), ports.slice(5, 8), randomBytes(24).toString("base64url"), randomBytes(24).toString("base64url")),
    LoopbackSshd.start(),
  ]);
  for (const server of mysqlCluster.servers) await mysqlCluster.runStep(server);
  for (const server of redisCluster.servers) await redisCluster.runRedisStep(server);
  for (const sentinel of redisCluster.sentinels) await redisCluster.runSentinelStep(sentinel);
  const client = redisCluster.sentinelClient(redisCluster.sentinels[0]!);
  await eventually(
    "every Sentinel and replica known",
    async () => {
      const fields = (await client.call("SENTINEL", "MASTER", masterName)) as string[];
      const view = Object.fromEntries(fields.flatMap((value, index) => (index % 2 === 0 ? [[value, fields[index + 1]]] : [])));
      return view["num-other-sentinels"] === "2" && view["num-slaves"] === "2" ? true : undefined;
    },
    60,
  );
  client.disconnect();

  repositories = scratchRoot("backup-repositories");
  backups = parseStack({
    sites: [{ domain: "shop.megaweb.test", database: {} }],
    backups: { destination: { kind: "sftp", host: "127.0.0.1", port: sshd.port, user: "root", path: repositories, hostKey: sshd.hostKey } },
  }).backups!;
}, 300_000);

afterAll(async () => {
  await Promise.all([mysqlCluster?.stop(), redisCluster?.stop(), sshd?.stop()]);
  if (repositories !== undefined) removeRoot(repositories);
  console.log(
    Object.entries(figures)
      .map(([name, value]) => `${name}: ${value}`)
      .join("\n"),
  );
}, 120_000);

describe("backups and restores of replicated MariaDB", () => {
  let primary: BackupRender;
  let replica: BackupRender;

  beforeAll(async () => {
    primary = mysqlHost(mysql(primaryIndex), "mysql-1");
    // The plan's primary once a promotion made another server the primary: what its files say stays, its server's state changed.
    replica = mysqlHost(mysql(replicaIndex), "mysql-2");
    for (const statement of [
      `CREATE DATABASE ${siteDatabase}`,
      `CREATE TABLE ${siteDatabase}.orders (id INT PRIMARY KEY, note VARCHAR(100))`,
      `CREATE DATABASE ${appDatabase}`,
      `CREATE TABLE ${appDatabase}.accounts (id INT PRIMARY KEY, name VARCHAR(64))`,
    ])
      await query(mysql(primaryIndex), statement);
    await query(mysql(primaryIndex), `INSERT INTO ${siteDatabase}.orders VALUES ?`, [
      Array.from({ length: 5000 }, (_, id) => [id, `order ${id} ${randomBytes(8).toString("hex")}`]),
    ]);
    await query(mysql(primaryIndex), `INSERT INTO ${appDatabase}.accounts VALUES ?`, [Array.from({ length: 1000 }, (_, id) => [id, `account-${id}`])]);
  }, 120_000);

  it("restores both databases on the primary, and the replica follows: every row on both, replication running, the same GTID position", async () => {
    const before = await counts(mysql(primaryIndex));
    const backup = backupOf(primary);
    expect(backup.status, backup.output).toBe(0);
    expect(backup.output).not.toContain("replica");
    figures["backup of the primary"] = `${backup.ms} ms`;

    await query(mysql(primaryIndex), `DROP DATABASE ${siteDatabase}`);
    await query(mysql(primaryIndex), `DELETE FROM ${appDatabase}.accounts WHERE id >= 10`);
    await replicaInStep();
    await expect(counts(mysql(replicaIndex))).rejects.toThrow(/doesn't exist/);

    const restore = run(primary.restoreScript, ["all"]);
    expect(restore.status, restore.output).toBe(0);
    figures["restore of both databases on the primary"] = `${restore.ms} ms`;
    expect(restore.output).toMatch(new RegExp(`database ${siteDatabase} from snapshot [0-9a-f]{8}`));
    expect(restore.output).toMatch(new RegExp(`database ${appDatabase} from snapshot [0-9a-f]{8}`));

    const step = await replicaInStep();
    expect(step).toMatchObject({ io: "Yes", sql: "Yes", errors: "" });
    expect(step.replicaPosition).toBe(step.primaryPosition);
    expect(await counts(mysql(primaryIndex))).toBe(before);
    expect(await counts(mysql(replicaIndex))).toBe(before);
    // Replication goes on after the restore: a later write reaches the replica.
    await query(mysql(primaryIndex), `INSERT INTO ${siteDatabase}.orders VALUES (5000, 'after the restore')`);
    await replicaInStep();
    expect((await query(mysql(replicaIndex), `SELECT note FROM ${siteDatabase}.orders WHERE id = 5000`))[0]!.note).toBe("after the restore");
    await query(mysql(primaryIndex), `DELETE FROM ${siteDatabase}.orders WHERE id = 5000`);
  }, 180_000);

  it("refuses a restore on the replica before touching anything, naming its state and the promotion that would make it the primary", async () => {
    await query(mysql(primaryIndex), `DELETE FROM ${appDatabase}.accounts WHERE id = 0`);
    const positionBefore = (await replicaInStep()).replicaPosition;
    for (const args of [["app"], ["site", "shop.megaweb.test"], ["all"]]) {
      const refused = run(replica.restoreScript, args);
      expect(refused.status, refused.output).toBe(1);
      expect(refused.output.trim()).toBe(
        `megaweb-restore: MariaDB here is a replica of 127.0.0.1:${mysql(primaryIndex).port} (read_only=1). Loading a dump here would write into a replica and ` +
          `break replication, so nothing was restored: make this server the primary first with \`megaweb-mysql-replication promote --to 127.0.0.1:${mysql(replicaIndex).port}\` ` +
          "(it fences the current primary and waits for this one to catch up), then run megaweb-restore again.",
      );
    }
    const step = await replicaInStep();
    expect(step).toMatchObject({ io: "Yes", sql: "Yes", errors: "", replicaPosition: positionBefore });
    expect(Number((await query(mysql(replicaIndex), `SELECT COUNT(*) AS n FROM ${appDatabase}.accounts WHERE id = 0`))[0]!.n)).toBe(0);
    await query(mysql(primaryIndex), `INSERT INTO ${appDatabase}.accounts VALUES (0, 'account-0')`);
  }, 120_000);

  it("backs up the replica's copy while it replicates, and fails while its replication is stopped", async () => {
    const copy = backupOf(replica);
    expect(copy.status, copy.output).toBe(0);
    expect(copy.output).toMatch(
      new RegExp(`^megaweb-backup: MariaDB here is a replica of 127\\.0\\.0\\.1:${mysql(primaryIndex).port} \\(0 s behind\\): the dumps are its copy$`, "m"),
    );
    figures["backup of the replica"] = `${copy.ms} ms`;

    await query(mysql(replicaIndex), "STOP SLAVE");
    try {
      const lastSuccess = readFileSync(replica.lastSuccess, "utf8");
      const stale = backupOf(replica);
      expect(stale.status).not.toBe(0);
      expect(stale.output).toContain(
        `megaweb-backup: MariaDB here is a replica of 127.0.0.1:${mysql(primaryIndex).port} whose replication is not running (IO: No, SQL: No; ): ` +
          "its copy may be stale, so nothing was backed up",
      );
      expect(readFileSync(replica.lastSuccess, "utf8")).toBe(lastSuccess);
    } finally {
      await query(mysql(replicaIndex), "START SLAVE");
    }
    expect(await eventually("the replica replicating again", async () => ((await replicaInStep()).io === "Yes" ? true : undefined))).toBe(true);
  }, 120_000);

  it("refuses both on a read-only server that follows no primary, as a former primary a promotion fenced", async () => {
    await query(mysql(replicaIndex), "STOP SLAVE");
    await query(mysql(replicaIndex), "RESET SLAVE ALL");
    try {
      const backup = backupOf(replica);
      expect(backup.status).not.toBe(0);
      expect(backup.output).toContain("megaweb-backup: MariaDB here is read-only and follows no primary (a former primary that a promotion fenced)");
      const restore = run(replica.restoreScript, ["app"]);
      expect(restore.status).toBe(1);
      expect(restore.output).toContain(
        "megaweb-restore: MariaDB here is read-only (read_only=1) and follows no primary: a former primary that a promotion fenced. " +
          "Loading a dump here would write into a replica and break replication, so nothing was restored",
      );
    } finally {
      // Joins the writable primary again from its own position, as the unit's start would.
      expect((await mysqlCluster.tool(mysql(replicaIndex), "resume")).output).toContain("follows");
    }
    expect(await replicaInStep()).toMatchObject({ io: "Yes", sql: "Yes", errors: "" });
  }, 120_000);
});

describe("backups and restores of Redis behind Sentinel", () => {
  let primary: BackupRender;
  let replicaHost: BackupRender;
  let snapshot: Awaited<ReturnType<typeof keyspace>>;

  beforeAll(async () => {
    primary = redisHost(redisServer(0), "redis-1");
    replicaHost = redisHost(redisServer(1), "redis-2");
    await writeRedisData();
  });

  it("restores every key, TTLs kept, into the running primary and both replicas, with no Sentinel seeing the primary down", async () => {
    const backup = backupOf(primary);
    expect(backup.status, backup.output).toBe(0);
    snapshot = await keyspace(redisServer(0));
    expect(snapshot.values.size).toBe(2000 + 200 + 4 + 1);

    const client = redisCluster.client(redisServer(0));
    await client.flushall();
    await client.set("written-after-the-backup", "gone after the restore");
    client.disconnect();
    const [pid, views, sightings] = [redisServer(0).daemon!.pid, await sentinelViews(), downSightings()];

    const restore = run(primary.restoreScript, ["redis"]);
    expect(restore.status, restore.output).toBe(0);
    figures["restore of Redis (2,205 keys) into the primary"] = `${restore.ms} ms`;
    expect(restore.output).toMatch(
      new RegExp(`Redis from snapshot [0-9a-f]{8}: 2205 keys, into 127\\.0\\.0\\.1:${redisServer(0).port}; 2 of 2 replicas in step`),
    );

    // Nothing stopped: the same process, the same primary and epoch for every Sentinel, no down or failover in their logs.
    expect(redisServer(0).daemon!.pid).toBe(pid);
    expect(await sentinelViews()).toEqual(views);
    expect(downSightings()).toEqual(sightings);
    // Each server holds exactly the snapshot's keys, with their values and encodings, and the TTLs still run.
    for (const server of redisCluster.servers) {
      const restored = await keyspace(server);
      expect(restored.values).toEqual(snapshot.values);
      for (const [key, ttl] of snapshot.ttls) {
        if (ttl < 0) expect(restored.ttls.get(key), key).toBe(ttl);
        else expect(restored.ttls.get(key), key).toBeGreaterThan(3_500_000);
      }
    }
    for (const server of redisCluster.servers.slice(1)) {
      const replica = redisCluster.client(server);
      expect(await replicationInfo(replica)).toMatchObject({ role: "slave", master_port: String(redisServer(0).port), master_link_status: "up" });
      replica.disconnect();
    }
    expect(spawnSync("pgrep", ["-f", `${redisServer(0).root}/var/lib/megaweb/backup/restore`]).status).toBe(1);
  }, 180_000);

  it("on a replica's host, as the plan's primary is after a failover, backs up the replica's copy and restores into the primary it follows", async () => {
    const backup = backupOf(replicaHost);
    expect(backup.status, backup.output).toBe(0);
    const client = redisCluster.client(redisServer(0));
    await client.set("key:0", "changed later");
    await client.del("key:1", "hash");
    client.disconnect();

    const restore = run(replicaHost.restoreScript, ["redis"]);
    expect(restore.status, restore.output).toBe(0);
    expect(restore.output).toContain(
      `megaweb-restore: Redis here is a replica of 127.0.0.1:${redisServer(0).port} (a failover moved the primary): the keys go to that primary`,
    );
    expect(restore.output).toMatch(new RegExp(`2205 keys, into 127\\.0\\.0\\.1:${redisServer(0).port}; 2 of 2 replicas in step`));
    for (const server of redisCluster.servers) expect((await keyspace(server)).values).toEqual(snapshot.values);
  }, 180_000);

  it("refuses on a replica whose primary it cannot reach, and restores nothing", async () => {
    const replica = redisCluster.client(redisServer(1));
    // Pointed at a port nothing listens on, as a replica cut off from its primary is.
    const [closed] = await portsBelowEphemeral(1);
    await replica.call("REPLICAOF", "127.0.0.1", String(closed));
    try {
      const refused = run(replicaHost.restoreScript, ["redis"]);
      expect(refused.status).toBe(1);
      expect(refused.output).toContain(
        `megaweb-restore: Redis here is a replica of 127.0.0.1:${closed}, which it cannot reach (master_link_status:down): nothing was restored`,
      );
    } finally {
      await replica.call("REPLICAOF", "127.0.0.1", String(redisServer(0).port));
      replica.disconnect();
    }
    await eventually("the replica following the primary again", async () => {
      const again = redisCluster.client(redisServer(1));
      try {
        return (await replicationInfo(again)).master_link_status === "up" ? true : undefined;
      } finally {
        again.disconnect();
      }
    });
  }, 120_000);
});
