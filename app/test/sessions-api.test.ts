import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TOKEN, startBackends, startOrchestrator, type Backends, type RunningOrchestrator } from "./support/orchestrator";

let backends: Backends;
let orchestrator: RunningOrchestrator;

beforeAll(async () => {
  backends = await startBackends();
  orchestrator = await startOrchestrator(backends);
});
afterAll(async () => {
  await orchestrator?.stop();
  await backends?.stop();
});

describe("sessions API", () => {
  it("creates a session with the first edition's fields and places its replicas", async () => {
    const created = await orchestrator.api("/api/sessions", {
      method: "POST",
      body: { url: "https://example.com", target_replica_count: 3, region: "eu-west", proxy_pool_id: "global-pool" },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      url: "https://example.com",
      status: "active",
      region: "eu-west",
      proxy_pool_id: "global-pool",
      target_replica_count: 3,
      active_replica_count: 3,
      rendering_options: {},
      proxy_requirements: {},
    });
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);
    const fetched = await orchestrator.api(`/api/sessions/${created.body.id}`, { token: null });
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(created.body);
    const events = await orchestrator.api(`/api/events?aggregate_id=${created.body.id}`, { token: null });
    expect(events.body.map((event: { event_type: string }) => event.event_type)).toEqual(["session.created"]);
  });

  it("updates fields and records the status change as its own event", async () => {
    const { body: session } = await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://a.example" } });
    const updated = await orchestrator.api(`/api/sessions/${session.id}`, {
      method: "PUT",
      body: { status: "paused", rendering_options: { viewport: { width: 1280 } } },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ status: "paused", rendering_options: { viewport: { width: 1280 } } });
    const events = await orchestrator.api(`/api/events?aggregate_id=${session.id}&event_type=session.status.changed`);
    expect(events.body).toHaveLength(1);
    expect(events.body[0].payload).toEqual({ from: "active", to: "paused" });
  });

  it("scales a session's target and answers with the updated session", async () => {
    const { body: session } = await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://b.example" } });
    const scaled = await orchestrator.api(`/api/sessions/${session.id}/scale`, { method: "POST", body: { target_replicas: 100 } });
    expect(scaled.status).toBe(200);
    expect(scaled.body.target_replica_count).toBe(100);
    const events = await orchestrator.api(`/api/events?aggregate_id=${session.id}&event_type=session.scaled`);
    expect(events.body[0].payload).toEqual({ from: 1, to: 100 });
  });

  it("deletes a session with its replicas and answers success with the id", async () => {
    const { body: session } = await orchestrator.api("/api/sessions", {
      method: "POST",
      body: { url: "https://c.example", target_replica_count: 5 },
    });
    const deleted = await orchestrator.api(`/api/sessions/${session.id}`, { method: "DELETE" });
    expect(deleted.body).toEqual({ success: true, id: session.id });
    expect((await orchestrator.api(`/api/sessions/${session.id}`)).status).toBe(404);
    const [rows] = await orchestrator.services.db.primary.query("SELECT COUNT(*) AS n FROM replicas WHERE session_id = ?", [session.id]);
    expect((rows as { n: number }[])[0].n).toBe(0);
    expect((await orchestrator.api(`/api/sessions/${session.id}`, { method: "DELETE" })).status).toBe(404);
  });

  it("batch-creates the valid definitions, reports the invalid ones by index, and writes one event", async () => {
    const before = await orchestrator.api("/api/events?event_type=session.batch_created");
    const batch = await orchestrator.api("/api/sessions/batch", {
      method: "POST",
      body: [{ url: "https://one.example", target_replica_count: 2 }, { url: "not a url" }, { url: "https://three.example", region: "ap-south" }],
    });
    expect(batch.status).toBe(200);
    expect(batch.body.created.map((session: { url: string }) => session.url)).toEqual(["https://one.example", "https://three.example"]);
    expect(batch.body.failed).toEqual([expect.objectContaining({ index: 1, error: "[1].url: must be an http(s) URL" })]);
    const after = await orchestrator.api("/api/events?event_type=session.batch_created");
    expect(after.body.length - before.body.length).toBe(1);
    expect(after.body.at(-1).payload).toMatchObject({ count: 2, replicas: 3 });
  });

  it("bulk-embeds urls with replicas per url in one operation", async () => {
    const bulk = await orchestrator.api("/api/embed/bulk", {
      method: "POST",
      body: {
        urls: ["https://site1.com", "https://site2.com"],
        bulkOptions: { replicasPerUrl: 4, region: "us-east" },
        proxyRequirements: { country: "US" },
        renderingOptions: { javascript: true },
      },
    });
    expect(bulk.status).toBe(200);
    expect(bulk.body).toMatchObject({ totalProcessed: 2, totalReplicas: 8 });
    expect(bulk.body.createdSessionIds).toHaveLength(2);
    const session = await orchestrator.api(`/api/sessions/${bulk.body.createdSessionIds[1]}`);
    expect(session.body).toMatchObject({
      url: "https://site2.com",
      active_replica_count: 4,
      proxy_requirements: { country: "US" },
      rendering_options: { javascript: true },
    });
  });

  it("bulk-embeds the good URLs and lists each refused one with its reason, totals and event agreeing", async () => {
    const bulk = await orchestrator.api("/api/embed/bulk", {
      method: "POST",
      body: { urls: ["https://good1.example", "ftp://bad.example", 42, "https://good2.example"], bulkOptions: { replicasPerUrl: 2 } },
    });
    expect(bulk.status).toBe(200);
    expect(bulk.body).toMatchObject({ totalProcessed: 4, totalCreated: 2, totalReplicas: 4 });
    expect(bulk.body.failed).toEqual([
      { index: 1, url: "ftp://bad.example", error: "urls[1]: must be an http(s) URL" },
      { index: 2, url: 42, error: "urls[2]: must be a string" },
    ]);
    const created = await Promise.all(bulk.body.createdSessionIds.map((id: string) => orchestrator.api(`/api/sessions/${id}`)));
    expect(created.map((session) => session.body.url)).toEqual(["https://good1.example", "https://good2.example"]);
    const event = await orchestrator.api("/api/events?event_type=session.bulk_created&order=desc&limit=1");
    expect(event.body[0].payload).toMatchObject({ count: 2, replicas: 4, urls: 4, failed: 2, first_id: bulk.body.createdSessionIds[0] });
  });

  it("refuses only the URLs past the replicas one request may create", async () => {
    const urls = Array.from({ length: 12 }, (_, index) => `https://limit${index}.example`);
    const response = await orchestrator.api("/api/embed/bulk", { method: "POST", body: { urls, bulkOptions: { replicasPerUrl: 10000 } } });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ totalProcessed: 12, totalCreated: 10, totalReplicas: 100000 });
    expect(response.body.failed.map((refused: { index: number }) => refused.index)).toEqual([10, 11]);
    expect(response.body.failed[0].error).toBe("urls[10]: over the limit of 100000 replicas per request at 10000 per URL; use /api/embed/scale-million");
  }, 120_000);

  it("filters the list by status, region and pool", async () => {
    await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://f.example", region: "sa-east" } });
    const inRegion = await orchestrator.api("/api/sessions?region=sa-east&status=active&proxy_pool_id=global-pool");
    expect(inRegion.body).toEqual([]);
    const byRegion = await orchestrator.api("/api/sessions?region=sa-east");
    expect(byRegion.body.map((session: { url: string }) => session.url)).toEqual(["https://f.example"]);
  });
});

