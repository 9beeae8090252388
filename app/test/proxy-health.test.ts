import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decayFigures, nextStatus } from "../src/proxy-health";
import { freePort } from "./support/backends";
import { eventually, startBackends, startOrchestrator, type Backends, type RunningOrchestrator } from "./support/orchestrator";
import { startCheckTarget, startMicrosocks, startTinyproxy, type LoopbackProxy } from "./support/proxies";

/**
 * The worker checks real proxies on loopback on its schedule: tinyproxy by a request through it,
 * microsocks by the SOCKS5 greeting, a closed port by a TCP connect. Taking tinyproxy away marks it
 * down and out of rotation; bringing it back marks it up.
 */

let backends: Backends;
let orchestrator: RunningOrchestrator;
let tinyproxy: LoopbackProxy;
let microsocks: LoopbackProxy;
let target: Awaited<ReturnType<typeof startCheckTarget>>;
const ids: Record<string, string> = {};

beforeAll(async () => {
  [backends, tinyproxy, microsocks, target] = await Promise.all([startBackends(), startTinyproxy(), startMicrosocks(), startCheckTarget()]);
  orchestrator = await startOrchestrator(backends, {
    worker: true,
    env: { MEGAWEB_PROXY_CHECK_INTERVAL_SECONDS: "1", MEGAWEB_PROXY_CHECK_TIMEOUT_MS: "1000", MEGAWEB_PROXY_CHECK_URL: target.url },
  });
  await orchestrator.api("/api/proxy-pools/loop-pool", { method: "PUT", body: { rotation: "round-robin" } });
  const proxies = { http: [tinyproxy.port, "http"], socks: [microsocks.port, "socks5"], closed: [await freePort(), "https"] } as const;
  for (const [name, [port, protocol]] of Object.entries(proxies)) {
    const added = await orchestrator.api("/api/proxies", { method: "POST", body: { pool_id: "loop-pool", host: "127.0.0.1", port, protocol, country: "NL" } });
    expect(added.status).toBe(201);
    ids[name] = added.body.id;
  }
});
afterAll(async () => {
  await orchestrator?.stop();
  await Promise.all([backends?.stop(), tinyproxy?.close(), microsocks?.close(), target?.stop()]);
});

async function proxy(name: string) {
  const list = (await orchestrator.api("/api/proxies?pool_id=loop-pool")).body as {
    id: string;
    status: string;
    success_count: number;
    failure_count: number;
    avg_latency_ms: number | null;
  }[];
  return list.find((entry) => entry.id === ids[name])!;
}

