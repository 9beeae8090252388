import { randomBytes } from "node:crypto";
import type Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderRedisMove } from "../../lib/render/data-move";
import { renderTemplate } from "../../lib/render/template";
import { startLoad, summarize } from "../faults/measure";
import { portsBelowEphemeral } from "../monitoring/loopback";
import { RedisCluster, runScript } from "../replication/redis-cluster";

/**
 * The single box's Redis moved to the plan's primary by the rendered step, between two real
 * redis-servers on loopback sharing one password, while a client keeps writing as the sites and
 * the app do (the default user): every write the old copy acknowledged is on the new one, keys of
 * every kind and database arrive with their expiries, and the window without writes is measured.
 */

let cluster: RedisCluster;
let old: Redis;
let target: Redis;

beforeAll(async () => {
  const ports = await portsBelowEphemeral(2);
  cluster = await RedisCluster.start(ports, [], randomBytes(24).toString("base64url"), randomBytes(24).toString("base64url"));
  [old, target] = cluster.servers.map((server) => cluster.client(server)) as [Redis, Redis];
  const seed = old.pipeline();
  for (let n = 0; n < 500; n++) seed.set(`shop:cache:${n}`, `value ${n}`);
  seed.hset("orchestrator:session:abc", { user: "ada", csrf: "x" });
  seed.rpush("bull:deploys:wait", "1", "2", "3");
  seed.zadd("bull:deploys:delayed", 10, "4");
  seed.set('odd "key" with spaces\\and a backslash', "kept");
  seed.set("shop:session:short", "expires", "EX", 3600);
  await seed.exec();
  await old.select(3);
  await old.set("db3:key", "in another database");
  await old.select(0);
});

afterAll(async () => {
  old?.disconnect();
  target?.disconnect();
  await cluster?.stop();
});

const move = () =>
  renderRedisMove({ sourcePort: cluster.servers[0]!.port, target: { host: "127.0.0.1", port: cluster.servers[1]!.port }, password: cluster.password });

const runMove = () => {
  const rendered = move();
  return runScript([renderTemplate("provision/lib.sh", {}), rendered.script].join("\n"), rendered.stdin, process.env, "the Redis move");
};

describe("the single box's Redis moved to the plan's primary", () => {
  it("loses no write the old copy acknowledged while the move ran, and says how long writes were refused", async () => {
    const writer = cluster.client(cluster.servers[0]!);
    const load = startLoad(
      async (index) => {
        await writer.set(`load:${index}`, String(index));
        return index;
      },
      { maxOperations: 100_000, maxSeconds: 20, concurrency: 4, pauseMs: 5, timeoutMs: 5000 },
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const output = await runMove();
    await new Promise((resolve) => setTimeout(resolve, 500));
    load.stop();
    const record = await load.done;
    writer.disconnect();
    const acknowledged = record.outcomes.filter((outcome) => outcome.ok).map((outcome) => outcome.value as number);
    const found = await target.mget(acknowledged.map((index) => `load:${index}`));
    const lost = acknowledged.filter((index, at) => found[at] !== String(index));
    const summary = summarize(record);
    console.log(
      `redis move figures: ${JSON.stringify({ writes: summary.operations, acknowledged: acknowledged.length, lost: lost.length, refused: summary.failed, stepSays: /\(([^)]*)\)/.exec(output)?.[1], errors: summary.errors })}`,
    );
    expect(output).toMatch(/Redis is on 127\.0\.0\.1 \(\d+ keys, counts equal, [\d.]+ s\)/);
    expect(lost).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(50);
    expect(summary.failed).toBeGreaterThan(0);
    expect(Object.keys(summary.errors).every((error) => error.startsWith("NOPERM"))).toBe(true);
  }, 120_000);

  it("brings every kind of key, in every database, with its expiry, and leaves the old copy refusing writes", async () => {
    expect(await target.get("shop:cache:499")).toBe("value 499");
    expect(await target.hgetall("orchestrator:session:abc")).toEqual({ user: "ada", csrf: "x" });
    expect(await target.lrange("bull:deploys:wait", 0, -1)).toEqual(["1", "2", "3"]);
    expect(await target.zrange("bull:deploys:delayed", 0, -1, "WITHSCORES")).toEqual(["4", "10"]);
    expect(await target.get('odd "key" with spaces\\and a backslash')).toBe("kept");
    expect(await target.ttl("shop:session:short")).toBeGreaterThan(3500);
    await target.select(3);
    expect(await target.get("db3:key")).toBe("in another database");
    await target.select(0);
    await expect(old.set("late", "write")).rejects.toThrow(/NOPERM/);
    expect(await old.call("ACL", "LIST")).not.toEqual(expect.arrayContaining([expect.stringContaining("megaweb-move")]));
  });

  it("moves nothing a second time, and refuses to mix with a target that has keys of its own", async () => {
    expect(await runMove()).toContain("moved to 127.0.0.1 already; nothing to move");
    await old.call("ACL", "SETUSER", "default", "+@all");
    await old.del("megaweb:moved-to");
    await expect(runMove()).rejects.toThrow(/has keys already .* both are kept/);
    expect(await old.set("after", "the refusal")).toBe("OK");
  });
});
