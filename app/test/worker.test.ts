import type { RowDataPacket } from "mysql2/promise";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enqueue, enqueueReconcile, PRIORITY } from "../src/queue";
import { SCALE_BATCH } from "../src/scale";
import { eventually, startBackends, startOrchestrator, type Backends, type RunningOrchestrator } from "./support/orchestrator";
import { expectSummariesExact } from "./support/summaries";

let backends: Backends;
let orchestrator: RunningOrchestrator;

beforeAll(async () => {
  backends = await startBackends();
  orchestrator = await startOrchestrator(backends, { worker: true });
});
afterAll(async () => {
  await orchestrator?.stop();
  await backends?.stop();
});

async function replicaRows(run: RunningOrchestrator, sessionId: string) {
  const [rows] = await run.services.db.primary.query<RowDataPacket[]>("SELECT proxy_id, country FROM replicas WHERE session_id = ? ORDER BY id", [sessionId]);
  return rows;
}

async function converged(run: RunningOrchestrator, sessionId: string, replicas: number) {
  const session = await run.api(`/api/sessions/${sessionId}`);
  const rows = await replicaRows(run, sessionId);
  return session.body.active_replica_count === replicas && rows.length === replicas ? session.body : undefined;
}

async function addProxies(run: RunningOrchestrator, pool: string, rotation: string, countries: string[]) {
  expect((await run.api(`/api/proxy-pools/${pool}`, { method: "PUT", body: { rotation, region: "global" } })).status).toBe(200);
  const ids: string[] = [];
  for (const [index, country] of countries.entries()) {
    const added = await run.api("/api/proxies", {
      method: "POST",
      body: { pool_id: pool, host: `${pool}-${index}.proxy.test`, port: 8080, country, region: "global" },
    });
    expect(added.status).toBe(201);
    ids.push(added.body.id);
  }
  return ids;
}