describe("proxy health checks", () => {
  it("measures live proxies through real requests and marks a closed one down", async () => {
    const http = await eventually("two checks of tinyproxy", async () => {
      const current = await proxy("http");
      return current.success_count >= 2 ? current : undefined;
    });
    expect(http).toMatchObject({ status: "active", failure_count: 0 });
    expect(http.avg_latency_ms).toBeGreaterThan(0);
    // The check went through tinyproxy to the target.
    expect(target.requests()).toBeGreaterThanOrEqual(2);
    expect(await proxy("socks")).toMatchObject({ status: "active", failure_count: 0 });
    const closed = await eventually("the closed port marked down", async () => {
      const current = await proxy("closed");
      return current.status === "down" ? current : undefined;
    });
    expect(closed.success_count).toBe(0);
    expect(closed.failure_count).toBeGreaterThanOrEqual(3);
    const events = await orchestrator.api(`/api/events?aggregate_id=${ids.closed}&event_type=proxy.status.changed`);
    expect(events.body.map((event: { payload: { from: string; to: string } }) => `${event.payload.from}>${event.payload.to}`)).toEqual([
      "active>degraded",
      "degraded>down",
    ]);
  });

  it("takes a stopped proxy out of rotation and brings it back once it answers again", async () => {
    await tinyproxy.stop();
    await eventually("tinyproxy down", async () => ((await proxy("http")).status === "down" ? true : undefined), 20_000);
    const session = await orchestrator.api("/api/sessions", {
      method: "POST",
      body: { url: "https://rotation.example", target_replica_count: 4, proxy_pool_id: "loop-pool" },
    });
    const replicas = (await orchestrator.api(`/api/replicas?session_id=${session.body.id}`)).body as { proxy_id: string }[];
    expect(new Set(replicas.map((replica) => replica.proxy_id))).toEqual(new Set([ids.socks]));

    await tinyproxy.start();
    const back = await eventually("tinyproxy up", async () => {
      const current = await proxy("http");
      return current.status === "active" ? current : undefined;
    });
    expect(back.failure_count).toBeGreaterThanOrEqual(3);
    const events = await orchestrator.api(`/api/events?aggregate_id=${ids.http}&event_type=proxy.status.changed`);
    expect(events.body.at(-1).payload).toEqual({ from: "down", to: "active" });
    const metrics = await eventually("fresh metrics", async () => {
      const body = (await orchestrator.api("/api/metrics/global")).body;
      return body.active_proxies === 2 ? body : undefined;
    });
    expect(metrics.proxy_success_rate).toBeGreaterThan(0);
  }, 60_000);

  it("folds what replicas report about their last request into the proxy's figures", async () => {
    const session = await orchestrator.api("/api/sessions", {
      method: "POST",
      body: { url: "https://report.example", target_replica_count: 1, proxy_pool_id: "loop-pool" },
    });
    const [replica] = (await orchestrator.api(`/api/replicas?session_id=${session.body.id}`)).body as { id: string; proxy_id: string }[];
    const name = Object.keys(ids).find((key) => ids[key] === replica.proxy_id)!;
    const before = await proxy(name);
    await orchestrator.api("/api/replicas/heartbeats", { method: "POST", body: { heartbeats: [{ replica_id: replica.id, status: "running" }] } });
    for (let index = 0; index < 5; index++) {
      await orchestrator.api("/api/replicas/heartbeats", {
        method: "POST",
        body: { heartbeats: [{ replica_id: replica.id, status: "running", last_request: { proxy_outcome: "proxy_error" } }] },
      });
    }
    const after = await eventually("reported failures folded in", async () => {
      const current = await proxy(name);
      return current.failure_count >= before.failure_count + 5 ? current : undefined;
    });
    expect(after.failure_count).toBeLessThan(before.failure_count + 6);
  });
});

describe("proxy figures", () => {
  it("halve old counts and latency weight every half-life and average latency by weight", () => {
    const figures = decayFigures(
      { success_count: 8, failure_count: 4, avg_latency_ms: 100, latency_weight: 8 },
      { successes: 1, failures: 0, latencySum: 200, latencySamples: 1 },
      3600,
      3600,
    );
    expect(figures).toEqual({ success_count: 5, failure_count: 2, avg_latency_ms: 120, latency_weight: 5 });
  });

  it("keep the latency when nothing was measured", () => {
    expect(
      decayFigures(
        { success_count: 0, failure_count: 0, avg_latency_ms: null, latency_weight: 0 },
        { successes: 0, failures: 1, latencySum: 0, latencySamples: 0 },
        10,
      ),
    ).toEqual({
      success_count: 0,
      failure_count: 1,
      avg_latency_ms: null,
      latency_weight: 0,
    });
  });

  it("degrade on a failure, go down after three, come back after two successes", () => {
    expect(nextStatus("active", 1, 0)).toBe("degraded");
    expect(nextStatus("degraded", 3, 0)).toBe("down");
    expect(nextStatus("down", 0, 1)).toBe("down");
    expect(nextStatus("down", 0, 2)).toBe("active");
    expect(nextStatus("degraded", 0, 1)).toBe("active");
    expect(nextStatus("disabled", 5, 0)).toBe("disabled");
  });
});