describe("validation", () => {
  it("names the field and the rule of a bad session", async () => {
    const response = await orchestrator.api("/api/sessions", {
      method: "POST",
      body: { url: "ftp://example.com", target_replica_count: 20000 },
    });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      error: "validation_failed",
      message: "url: must be an http(s) URL; target_replica_count: must be at most 10000",
      issues: [
        { path: "url", message: "must be an http(s) URL" },
        { path: "target_replica_count", message: "must be at most 10000" },
      ],
    });
  });

  it("says a missing field is required", async () => {
    const response = await orchestrator.api("/api/sessions", { method: "POST", body: { region: "eu-west" } });
    expect(response.body.message).toBe("url: is required");
    const scale = await orchestrator.api(`/api/sessions/${"0".repeat(8)}-0000-0000-0000-${"0".repeat(12)}/scale`, { method: "POST", body: {} });
    expect(scale.body.message).toBe("target_replicas: is required");
  });

  it("refuses a bulk embed malformed as a whole with a 400 naming the field", async () => {
    const response = await orchestrator.api("/api/embed/bulk", {
      method: "POST",
      body: { urls: ["https://ok.example", "nope"], bulkOptions: { replicasPerUrl: 0 } },
    });
    expect(response.status).toBe(400);
    expect(response.body.message).toBe("bulkOptions.replicasPerUrl: must be 1 or more");
    const notArray = await orchestrator.api("/api/embed/bulk", { method: "POST", body: { urls: "https://ok.example" } });
    expect(notArray.body.message).toBe("urls: must be an array of URLs");
  });

  it("names a bad query parameter", async () => {
    const response = await orchestrator.api("/api/sessions?status=sleeping&limit=5000");
    expect(response.status).toBe(400);
    expect(response.body.message).toBe("query.status: must be one of pending, active, paused, terminated, failed; query.limit: must be at most 1000");
  });

  it("rejects an update that changes nothing and an unknown session id", async () => {
    const { body: session } = await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://g.example" } });
    const empty = await orchestrator.api(`/api/sessions/${session.id}`, { method: "PUT", body: {} });
    expect(empty.body.message).toBe("(body): must change at least one field");
    const bogus = await orchestrator.api("/api/sessions/not-an-id");
    expect(bogus.status).toBe(400);
    expect(bogus.body.message).toBe("params.id: must be a session id");
  });

  it("answers malformed JSON with a JSON error", async () => {
    const response = await fetch(`${orchestrator.baseUrl}/api/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      body: "{not json",
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe("bad_request");
  });
});

describe("auth", () => {
  it("refuses a change without the token or with a wrong one, and reads without one", async () => {
    const missing = await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://x.example" }, token: null });
    expect(missing.status).toBe(401);
    expect(missing.body.error).toBe("unauthorized");
    const wrong = await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://x.example" }, token: "wrong-token" });
    expect(wrong.status).toBe(401);
    expect((await orchestrator.api("/api/sessions", { token: null })).status).toBe(200);
  });
});

describe("pagination at scale", () => {
  it("walks 25,000 sessions in pages by cursor, each page in the same order, none twice", async () => {
    const { body } = await orchestrator.api("/api/embed/bulk", {
      method: "POST",
      body: { urls: Array.from({ length: 10000 }, (_, index) => `https://page.example/${index}`), bulkOptions: { region: "page-test" } },
    });
    expect(body.totalProcessed).toBe(10000);
    await orchestrator.api("/api/embed/bulk", {
      method: "POST",
      body: { urls: Array.from({ length: 10000 }, (_, index) => `https://page.example/b${index}`), bulkOptions: { region: "page-test" } },
    });
    await orchestrator.api("/api/embed/bulk", {
      method: "POST",
      body: { urls: Array.from({ length: 5000 }, (_, index) => `https://page.example/c${index}`), bulkOptions: { region: "page-test" } },
    });
    const seen = new Set<string>();
    let path: string | null = "/api/sessions?region=page-test&limit=1000";
    let pages = 0;
    while (path) {
      const page = await orchestrator.api(path);
      expect(page.status).toBe(200);
      expect(page.body.length).toBeLessThanOrEqual(1000);
      for (const session of page.body) seen.add(session.id);
      const link = page.headers.get("link");
      path = link ? link.slice(1, link.indexOf(">")) : null;
      pages++;
    }
    expect(pages).toBe(25);
    expect(seen.size).toBe(25000);
  }, 180_000);

  it("never returns more than the default page when no limit is given", async () => {
    const page = await orchestrator.api("/api/sessions");
    expect(page.body).toHaveLength(100);
    expect(page.headers.get("x-next-cursor")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
