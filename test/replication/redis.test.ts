import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replicaBound, sentinelTuning } from "../../lib/render/redis-replication";
import { eventually, firstAcknowledgedAfter, startLoad, summarize } from "../faults/measure";
import { portsBelowEphemeral } from "../monitoring/loopback";
import { masterName, RedisCluster, type RedisInstance } from "./redis-cluster";

/**
 * A Redis primary, two replicas and three Sentinels on loopback, set up by the rendered steps; then
 * the primary killed during a stream of writes from a client that follows the Sentinels the way
 * the app's does, and the steps run again afterwards.
 */

let cluster: RedisCluster;

beforeAll(async () => {
  // One call: two would each see the other's ports free and could hand out the same ones.
  const ports = await portsBelowEphemeral(6);
  const [servers, sentinels] = [ports.slice(0, 3), ports.slice(3)];
  cluster = await RedisCluster.start(servers, sentinels, randomBytes(24).toString("base64url"), randomBytes(24).toString("base64url"));
});
afterAll(async () => {
  await cluster?.stop();
});

const info = async (server: RedisInstance) => {
  const client = cluster.client(server);
  try {
    return Object.fromEntries(
      (await client.info("replication"))
        .split("\r\n")
        .filter((line) => line.includes(":"))
        .map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1)]),
    );
  } finally {
    client.disconnect();
  }
};

/** What every Sentinel names as the primary, `host:port` each. */
async function namedPrimaries(): Promise<string[]> {
  return Promise.all(
    cluster.sentinels.map(async (sentinel) => {
      const client = cluster.sentinelClient(sentinel);
      try {
        return ((await client.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)) as string[]).join(":");
      } finally {
        client.disconnect();
      }
    }),
  );
}

/** A client that follows the Sentinels with the options app/src/redis.ts gives its request-path client. */
function appClient(): Redis {
  const client = new Redis({
    sentinels: cluster.sentinels.map((sentinel) => ({ host: "127.0.0.1", port: sentinel.port })),
    name: masterName,
    password: cluster.password,
    sentinelPassword: cluster.sentinelPassword,
    failoverDetector: true,
    maxRetriesPerRequest: 3,
    enableOfflineQueue: true,
    reconnectOnError: (error) => (error.message.startsWith("READONLY") ? 2 : false),
  });
  client.on("error", () => undefined);
  return client;
}

