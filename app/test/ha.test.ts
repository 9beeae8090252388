import { createServer, type Server, type Socket } from "node:net";
import mysql from "mysql2/promise";
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHECK_TIMEOUT_MS } from "../src/health";
import { replicate, startMariaDb, startRedis, startSentinel, type MariaDbServer, type RedisServer } from "./support/backends";
import { eventually, startOrchestrator, type RunningOrchestrator } from "./support/orchestrator";

/** The app against the HA shapes the library deploys: a MariaDB replica for reads, Redis behind Sentinel. */

let primary: MariaDbServer;
let replica: MariaDbServer;
let master: RedisServer & { password: string };
let standby: RedisServer & { password: string };
let sentinel: RedisServer;

beforeAll(async () => {
  [primary, replica] = await Promise.all([startMariaDb({ serverId: 1 }), startMariaDb({ serverId: 2 })]);
  await replicate(primary, replica);
  master = await startRedis();
  standby = await startRedis({ password: master.password, replicaOf: master });
  sentinel = await startSentinel(master);
});
afterAll(async () => {
  await Promise.all([primary, replica, master, standby, sentinel].filter(Boolean).map((server) => server.stop()));
});

async function sessionBody(run: RunningOrchestrator, id: string) {
  return (await run.api(`/api/sessions/${id}`)).body;
}

describe("MariaDB read replica", () => {
  let run: RunningOrchestrator;
  let replicaControl: mysql.Connection;
  beforeAll(async () => {
    const backends = { mariadb: primary, redis: master };
    run = await startOrchestrator(backends, {
      env: {
        // The database is created on the primary after replication started, so the replica has it too.
        MEGAWEB_DB_REPLICA_URLS: replica.urlFor(`megaweb_${process.pid}_1`),
      },
    });
    replicaControl = await mysql.createConnection({ uri: replica.rootUrl });
  });
  afterAll(async () => {
    await replicaControl?.end();
    await run?.stop();
  });

  it("reads from the replica and writes to the primary, and health shows the replica's lag", async () => {
    const { body: first } = await run.api("/api/sessions", { method: "POST", body: { url: "https://replicated.example" } });
    await eventually("the replica to have the session", async () => ((await sessionBody(run, first.id)).id === first.id ? true : undefined));
    const healthy = await run.api("/api/health");
    expect(healthy.body).toMatchObject({ status: "healthy", database_replicas: [{ index: 0, status: "healthy", lag_seconds: 0 }] });

    await replicaControl.query("STOP SLAVE SQL_THREAD");
    const { body: second } = await run.api("/api/sessions", { method: "POST", body: { url: "https://stale.example" } });
    expect(second.url).toBe("https://stale.example");
    // Written to the primary, not yet applied on the replica that answers reads.
    expect((await run.api(`/api/sessions/${second.id}`)).status).toBe(404);
    expect((await run.api("/api/health")).body).toMatchObject({
      status: "degraded",
      database_replicas: [{ status: "not_replicating", lag_seconds: null }],
    });

    await replicaControl.query("START SLAVE SQL_THREAD");
    await eventually("the replica to catch up", async () => ((await run.api(`/api/sessions/${second.id}`)).status === 200 ? true : undefined));
  });
});

describe("health with a dependency that hangs", () => {
  let run: RunningOrchestrator;
  let silent: Server;
  const held: Socket[] = [];
  beforeAll(async () => {
    // Accepts connections and never says a word, as a replica whose host froze: mysql2 waits 10 s for the handshake.
    silent = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    const frozen = `mysql://megaweb:unused@127.0.0.1:${port}/megaweb`;
    run = await startOrchestrator({ mariadb: primary, redis: master }, { env: { MEGAWEB_DB_REPLICA_URLS: `${frozen},${frozen}` } });
  });
  afterAll(async () => {
    // Hung up, and their handshakes' failure settled, before the pools end: a pool ended with a
    // handshake pending rejects with that handshake's error.
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent?.close(resolve));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await run?.stop();
  });

  it("answers within one check's timeout, the frozen replicas unhealthy and the rest checked beside them", async () => {
    const started = Date.now();
    const health = await run.api("/api/health");
    const tookMs = Date.now() - started;
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: "degraded",
      database: "healthy",
      redis: "healthy",
      database_replicas: [
        { index: 0, status: "unhealthy", lag_seconds: null },
        { index: 1, status: "unhealthy", lag_seconds: null },
      ],
    });
    expect(health.body.queue).toMatchObject({ waiting: 0, failed: 0 });
    expect(tookMs).toBeGreaterThanOrEqual(CHECK_TIMEOUT_MS - 50);
    expect(tookMs).toBeLessThan(CHECK_TIMEOUT_MS + 1000);
  });
});

describe("Redis through Sentinel", () => {
  it("queues and reconciles through the master Sentinel names, before and after a failover", async () => {
    const backends = { mariadb: primary, redis: master };
    const run = await startOrchestrator(backends, {
      worker: true,
      env: {
        MEGAWEB_REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
        MEGAWEB_REDIS_MASTER_NAME: "mymaster",
        MEGAWEB_REDIS_PASSWORD: master.password,
      },
    });
    const sentinelClient = new Redis(sentinel.url);
    try {
      const { body: session } = await run.api("/api/sessions", { method: "POST", body: { url: "https://sentinel.example" } });
      await run.api(`/api/sessions/${session.id}/scale`, { method: "POST", body: { target_replicas: 5 } });
      await eventually("5 replicas", async () => ((await sessionBody(run, session.id)).active_replica_count === 5 ? true : undefined));

      const standbyClient = new Redis(standby.url);
      await eventually("the standby to be in sync", async () => (/master_link_status:up/.test(await standbyClient.info("replication")) ? true : undefined));
      standbyClient.disconnect();
      await sentinelClient.call("SENTINEL", "FAILOVER", "mymaster");
      await eventually("Sentinel to name the standby as master", async () => {
        const [, port] = (await sentinelClient.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")) as string[];
        return Number(port) === standby.port ? true : undefined;
      });

      await run.api(`/api/sessions/${session.id}/scale`, { method: "POST", body: { target_replicas: 9 } });
      await eventually("9 replicas after the failover", async () => ((await sessionBody(run, session.id)).active_replica_count === 9 ? true : undefined));
      expect((await run.api("/api/health")).body).toMatchObject({ status: "healthy", redis: "healthy" });
    } finally {
      sentinelClient.disconnect();
      await run.stop();
    }
  });
});
