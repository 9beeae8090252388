/**
 * A bounded write load against the cluster's MySQL or Redis, run inside the cluster: the e2e
 * bundles it (`bundleStoreLoad`) and runs it with the worker's Node.js over SSH, because the data
 * tier's firewalls admit only their client roles and the hardened sshd forwards no ports. It
 * reads its servers and credentials from the app's environment file on that host, so no secret
 * travels on a command line, and prints one JSON `StoreLoadReport` on stdout.
 *
 *   node - redis|mysql SECONDS < store-load.js
 *
 * redis: RPUSHes numbered values through the Sentinels (following failovers), watching which
 * server the Sentinels name; at the end it reads the list back and counts acknowledged values
 * missing from it. mysql: INSERTs numbered rows into the app's database on whichever server is
 * writable (re-found after a failure), sampling how many servers are writable at once; at the end
 * it reads the rows back from the writable server and counts committed rows missing.
 */
import { readFileSync } from "node:fs";
import Redis from "ioredis";
import { type Connection, createConnection } from "mysql2/promise";
import { type LoadRecord, startLoad, startSampler } from "./measure";

export interface StoreLoadReport {
  readonly record: LoadRecord<number>;
  /** Acknowledged operations whose value is not in the store at the end. */
  readonly lost: number;
  /** Epoch ms and value of each change of the watched property: the Redis primary's address, or the number of writable MySQL servers. */
  readonly changes: readonly { readonly atEpochMs: number; readonly value: string | number }[];
}

const environmentFile = "/etc/megaweb/orchestrator.env";
const settings = Object.fromEntries(
  readFileSync(environmentFile, "utf8")
    .split("\n")
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
);
const setting = (name: string) => {
  const value = settings[name];
  if (value === undefined) throw new Error(`${environmentFile} has no ${name}`);
  return value;
};

/** Gentle enough for a loaded 2-core host, dense enough to see a few seconds' outage. */
const bounds = (seconds: number) => ({ maxOperations: 50_000, maxSeconds: seconds, concurrency: 2, pauseMs: 20, timeoutMs: 3000 });

/** Keeps the samples where the value changed, so the report stays small. */
function changesOf<T extends string | number>(samples: readonly { atMs: number; value: T }[], startedAt: number) {
  return samples
    .filter((sample, index) => index === 0 || sample.value !== samples[index - 1]!.value)
    .map((sample) => ({ atEpochMs: startedAt + sample.atMs, value: sample.value }));
}

async function redisLoad(seconds: number): Promise<StoreLoadReport> {
  const sentinels = setting("MEGAWEB_REDIS_SENTINELS")
    .split(",")
    .map((entry) => ({ host: entry.slice(0, entry.lastIndexOf(":")), port: Number(entry.slice(entry.lastIndexOf(":") + 1)) }));
  const name = setting("MEGAWEB_REDIS_MASTER_NAME");
  const sentinelPassword = setting("MEGAWEB_REDIS_SENTINEL_PASSWORD");
  const client = new Redis({
    sentinels,
    name,
    password: setting("MEGAWEB_REDIS_PASSWORD"),
    sentinelPassword,
    // No failoverDetector, like the app (app/src/redis.ts): it ends the client when the primary's box dies with its Sentinel.
    maxRetriesPerRequest: 3,
    // A write that reached a demoted primary is refused, not lost: reconnect through the Sentinels.
    reconnectOnError: (error) => (error.message.startsWith("READONLY") ? 2 : false),
  });
  client.on("error", () => undefined);
  const asked = sentinels.map((sentinel) => new Redis({ ...sentinel, password: sentinelPassword, lazyConnect: true, maxRetriesPerRequest: 1 }));
  for (const sentinel of asked) sentinel.on("error", () => undefined);
  const namedPrimary = async () => {
    for (const sentinel of asked) {
      const answer = await sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name).catch(() => undefined);
      if (Array.isArray(answer)) return String(answer[0]);
    }
    return "none answers";
  };
  const key = `megaweb:fault-load:${Date.now()}`;
  const startedAt = Date.now();
  const watch = startSampler(namedPrimary, { intervalMs: 200, maxSeconds: seconds + 30 });
  const record = await startLoad(async (index) => (await client.rpush(key, String(index)), index), bounds(seconds)).done;
  const samples = await watch.stop();
  const stored = new Set((await client.lrange(key, 0, -1)).map(Number));
  await client.del(key);
  client.disconnect();
  for (const sentinel of asked) sentinel.disconnect();
  return { record, lost: lostOf(record, stored), changes: changesOf(samples, startedAt) };
}

