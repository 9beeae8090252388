import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DatabaseMoveRender, type RedisMoveInput, renderRedisForget, renderRedisMove } from "../../lib/render/data-move";
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

/** From a pair's first server to its second, or to `target` when given. */
const stepInput = (pair: RedisCluster, target: Partial<RedisMoveInput["target"]> = {}): RedisMoveInput => ({
  sourcePort: pair.servers[0]!.port,
  target: { host: "127.0.0.1", port: pair.servers[1]!.port, ...target },
  password: pair.password,
  root: pair.servers[0]!.root,
});

const runStep = (rendered: DatabaseMoveRender, what: string) =>
  runScript([renderTemplate("provision/lib.sh", {}), rendered.script].join("\n"), rendered.stdin, process.env, what);

const runMove = (pair = cluster) => runStep(renderRedisMove(stepInput(pair)), "the Redis move");

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

  it("keeps the old copy refusing writes after its Redis restarts, and reading with the same password", async () => {
    const source = cluster.servers[0]!;
    await source.daemon!.stop();
    await cluster.startServer(source);
    const again = cluster.client(source);
    try {
      expect(await again.get("shop:cache:7")).toBe("value 7");
      await expect(again.set("late", "write")).rejects.toThrow(/NOPERM/);
    } finally {
      again.disconnect();
    }
  });

  it("moves nothing a second time, and refuses to mix with a target that has keys of its own", async () => {
    expect(await runMove()).toContain("moved to 127.0.0.1 already; nothing to move");
    await old.call("ACL", "SETUSER", "default", "+@all");
    await old.del("megaweb:moved-to");
    await expect(runMove()).rejects.toThrow(/has keys already .* both are kept/);
    expect(await old.set("after", "the refusal")).toBe("OK");
  });
});

describe("the copy the move left on the box, forgotten", () => {
  let pair: RedisCluster;
  let box: Redis;
  let moved: Redis;
  const runForget = (target: Partial<RedisMoveInput["target"]> = {}) => runStep(renderRedisForget(stepInput(pair, target)), "the Redis forget");
  /** Every key of databases 0 and 3 with its value as DUMP gives it, the expiry aside. */
  const contents = async (client: Redis) => {
    const held: Record<string, string | null> = {};
    for (const db of [0, 3]) {
      await client.select(db);
      for (const key of (await client.keys("*")).sort()) held[`${db}:${key}`] = (await client.dumpBuffer(key))?.toString("base64") ?? null;
    }
    await client.select(0);
    return held;
  };
  let before: Record<string, string | null>;

  beforeAll(async () => {
    pair = await RedisCluster.start(await portsBelowEphemeral(2), [], randomBytes(24).toString("base64url"), randomBytes(24).toString("base64url"));
    [box, moved] = pair.servers.map((server) => pair.client(server)) as [Redis, Redis];
    const seed = box.pipeline();
    for (let n = 0; n < 200; n++) seed.set(`shop:cache:${n}`, `value ${n}`);
    seed.hset("orchestrator:session:abc", { user: "ada" });
    seed.set("shop:session:short", "expires", "EX", 3600);
    await seed.exec();
    await box.select(3);
    await box.set("db3:key", "in another database");
    await box.select(0);
    expect(await runMove(pair)).toMatch(/Redis is on 127\.0\.0\.1 \(203 keys, counts equal/);
    before = await contents(moved);
    // The box keeps its own key naming where its keys went, beside every key it had.
    expect(Object.keys(await contents(box)).sort()).toEqual([...Object.keys(before), "0:megaweb:moved-to"].sort());
  });

  afterAll(async () => {
    box?.disconnect();
    moved?.disconnect();
    await pair?.stop();
  });

  it("keeps the box's keys unless it moved them to the host the plan names, that host answers and is another Redis", async () => {
    await expect(runForget({ host: "localhost" })).rejects.toThrow(
      "megaweb: this host's Redis keeps its keys: megaweb:moved-to names 127.0.0.1, not localhost: its keys have not moved there",
    );
    const unused = (await portsBelowEphemeral(1))[0]!;
    await expect(runForget({ port: unused })).rejects.toThrow(
      `megaweb: this host's Redis keeps its keys: Redis on 127.0.0.1 does not answer PING (Could not connect to Redis at 127.0.0.1:${unused}: Connection refused)`,
    );
    // Two roles given one address: the plan's Redis host is the box's own server.
    await expect(runForget({ port: pair.servers[0]!.port })).rejects.toThrow("megaweb: this host's Redis keeps its keys: 127.0.0.1 is this host's own Redis");
    expect(await box.dbsize()).toBe(203);
    expect(await box.call("ACL", "LIST")).not.toEqual(expect.arrayContaining([expect.stringContaining("megaweb-forget")]));
  });

  it("drops every key of the box's copy, which still refuses writes; the new copy keeps every key", async () => {
    const output = await runForget();
    expect(output).toContain("megaweb: dropped this host's Redis keys (204; Redis on 127.0.0.1 holds 203); it stays, empty and refusing writes");
    expect(output).not.toContain(pair.password);
    expect(await contents(box)).toEqual({});
    expect(await contents(moved)).toEqual(before);
    expect(await moved.ttl("shop:session:short")).toBeGreaterThan(3500);
    await expect(box.set("late", "write")).rejects.toThrow(/NOPERM/);
    expect(await box.call("ACL", "LIST")).not.toEqual(expect.arrayContaining([expect.stringContaining("megaweb-forget")]));
  });

  it("finds nothing to forget a second time, nor a move anything to move", async () => {
    expect(await runForget()).toContain("megaweb: this host's Redis holds no keys; nothing to forget");
    expect(await runMove(pair)).toContain("megaweb: this host's Redis holds no keys; nothing to move");
    expect(await moved.dbsize()).toBe(202);
  });

  it("finds nothing to forget on a host where no Redis answers", async () => {
    const unused = (await portsBelowEphemeral(1))[0]!;
    const rendered = renderRedisForget({ ...stepInput(pair), sourcePort: unused });
    expect(await runStep(rendered, "the Redis forget")).toContain("megaweb: no Redis of the single box on this host; nothing to forget");
  });

  it("refuses to move from a Redis that is installed but down, and moves nothing from one the box's retirement masked", async () => {
    const unused = (await portsBelowEphemeral(1))[0]!;
    const rendered = renderRedisMove({ ...stepInput(pair), sourcePort: unused });
    const root = stepInput(pair).root!;
    expect(await runStep(rendered, "the Redis move")).toContain("megaweb: no Redis of the single box on this host; nothing to move");
    mkdirSync(join(root, "lib/systemd/system"), { recursive: true });
    writeFileSync(join(root, "lib/systemd/system/redis-server.service"), "[Unit]\n");
    await expect(runStep(rendered, "the Redis move")).rejects.toThrow(
      "megaweb: this host's Redis is installed but does not answer; its keys stay here and nothing moves to 127.0.0.1 until it answers",
    );
    mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
    symlinkSync("/dev/null", join(root, "etc/systemd/system/redis-server.service"));
    expect(await runStep(rendered, "the Redis move")).toContain("megaweb: no Redis of the single box on this host; nothing to move");
    rmSync(join(root, "lib"), { recursive: true });
    rmSync(join(root, "etc/systemd"), { recursive: true });
  });
});