describe("reconciler", () => {
  it("converges a session's replicas up to a new target and back down, and to none once terminated", async () => {
    const { body: session } = await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://r.example" } });
    await orchestrator.api(`/api/sessions/${session.id}/scale`, { method: "POST", body: { target_replicas: 250 } });
    await eventually("250 replicas", () => converged(orchestrator, session.id, 250));
    await orchestrator.api(`/api/sessions/${session.id}/scale`, { method: "POST", body: { target_replicas: 3 } });
    await eventually("3 replicas", () => converged(orchestrator, session.id, 3));
    await orchestrator.api(`/api/sessions/${session.id}`, { method: "PUT", body: { status: "terminated" } });
    await eventually("no replicas", () => converged(orchestrator, session.id, 0));
    await expectSummariesExact(orchestrator);
    const events = await orchestrator.api(`/api/events?aggregate_id=${session.id}&event_type=session.reconciled`);
    expect(events.body.map((event: { payload: unknown }) => event.payload)).toEqual([
      { from: 1, to: 250 },
      { from: 250, to: 3 },
      { from: 3, to: 0 },
    ]);
  });

  it("sweeps up a session whose target changed without a job", async () => {
    const { body: session } = await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://drift.example" } });
    await orchestrator.services.db.primary.query("UPDATE sessions SET target_replica_count = 7 WHERE id = ?", [session.id]);
    await eventually("the sweep to place 7 replicas", () => converged(orchestrator, session.id, 7));
  });

  it("places replicas by each pool's rotation", async () => {
    const roundRobin = await addProxies(orchestrator, "rr-pool", "round-robin", ["US", "DE", "FR"]);
    const sticky = await addProxies(orchestrator, "sticky-pool", "sticky", ["US", "DE", "FR"]);
    await addProxies(orchestrator, "geo-pool", "geo", ["US", "DE", "DE", "FR"]);
    const create = async (pool: string, extra: Record<string, unknown> = {}) =>
      (await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://p.example", target_replica_count: 6, proxy_pool_id: pool, ...extra } }))
        .body.id;

    const rrRows = await replicaRows(orchestrator, await create("rr-pool"));
    const perProxy = new Map<string, number>();
    for (const row of rrRows) perProxy.set(row.proxy_id, (perProxy.get(row.proxy_id) ?? 0) + 1);
    expect([...perProxy.keys()].sort()).toEqual([...roundRobin].sort());
    expect([...perProxy.values()]).toEqual([2, 2, 2]);

    const stickyRows = await replicaRows(orchestrator, await create("sticky-pool"));
    expect(new Set(stickyRows.map((row) => row.proxy_id)).size).toBe(1);
    expect(sticky).toContain(stickyRows[0].proxy_id);

    const geoRows = await replicaRows(orchestrator, await create("geo-pool", { proxy_requirements: { country: "DE" } }));
    expect(new Set(geoRows.map((row) => row.country))).toEqual(new Set(["DE"]));
    expect(new Set(geoRows.map((row) => row.proxy_id)).size).toBe(2);

    const burstProxies = await addProxies(orchestrator, "burst-pool", "burst", ["US", "JP"]);
    await orchestrator.services.db.primary.query(
      "INSERT INTO replicas (id, session_id, status, proxy_id) SELECT UUID(), id, 'running', ? FROM sessions LIMIT 4",
      [burstProxies[0]],
    );
    // Counted like the app counts what it writes, so the summaries stay exact for the later checks.
    await orchestrator.services.db.primary.query(
      "INSERT INTO replica_counts (status, shard, replicas) VALUES ('running', 0, 4) ON DUPLICATE KEY UPDATE replicas = replicas + 4",
    );
    const burstRows = await replicaRows(orchestrator, await create("burst-pool"));
    expect(burstRows.filter((row) => row.proxy_id === burstProxies[1])).toHaveLength(5);
  });
});

describe("jobs", () => {
  it("scales to N sessions in the background and reports progress, then does nothing when asked again", async () => {
    const [before] = await orchestrator.services.db.primary.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM sessions");
    const started = await orchestrator.api("/api/embed/scale-million", { method: "POST", body: { targetSessions: 20000 } });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ targetReached: false, targetSessions: 20000, statusUrl: `/api/jobs/${started.body.jobId}` });
    const done = await eventually(
      "the scale job",
      async () => {
        const job = await orchestrator.api(started.body.statusUrl);
        return job.body.state === "completed" ? job.body : undefined;
      },
      120_000,
    );
    expect(done).toMatchObject({ targetReached: true, currentSessions: 20000, targetSessions: 20000 });
    // One event per committed batch, all under the job's id: the log matches what exists even mid-job.
    const events = await orchestrator.api(`/api/events?aggregate_id=job-${started.body.jobId}&limit=1000`);
    expect(events.body).toHaveLength(Math.ceil(20000 / SCALE_BATCH));
    expect(events.body.reduce((sum: number, event: { payload: { count: number } }) => sum + event.payload.count, 0)).toBe(20000 - Number(before[0].n));
    const metrics = await eventually("fresh metrics", async () => {
      const response = await orchestrator.api("/api/metrics/global");
      return response.body.total_sessions === 20000 ? response.body : undefined;
    });
    expect(metrics.total_replicas).toBeGreaterThanOrEqual(20000);

    const again = await orchestrator.api("/api/embed/scale-million", { method: "POST", body: { targetSessions: 20000 } });
    expect(again.body).toMatchObject({ targetReached: true, currentSessions: 20000 });
    await eventually("the second scale job", async () => {
      const job = await orchestrator.api(again.body.statusUrl);
      return job.body.state === "completed" ? job.body : undefined;
    });
    const [rows] = await orchestrator.services.db.primary.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM sessions");
    expect(Number(rows[0].n)).toBe(20000);
    await expectSummariesExact(orchestrator);
  }, 180_000);

  it("clears every session and its replicas as a job", async () => {
    const started = await orchestrator.api("/api/sessions/clear", { method: "POST" });
    expect(started.status).toBe(202);
    const done = await eventually(
      "the clear job",
      async () => {
        const job = await orchestrator.api(started.body.statusUrl);
        return job.body.state === "completed" ? job.body : undefined;
      },
      60_000,
    );
    expect(done.deletedSessions).toBeGreaterThanOrEqual(20000);
    const [rows] = await orchestrator.services.db.primary.query<RowDataPacket[]>(
      "SELECT (SELECT COUNT(*) FROM sessions) AS sessions, (SELECT COUNT(*) FROM replicas) AS replicas",
    );
    expect(rows[0]).toEqual({ sessions: 0, replicas: 0 });
    await expectSummariesExact(orchestrator);
  }, 180_000);

  it("records metric points and removes those past the retention", async () => {
    await orchestrator.services.db.primary.query(
      "INSERT INTO metrics (name, value, recorded_at) VALUES ('total_sessions', 1, UTC_TIMESTAMP() - INTERVAL 31 DAY)",
    );
    const record = await enqueue(orchestrator.services.queue, "record-metrics", {}, PRIORITY.metrics);
    const cleanup = await enqueue(orchestrator.services.queue, "cleanup-metrics", {}, PRIORITY.metrics);
    await eventually("metrics jobs", async () => ((await record.getState()) === "completed" && (await cleanup.getState()) === "completed" ? true : undefined));
    const history = await orchestrator.api("/api/metrics/history?name=total_sessions");
    expect(history.body.points.length).toBeGreaterThanOrEqual(1);
    expect(history.body.points.every((point: { recorded_at: string }) => Date.parse(point.recorded_at) > Date.now() - 86_400_000)).toBe(true);
  });
});

