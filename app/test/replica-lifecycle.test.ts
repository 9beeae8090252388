import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkTransition } from "../src/replica-lifecycle";
import { API_TOKEN, eventually, startBackends, startOrchestrator, type Backends, type RunningOrchestrator } from "./support/orchestrator";
import { expectSummariesExact } from "./support/summaries";

/**
 * Replicas as a client written from the API reference sees them: placed pending, moved by a runner's
 * heartbeats, failed and replaced by the worker when they go silent, on another proxy when theirs
 * was at fault.
 */

const RUNNER_TOKEN = "runner-token-0123456789abcdef";

let backends: Backends;
let orchestrator: RunningOrchestrator;

beforeAll(async () => {
  backends = await startBackends();
  orchestrator = await startOrchestrator(backends, {
    worker: true,
    env: { MEGAWEB_RUNNER_TOKEN: RUNNER_TOKEN, MEGAWEB_HEARTBEAT_TIMEOUT_SECONDS: "2", MEGAWEB_PROXY_CHECK_INTERVAL_SECONDS: "3600" },
  });
});
afterAll(async () => {
  await orchestrator?.stop();
  await backends?.stop();
});

type Report = { replica_id: string; status: string; reason?: string; last_request?: { proxy_outcome: string; latency_ms?: number } };

function beat(reports: Report[], token: string | null = RUNNER_TOKEN) {
  return orchestrator.api("/api/replicas/heartbeats", { method: "POST", body: { heartbeats: reports }, token });
}

async function replicasOf(sessionId: string) {
  return (await orchestrator.api(`/api/replicas?session_id=${sessionId}`)).body as {
    id: string;
    status: string;
    proxy_id: string | null;
    started_at: string | null;
    last_heartbeat_at: string | null;
    end_reason: string | null;
    proxy_at_fault: boolean;
  }[];
}

async function newSession(body: Record<string, unknown>) {
  const created = await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://life.example", ...body } });
  expect(created.status).toBe(201);
  return created.body.id as string;
}

