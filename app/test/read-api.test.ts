import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cached } from "../src/cache";
import { GLOBAL_METRICS_TTL_SECONDS } from "../src/metrics";
import { eventually, startBackends, startOrchestrator, type Backends, type RunningOrchestrator } from "./support/orchestrator";

let backends: Backends;
let orchestrator: RunningOrchestrator;

beforeAll(async () => {
  backends = await startBackends();
  orchestrator = await startOrchestrator(backends, {
    env: { MEGAWEB_HYPERGRID_TILE_SIZE: "10", MEGAWEB_CORS_ORIGINS: "https://panel.example.com" },
  });
  await orchestrator.api("/api/proxy-pools/eu-pool", { method: "PUT", body: { region: "eu", rotation: "round-robin" } });
  for (const [index, country] of ["DE", "DE", "FR"].entries()) {
    await orchestrator.api("/api/proxies", {
      method: "POST",
      body: { pool_id: "eu-pool", host: `10.0.0.${index + 1}`, port: 3128, country, city: "Berlin", coordinates: { latitude: 52.52, longitude: 13.4 } },
    });
  }
  // Fixed figures to check the sums and the listing; proxy-health.test.ts shows the worker measuring them.
  await orchestrator.services.db.primary.query("UPDATE proxies SET success_count = 90, failure_count = 10, avg_latency_ms = 120 WHERE country = 'DE'");
  await orchestrator.api("/api/embed/bulk", {
    method: "POST",
    body: { urls: Array.from({ length: 25 }, (_, index) => `https://grid.example/${index}`), bulkOptions: { replicasPerUrl: 2, proxyPoolId: "eu-pool" } },
  });
});
afterAll(async () => {
  await orchestrator?.stop();
  await backends?.stop();
});

describe("health", () => {
  it("reports the database, Redis and the queue depth", async () => {
    const health = await orchestrator.api("/api/health", { token: null });
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: "healthy", database: "healthy", redis: "healthy", database_replicas: [] });
    expect(health.body.queue).toMatchObject({ waiting: expect.any(Number), failed: expect.any(Number) });
  });

  it("reports a configured read replica that does not replicate as degraded", async () => {
    const withReplica = await startOrchestrator(backends, {
      env: { MEGAWEB_DB_REPLICA_URLS: await backends.mariadb.createDatabase(`megaweb_replica_${process.pid}`) },
    });
    try {
      const health = await withReplica.api("/api/health");
      expect(health.body).toMatchObject({ status: "degraded", database_replicas: [{ index: 0, status: "not_replicating", lag_seconds: null }] });
    } finally {
      await withReplica.stop();
    }
  });
});

describe("metrics and hypergrid", () => {
  it("sums sessions, replicas, proxies, countries and latency", async () => {
    const metrics = await orchestrator.api("/api/metrics/global");
    expect(metrics.body).toMatchObject({
      total_sessions: 25,
      active_sessions: 25,
      total_replicas: 50,
      // Placed, and not running until a runner reports them (replica-lifecycle.test.ts).
      active_replicas: 0,
      replicas_by_status: { pending: 50, starting: 0, running: 0, stopped: 0, failed: 0 },
      active_proxies: 3,
      countries_covered: 2,
      average_latency_ms: 120,
      proxy_success_rate: 0.9,
    });
  });

  it("groups sessions into tiles with their dominant status and country", async () => {
    const grid = await orchestrator.api("/api/hypergrid?limit=2");
    expect(grid.body).toMatchObject({ tile_size: 10, total_sessions: 25, tile_count: 3, next_cursor: 2 });
    expect(grid.body.tiles[0]).toMatchObject({ tile: 0, count: 10, dominant_status: "active", dominant_country: "DE", statuses: { active: 10 } });
    const rest = await orchestrator.api("/api/hypergrid?cursor=2");
    expect(rest.body.tiles).toEqual([expect.objectContaining({ tile: 2, count: 5 })]);
    expect(rest.body.next_cursor).toBeNull();
  });
});

describe("aggregate cache", () => {
  it("serves a copy for its window only, then computes again", async () => {
    const redis = orchestrator.services.redis;
    let computed = 0;
    const compute = async () => ++computed;
    expect(await cached(redis, "megaweb:test:cache", 0.3, compute)).toBe(1);
    expect(await cached(redis, "megaweb:test:cache", 0.3, compute)).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await cached(redis, "megaweb:test:cache", 0.3, compute)).toBe(2);
  });

  it("shows a change in the hypergrid and the metrics within their window", async () => {
    const before = (await orchestrator.api("/api/metrics/global")).body.total_sessions;
    const grid = (await orchestrator.api("/api/hypergrid")).body.total_sessions;
    const { body: session } = await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://window.example" } });
    const started = Date.now();
    await eventually("the new session counted", async () => {
      const metrics = (await orchestrator.api("/api/metrics/global")).body;
      const tiles = (await orchestrator.api("/api/hypergrid")).body;
      return metrics.total_sessions === before + 1 && tiles.total_sessions === grid + 1 ? true : undefined;
    });
    expect(Date.now() - started).toBeLessThanOrEqual((GLOBAL_METRICS_TTL_SECONDS + 1) * 1000);
    await orchestrator.api(`/api/sessions/${session.id}`, { method: "DELETE" });
  });
});