describe("job retries", () => {
  let quiet: RunningOrchestrator;
  beforeAll(async () => {
    quiet = await startOrchestrator(backends, { worker: true, sweepEveryMs: false });
  });
  afterAll(async () => quiet?.stop());

  /** Holds the session's row lock from another connection, as a second worker would. */
  async function holdLock(sessionId: string) {
    const connection = await mysql.createConnection({ uri: quiet.config.MEGAWEB_DB_URL });
    await connection.beginTransaction();
    await connection.query("SELECT id FROM sessions WHERE id = ? FOR UPDATE", [sessionId]);
    return {
      release: async () => {
        await connection.rollback();
        await connection.end();
      },
    };
  }

  async function reconcileJob(sessionId: string) {
    await enqueueReconcile(quiet.services.queue, [sessionId]);
    const jobs = await quiet.services.queue.getJobs(["prioritized", "waiting", "active", "delayed"]);
    const job = jobs.find((candidate) => candidate.data.sessionId === sessionId);
    expect(job).toBeDefined();
    return job!;
  }

  it("retries a job that met a locked session and succeeds once the lock is gone", async () => {
    const { body: session } = await quiet.api("/api/sessions", { method: "POST", body: { url: "https://retry.example" } });
    await quiet.services.db.primary.query("UPDATE sessions SET target_replica_count = 4 WHERE id = ?", [session.id]);
    const lock = await holdLock(session.id);
    const job = await reconcileJob(session.id);
    await eventually("a first failed attempt", async () => ((await quiet.services.queue.getJob(job.id!))!.attemptsMade >= 1 ? true : undefined));
    await lock.release();
    const finished = await eventually("the retried job", async () => {
      const current = await quiet.services.queue.getJob(job.id!);
      return (await current!.getState()) === "completed" ? current : undefined;
    });
    expect(finished!.attemptsMade).toBeGreaterThanOrEqual(1);
    expect(await converged(quiet, session.id, 4)).toBeDefined();
  });

  it("gives up after 3 attempts with exponential backoff", async () => {
    const { body: session } = await quiet.api("/api/sessions", { method: "POST", body: { url: "https://giveup.example" } });
    await quiet.services.db.primary.query("UPDATE sessions SET target_replica_count = 2 WHERE id = ?", [session.id]);
    const lock = await holdLock(session.id);
    const started = Date.now();
    const job = await reconcileJob(session.id);
    // The state is asked after the job was read: the job is read again once it is failed, or its
    // attempts could be those of the read before the last one.
    const failed = await eventually("the job to fail for good", async () =>
      (await quiet.services.queue.getJobState(job.id!)) === "failed" ? quiet.services.queue.getJob(job.id!) : undefined,
    );
    await lock.release();
    expect(failed!.attemptsMade).toBe(3);
    // Backoff of 1 s then 2 s between the three attempts.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(failed!.failedReason).toMatch(/lock/i);
  });

  it("runs a high-priority job before the low-priority ones queued ahead of it", async () => {
    // One at a time, so the order the worker takes jobs in is the order they run in.
    quiet.worker!.concurrency = 1;
    await quiet.worker!.pause();
    const low = await Promise.all(Array.from({ length: 12 }, () => enqueue(quiet.services.queue, "cleanup-metrics", {}, PRIORITY.metrics)));
    const { body: session } = await quiet.api("/api/sessions", { method: "POST", body: { url: "https://urgent.example" } });
    const high = await enqueue(quiet.services.queue, "reconcile-session", { sessionId: session.id }, PRIORITY.reconcileSession);
    quiet.worker!.resume();
    const jobs = [high, ...low];
    const finished = await eventually("every job", async () => {
      const current = await Promise.all(jobs.map((job) => quiet.services.queue.getJob(job.id!)));
      return current.every((job) => job?.finishedOn) ? current : undefined;
    });
    const [urgent, ...rest] = finished.map((job) => job!.processedOn!);
    expect(urgent).toBeLessThanOrEqual(Math.min(...rest));
    expect(urgent).toBeLessThan(Math.max(...rest));
    quiet.worker!.concurrency = quiet.config.MEGAWEB_WORKER_CONCURRENCY;
  });
});