async function mysqlLoad(seconds: number): Promise<StoreLoadReport> {
  const servers = [setting("MEGAWEB_DB_URL"), ...setting("MEGAWEB_DB_REPLICA_URLS").split(",")].map((url) => new URL(url));
  const connect = (server: URL) =>
    createConnection({
      host: server.hostname,
      port: Number(server.port || 3306),
      user: decodeURIComponent(server.username),
      password: decodeURIComponent(server.password),
      database: server.pathname.slice(1),
      connectTimeout: 2000,
    });
  const withConnection = async <T>(server: URL, work: (connection: Connection) => Promise<T>) => {
    const connection = await connect(server);
    try {
      return await work(connection);
    } finally {
      connection.destroy();
    }
  };
  const writable = (server: URL) =>
    withConnection(server, async (connection) => ((await connection.query("SELECT @@read_only AS ro"))[0] as { ro: number }[])[0]!.ro === 0).catch(() => false);
  const findWriter = async () => {
    for (const server of servers) if (await writable(server)) return server;
    return undefined;
  };

  let writer = await findWriter();
  if (writer === undefined) throw new Error("no MySQL server is writable");
  const table = "megaweb_fault_load";
  await withConnection(writer, async (connection) => {
    await connection.query(`CREATE TABLE IF NOT EXISTS ${table} (n INT PRIMARY KEY)`);
    await connection.query(`DELETE FROM ${table}`);
  });
  const startedAt = Date.now();
  const watch = startSampler(async () => (await Promise.all(servers.map(writable))).filter(Boolean).length, { intervalMs: 200, maxSeconds: seconds + 30 });
  const record = await startLoad(async (index) => {
    const target = writer ?? (writer = await findWriter());
    if (target === undefined) throw new Error("no MySQL server is writable");
    try {
      await withConnection(target, (connection) => connection.query(`INSERT INTO ${table} (n) VALUES (?)`, [index]));
      return index;
    } catch (error) {
      writer = undefined;
      throw error;
    }
  }, bounds(seconds)).done;
  const samples = await watch.stop();
  const finalWriter = await findWriter();
  if (finalWriter === undefined) throw new Error("no MySQL server is writable after the load");
  const rows = await withConnection(finalWriter, async (connection) => (await connection.query(`SELECT n FROM ${table}`))[0] as { n: number }[]);
  await withConnection(finalWriter, (connection) => connection.query(`DROP TABLE ${table}`));
  return { record, lost: lostOf(record, new Set(rows.map((row) => row.n))), changes: changesOf(samples, startedAt) };
}

function lostOf(record: LoadRecord<number>, stored: ReadonlySet<number>): number {
  return record.outcomes.filter((outcome) => outcome.ok && !stored.has(outcome.value!)).length;
}

const [store, seconds] = process.argv.slice(2);
const loads: Record<string, (seconds: number) => Promise<StoreLoadReport>> = { redis: redisLoad, mysql: mysqlLoad };
const load = loads[store ?? ""];
if (load === undefined || !(Number(seconds) > 0)) throw new Error("usage: store-load redis|mysql SECONDS");
load(Number(seconds)).then(
  (report) => process.stdout.write(`${JSON.stringify(report)}\n`),
  (error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