describe("proxies", () => {
  it("lists proxies with performance figures and coordinates", async () => {
    const proxies = await orchestrator.api("/api/proxies?pool_id=eu-pool");
    expect(proxies.body).toHaveLength(3);
    expect(proxies.body[0]).toMatchObject({
      pool_id: "eu-pool",
      country: "DE",
      success_count: 90,
      failure_count: 10,
      success_rate: 0.9,
      avg_latency_ms: 120,
      coordinates: { latitude: 52.52, longitude: 13.4 },
    });
    expect(proxies.body.reduce((sum: number, proxy: { assigned_replicas: number }) => sum + proxy.assigned_replicas, 0)).toBe(50);
  });

  it("answers a new proxy with its id, and refuses a duplicate or an unknown pool by field", async () => {
    const created = await orchestrator.api("/api/proxies", { method: "POST", body: { pool_id: "global-pool", host: "proxy.com", port: 8080 } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ success: true, id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const duplicate = await orchestrator.api("/api/proxies", { method: "POST", body: { pool_id: "global-pool", host: "proxy.com", port: 8080 } });
    expect(duplicate.status).toBe(409);
    const unknownPool = await orchestrator.api("/api/proxies", { method: "POST", body: { pool_id: "nowhere", host: "proxy.com", port: 1 } });
    expect(unknownPool.body.message).toBe('pool_id: proxy pool "nowhere" does not exist');
    const badPort = await orchestrator.api("/api/proxies", { method: "POST", body: { host: "proxy.com", port: 70000 } });
    expect(badPort.body.issues).toEqual([{ path: "port", message: "must be at most 65535" }]);
  });
});

describe("proxy pools", () => {
  it("lists pools with their rotation and refuses an unknown rotation by field", async () => {
    const pools = await orchestrator.api("/api/proxy-pools");
    expect(pools.body).toEqual([
      { id: "eu-pool", region: "eu", rotation: "round-robin" },
      { id: "global-pool", region: "global", rotation: "round-robin" },
    ]);
    const bad = await orchestrator.api("/api/proxy-pools/eu-pool", { method: "PUT", body: { rotation: "random" } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe("rotation: must be one of round-robin, sticky, burst, geo");
  });
});

describe("events", () => {
  it("filters by type and since, and pages by cursor in either order", async () => {
    const proxyEvents = await orchestrator.api("/api/events?event_type=proxy.created&limit=2");
    expect(proxyEvents.body).toHaveLength(2);
    const next = await orchestrator.api(`/api/events?event_type=proxy.created&limit=2&cursor=${proxyEvents.headers.get("x-next-cursor")}`);
    expect(next.body.map((event: { id: number }) => event.id)[0]).toBeGreaterThan(proxyEvents.body[1].id);
    const newest = await orchestrator.api("/api/events?event_type=session.bulk_created&order=desc&limit=1");
    expect(newest.body[0].payload).toMatchObject({ count: 25, replicas: 50 });
    const future = await orchestrator.api(`/api/events?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(future.body).toEqual([]);
    const badSince = await orchestrator.api("/api/events?since=yesterday");
    expect(badSince.body.message).toBe("query.since: must be an ISO 8601 date or time");
  });
});

describe("CORS", () => {
  it("allows the configured origin and no other", async () => {
    const allowed = await fetch(`${orchestrator.baseUrl}/api/sessions`, {
      method: "OPTIONS",
      headers: { origin: "https://panel.example.com", "access-control-request-method": "POST", "access-control-request-headers": "authorization" },
    });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://panel.example.com");
    const other = await fetch(`${orchestrator.baseUrl}/api/sessions`, { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("rate limit", () => {
  it("limits each client per minute, counted in Redis so every web node shares it, health checks aside", async () => {
    const limited = await startOrchestrator(backends, { env: { MEGAWEB_RATE_LIMIT_PER_MINUTE: "5" } });
    const second = await startOrchestrator(backends, { env: { MEGAWEB_RATE_LIMIT_PER_MINUTE: "5" }, redisDb: 15 });
    try {
      // A second node on the same Redis database as the first.
      const sameRedis = await startOrchestrator(backends, {
        env: { MEGAWEB_RATE_LIMIT_PER_MINUTE: "5", MEGAWEB_REDIS_URL: limited.config.MEGAWEB_REDIS_URL! },
      });
      try {
        // Health checks are neither limited nor counted.
        for (let index = 0; index < 8; index++) expect((await limited.api("/api/health")).status).toBe(200);
        const statuses: number[] = [];
        for (let index = 0; index < 3; index++) statuses.push((await limited.api("/api/sessions")).status);
        for (let index = 0; index < 3; index++) statuses.push((await sameRedis.api("/api/sessions")).status);
        expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
        const refused = await sameRedis.api("/api/sessions");
        expect(refused.body.error).toBe("rate_limited");
        expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
        // A node on another Redis keeps its own count.
        expect((await second.api("/api/sessions")).status).toBe(200);
        // The nginx in front is trusted for the client's address, so clients behind it are told apart.
        const other = await limited.api("/api/sessions", { headers: { "x-forwarded-for": "203.0.113.9" } });
        expect(other.status).toBe(200);
      } finally {
        await sameRedis.stop();
      }
    } finally {
      await limited.stop();
      await second.stop();
    }
  });
});