describe("Redis replication and Sentinel from the rendered files", () => {
  it("makes the first server the primary, the others its replicas, and three Sentinels watch it with the guide's settings", async () => {
    const [primary, ...replicas] = cluster.servers;
    expect(await cluster.runRedisStep(primary!)).toContain("Redis is the first primary");
    for (const replica of replicas) expect(await cluster.runRedisStep(replica)).toContain(`Redis follows 127.0.0.1:${primary!.port}`);
    for (const sentinel of cluster.sentinels) expect(await cluster.runSentinelStep(sentinel)).toContain(`Sentinel watches 127.0.0.1 ${primary!.port}`);

    const client = cluster.sentinelClient(cluster.sentinels[0]!);
    const master = await eventually("every Sentinel and replica to be known", async () => {
      const fields = (await client.call("SENTINEL", "MASTER", masterName)) as string[];
      const view = Object.fromEntries(fields.flatMap((value, index) => (index % 2 === 0 ? [[value, fields[index + 1]]] : [])));
      return view["num-other-sentinels"] === "2" && view["num-slaves"] === "2" ? view : undefined;
    });
    client.disconnect();
    expect(master).toMatchObject({
      port: String(primary!.port),
      quorum: "2",
      "down-after-milliseconds": String(sentinelTuning.downAfterMs),
      "failover-timeout": String(sentinelTuning.failoverTimeoutMs),
      "parallel-syncs": String(sentinelTuning.parallelSyncs),
    });
    // Both replicas acknowledge within the lag bound, so the primary takes writes.
    expect(
      await eventually("two good replicas", async () => ((await info(primary!)).min_slaves_good_slaves === "2" ? info(primary!) : undefined)),
    ).toMatchObject({
      role: "master",
      connected_slaves: "2",
    });
    const settings = cluster.client(primary!);
    expect(await settings.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
    expect(await settings.config("GET", "min-replicas-max-lag")).toEqual(["min-replicas-max-lag", String(replicaBound.minReplicasMaxLagSeconds)]);
    settings.disconnect();
  });

  it("changes nothing when every step runs again", async () => {
    const outputs = [...(await Promise.all(cluster.servers.map((server) => cluster.runRedisStep(server))))];
    for (const sentinel of cluster.sentinels) outputs.push(await cluster.runSentinelStep(sentinel));
    expect(outputs.join("")).not.toMatch(/set on the running|Sentinel watches|Redis follows 127\.0\.0\.1:\d+\n/);
  });

  it("refuses a client without the password, on a server and on a Sentinel", async () => {
    const bare = new Redis({ port: cluster.servers[0]!.port, maxRetriesPerRequest: 0, lazyConnect: true, enableReadyCheck: false });
    bare.on("error", () => undefined);
    await expect(bare.connect().then(() => bare.set("k", "v"))).rejects.toThrow(/NOAUTH/);
    bare.disconnect();
    const bareSentinel = new Redis({ port: cluster.sentinels[0]!.port, maxRetriesPerRequest: 0, lazyConnect: true, enableReadyCheck: false });
    bareSentinel.on("error", () => undefined);
    await expect(bareSentinel.connect().then(() => bareSentinel.call("SENTINEL", "MASTERS"))).rejects.toThrow(/NOAUTH/);
    bareSentinel.disconnect();
  });

  it("fails over to a replica when the primary is killed during writes, losing only writes within the lag bound", async () => {
    const oldPrimary = cluster.servers[0]!;
    const client = appClient();
    const load = startLoad(
      async (index) => {
        await client.set(`write:${index}`, String(index));
        return index;
      },
      { maxOperations: 100_000, maxSeconds: 90, concurrency: 4, pauseMs: 5, timeoutMs: 5000 },
    );
    try {
      await eventually("500 acknowledged writes", async () => (load.outcomes().filter((outcome) => outcome.ok).length >= 500 ? true : undefined));
      const killedAt = load.now();
      cluster.killServer(oldPrimary);
      const newPrimary = await eventually(
        "the Sentinels to name a new primary",
        async () => {
          const named = await namedPrimaries();
          return named.every((address) => address === named[0]) && named[0] !== `127.0.0.1:${oldPrimary.port}` ? named[0] : undefined;
        },
        60,
      );
      const newPrimaryAt = load.now();
      const firstWrite = await eventually("a write after the failover", async () => firstAcknowledgedAfter(load.outcomes(), newPrimaryAt), 30);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      load.stop();
      const record = await load.done;
      const summary = summarize(record);

      const promoted = cluster.servers.find((server) => `127.0.0.1:${server.port}` === newPrimary)!;
      const check = cluster.client(promoted);
      const acknowledged = record.outcomes.filter((outcome) => outcome.ok);
      const present = await check.mget(...acknowledged.map((outcome) => `write:${outcome.value}`));
      check.disconnect();
      const lost = acknowledged.filter((_, index) => present[index] === null);
      const figures = {
        acknowledgedWrites: acknowledged.length,
        failedWrites: summary.failed,
        acknowledgedWritesLost: lost.length,
        secondsToNewPrimary: (newPrimaryAt - killedAt) / 1000,
        secondsToFirstWriteAfterKill: ((firstAcknowledgedAfter(record.outcomes, killedAt + 1)?.endedMs ?? firstWrite.endedMs) - killedAt) / 1000,
        longestOutageSeconds: summary.longestOutageSeconds,
        errors: summary.errors,
      };
      console.log(`redis failover figures: ${JSON.stringify(figures)}`);
      // Asynchronous replication can lose what the primary acknowledged but had not sent yet; the
      // min-replicas bound keeps that within the last min-replicas-max-lag seconds before the kill.
      for (const outcome of lost) expect(outcome.endedMs).toBeGreaterThan(killedAt - replicaBound.minReplicasMaxLagSeconds * 1000);
      expect(figures.secondsToNewPrimary).toBeLessThan(30);
    } finally {
      load.stop();
      await load.done;
      client.disconnect();
    }
  });

  it("brings the old primary back as a replica, and the steps run again point nothing at it", async () => {
    const oldPrimary = cluster.servers[0]!;
    const [newPrimary] = await namedPrimaries();
    await cluster.startServer(oldPrimary);
    // Run at once, before the Sentinels demote it: the step asks them and agrees.
    const outputs = [await cluster.runRedisStep(oldPrimary)];
    expect(outputs[0]).toMatch(new RegExp(`Redis follows ${newPrimary!.replace(/\./g, "\\.")}`));
    for (const server of cluster.servers.slice(1)) outputs.push(await cluster.runRedisStep(server));
    for (const sentinel of cluster.sentinels) outputs.push(await cluster.runSentinelStep(sentinel));
    expect(outputs.slice(1).join("")).not.toMatch(/set on the running|Sentinel watches/);

    await eventually("the old primary to be in sync with the new one", async () => {
      const state = await info(oldPrimary);
      return state.role === "slave" && `${state.master_host}:${state.master_port}` === newPrimary && state.master_link_status === "up" ? true : undefined;
    });
    expect(await namedPrimaries()).toEqual([newPrimary, newPrimary, newPrimary]);
    for (const server of cluster.servers) {
      const config = readFileSync(join(server.root, "etc/redis/redis.conf"), "utf8");
      expect(config).not.toMatch(new RegExp(`^replicaof 127\\.0\\.0\\.1 ${oldPrimary.port}$`, "m"));
    }
    const promoted = cluster.servers.find((server) => `127.0.0.1:${server.port}` === newPrimary)!;
    expect(await info(promoted)).toMatchObject({ role: "master", connected_slaves: "2" });
  });
});