describe("replica lifecycle", () => {
  it("places replicas pending and moves them to starting and running by heartbeats, with events", async () => {
    const sessionId = await newSession({ target_replica_count: 2 });
    const placed = await replicasOf(sessionId);
    expect(placed.map((replica) => replica.status)).toEqual(["pending", "pending"]);

    const starting = await beat(placed.map((replica) => ({ replica_id: replica.id, status: "starting" })));
    expect(starting.body).toEqual({ accepted: 2, transitions: 2, rejected: [], stop: [] });
    expect((await replicasOf(sessionId)).map((replica) => replica.status)).toEqual(["starting", "starting"]);

    const running = await beat(placed.map((replica) => ({ replica_id: replica.id, status: "running", last_request: { proxy_outcome: "ok", latency_ms: 80 } })));
    expect(running.body).toMatchObject({ accepted: 2, transitions: 2 });
    // A steady heartbeat is taken from Redis and changes nothing in MariaDB.
    const steady = await beat(placed.map((replica) => ({ replica_id: replica.id, status: "running" })));
    expect(steady.body).toEqual({ accepted: 2, transitions: 0, rejected: [], stop: [] });
    const now = await replicasOf(sessionId);
    expect(now.map((replica) => replica.status)).toEqual(["running", "running"]);
    expect(now.every((replica) => replica.started_at && Date.now() - Date.parse(replica.last_heartbeat_at!) < 5000)).toBe(true);

    const events = await orchestrator.api(`/api/events?aggregate_id=${sessionId}&event_type=replica.status.changed`);
    expect(events.body.map((event: { payload: unknown }) => event.payload)).toEqual([
      { to: "starting", from: { pending: 2 }, count: 2, replicas: placed.map((replica) => replica.id) },
      { to: "running", from: { starting: 2 }, count: 2, replicas: placed.map((replica) => replica.id) },
    ]);
    const metrics = await eventually("running replicas in the metrics", async () => {
      const body = (await orchestrator.api("/api/metrics/global")).body;
      return body.replicas_by_status?.running >= 2 ? body : undefined;
    });
    expect(metrics.active_replicas).toBeGreaterThanOrEqual(2);
  });

  it("fails a replica that stops sending heartbeats and places its replacement", async () => {
    const sessionId = await newSession({ target_replica_count: 2 });
    const [kept, silent] = await replicasOf(sessionId);
    await beat([kept, silent].map((replica) => ({ replica_id: replica.id, status: "running" })));
    // The runner keeps one replica alive; the other goes quiet past the 2 s timeout.
    const keepAlive = setInterval(() => void beat([{ replica_id: kept.id, status: "running" }]), 500);
    try {
      const replicas = await eventually("the silent replica failed and replaced", async () => {
        const current = await replicasOf(sessionId);
        return current.length === 3 && current.find((replica) => replica.id === silent.id)?.status === "failed" ? current : undefined;
      });
      expect(replicas.find((replica) => replica.id === kept.id)?.status).toBe("running");
      expect(replicas.find((replica) => replica.id === silent.id)?.end_reason).toBe("no heartbeat for 2 s");
      expect(replicas.filter((replica) => replica.status === "pending")).toHaveLength(1);
    } finally {
      clearInterval(keepAlive);
    }
    const session = (await orchestrator.api(`/api/sessions/${sessionId}`)).body;
    expect(session.active_replica_count).toBe(2);
    const reconciled = await orchestrator.api(`/api/events?aggregate_id=${sessionId}&event_type=session.reconciled`);
    expect(reconciled.body.at(-1).payload).toMatchObject({ from: 1, to: 2 });
    // A late heartbeat from the failed replica is told to stop.
    const late = await beat([{ replica_id: silent.id, status: "running" }]);
    expect(late.body).toMatchObject({ accepted: 0, stop: [silent.id], rejected: [{ replica_id: silent.id, error: "replica is failed; stop it" }] });
  });

  it("replaces a replica that failed because of its proxy on another proxy", async () => {
    await orchestrator.api("/api/proxy-pools/fault-pool", { method: "PUT", body: { rotation: "sticky" } });
    for (const host of ["10.9.0.1", "10.9.0.2"]) {
      await orchestrator.api("/api/proxies", { method: "POST", body: { pool_id: "fault-pool", host, port: 3128, country: "DE" } });
    }
    const sessionId = await newSession({ target_replica_count: 1, proxy_pool_id: "fault-pool" });
    const [first] = await replicasOf(sessionId);
    await beat([{ replica_id: first.id, status: "running" }]);
    const failed = await beat([{ replica_id: first.id, status: "failed", reason: "proxy refused CONNECT", last_request: { proxy_outcome: "proxy_error" } }]);
    expect(failed.body).toMatchObject({ accepted: 1, transitions: 1, stop: [] });
    // Sticky rotation would put the replacement back on the same proxy; the fault keeps it off.
    const replacement = await eventually("a replacement", async () => (await replicasOf(sessionId)).find((replica) => replica.status === "pending"));
    expect(replacement.proxy_id).not.toBe(first.proxy_id);
    const ended = (await replicasOf(sessionId)).find((replica) => replica.id === first.id)!;
    expect(ended).toMatchObject({ status: "failed", end_reason: "proxy refused CONNECT", proxy_at_fault: true });
    const reconciled = await orchestrator.api(`/api/events?aggregate_id=${sessionId}&event_type=session.reconciled`);
    expect(reconciled.body.at(-1).payload).toEqual({ from: 0, to: 1, avoided_proxies: [first.proxy_id] });
  });

  it("tells the runner to stop replicas that were scaled away, and refuses going back", async () => {
    const sessionId = await newSession({ target_replica_count: 3 });
    const replicas = await replicasOf(sessionId);
    await beat(replicas.map((replica) => ({ replica_id: replica.id, status: "running" })));
    await orchestrator.api(`/api/sessions/${sessionId}/scale`, { method: "POST", body: { target_replicas: 1 } });
    await eventually("scaled down", async () => ((await replicasOf(sessionId)).length === 1 ? true : undefined));
    const [kept] = await replicasOf(sessionId);
    const removed = replicas.filter((replica) => replica.id !== kept.id).map((replica) => replica.id);
    const answer = await beat(replicas.map((replica) => ({ replica_id: replica.id, status: "running" })));
    expect(answer.body.accepted).toBe(1);
    expect(answer.body.stop.sort()).toEqual(removed.sort());
    const back = await beat([{ replica_id: kept.id, status: "starting" }]);
    expect(back.body).toEqual({
      accepted: 0,
      transitions: 0,
      rejected: [{ replica_id: kept.id, error: "replica is running and cannot go back to starting" }],
      stop: [],
    });
  });

  it("takes heartbeats with the runner or the API token only, and names a bad field", async () => {
    const sessionId = await newSession({});
    const [replica] = await replicasOf(sessionId);
    expect((await beat([{ replica_id: replica.id, status: "starting" }], null)).status).toBe(401);
    expect((await beat([{ replica_id: replica.id, status: "starting" }], "not-the-runner-token")).status).toBe(401);
    expect((await beat([{ replica_id: replica.id, status: "starting" }], API_TOKEN)).status).toBe(200);
    // The runner token opens nothing else.
    expect((await orchestrator.api("/api/sessions", { method: "POST", body: { url: "https://x.example" }, token: RUNNER_TOKEN })).status).toBe(401);
    const bad = await beat([{ replica_id: replica.id, status: "sleeping" }]);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe("heartbeats[0].status: must be one of starting, running, stopped, failed");
  });

  it("keeps the replica counts behind the metrics equal to the replicas", async () => {
    await expectSummariesExact(orchestrator);
  });
});

describe("transitions", () => {
  it("only move forward, and an ended replica stays ended", () => {
    expect(checkTransition("pending", "running")).toEqual({ allowed: true, changes: true });
    expect(checkTransition("running", "running")).toEqual({ allowed: true, changes: false });
    expect(checkTransition("running", "starting")).toMatchObject({ allowed: false, stop: false });
    expect(checkTransition("stopped", "running")).toMatchObject({ allowed: false, stop: true });
    expect(checkTransition("starting", "failed")).toEqual({ allowed: true, changes: true });
  });
});
