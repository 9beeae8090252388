import type { RowDataPacket } from "mysql2/promise";
import { inTransaction, RETRY_DEADLOCKS } from "./db";
import { acceptCached, forget, remember, tally, type CachedReport, type LiveEntry } from "./liveness-cache";
import { enqueueReconcile } from "./queue";
import { applyReplicaChanges, checkTransition, type ReplicaChange, type ReplicaRow } from "./replica-lifecycle";
import type { Heartbeat } from "./schemas";
import type { Services } from "./services";

export interface HeartbeatResult {
  /** Reports taken, whether they changed the replica's status or not. */
  accepted: number;
  /** Reports that moved a replica to a new status. */
  transitions: number;
  rejected: { replica_id: string; error: string }[];
  /** Replicas the orchestrator no longer wants (ended, scaled away, deleted): whatever runs them stops them. */
  stop: string[];
}

/**
 * Takes a runner's batch of heartbeats. A replica already known live in the reported status costs
 * nothing in MariaDB (the Lua script in liveness-cache stamps it in Redis); transitions and replicas
 * Redis does not know are read and written in one transaction, with their events, and then cached.
 */
export async function recordHeartbeats(services: Services, heartbeats: Heartbeat[]): Promise<HeartbeatResult> {
  const reports: CachedReport[] = heartbeats.map((heartbeat) => ({
    replicaId: heartbeat.replica_id,
    status: heartbeat.status,
    outcome: heartbeat.last_request?.proxy_outcome,
    latencyMs: heartbeat.last_request?.latency_ms,
  }));
  const receivedAt = Date.now();
  const misses = await acceptCached(services.redis, reports, receivedAt);
  if (misses.length === 0) return { accepted: heartbeats.length, transitions: 0, rejected: [], stop: [] };

  const pending = misses.map((index) => heartbeats[index]);
  const outcome = await inTransaction(
    services.db,
    async (connection) => {
      const result: HeartbeatResult = { accepted: heartbeats.length - misses.length, transitions: 0, rejected: [], stop: [] };
      const [rows] = await connection.query<RowDataPacket[]>("SELECT id, session_id, status, proxy_id FROM replicas WHERE id IN (?) FOR UPDATE", [
        pending.map((heartbeat) => heartbeat.replica_id),
      ]);
      const byId = new Map(rows.map((row) => [row.id as string, row as unknown as ReplicaRow]));
      const changes: ReplicaChange[] = [];
      const live: LiveEntry[] = [];
      const gone: string[] = [];
      for (const heartbeat of pending) {
        const replica = byId.get(heartbeat.replica_id);
        if (!replica) {
          result.rejected.push({ replica_id: heartbeat.replica_id, error: "replica does not exist (scaled down or its session deleted); stop it" });
          result.stop.push(heartbeat.replica_id);
          gone.push(heartbeat.replica_id);
          continue;
        }
        const check = checkTransition(replica.status, heartbeat.status);
        if (!check.allowed) {
          result.rejected.push({ replica_id: replica.id, error: check.reason });
          if (check.stop) {
            result.stop.push(replica.id);
            gone.push(replica.id);
          }
          continue;
        }
        result.accepted++;
        const proxyAtFault = heartbeat.last_request?.proxy_outcome === "proxy_error";
        if (check.changes) {
          changes.push({
            replica,
            to: heartbeat.status,
            reason: heartbeat.status === "stopped" || heartbeat.status === "failed" ? (heartbeat.reason ?? `reported ${heartbeat.status}`) : undefined,
            proxyAtFault: heartbeat.status === "failed" && proxyAtFault,
          });
        }
        if (heartbeat.status === "starting" || heartbeat.status === "running") {
          live.push({ replicaId: replica.id, status: heartbeat.status, proxyId: replica.proxy_id, proxyAtFault });
        } else {
          gone.push(replica.id);
        }
      }
      const changed = new Set(changes.map((change) => change.replica.id));
      const unchanged = live.filter((entry) => !changed.has(entry.replicaId)).map((entry) => entry.replicaId);
      if (unchanged.length) await connection.query("UPDATE replicas SET last_heartbeat_at = CURRENT_TIMESTAMP(3) WHERE id IN (?)", [unchanged]);
      const lostSessions = await applyReplicaChanges(connection, services.config.MEGAWEB_HYPERGRID_TILE_SIZE, changes);
      result.transitions = changes.length;
      return { result, live, gone, lostSessions, proxyOf: byId };
    },
    RETRY_DEADLOCKS,
  );

  const pipeline = services.redis.pipeline();
  remember(pipeline, outcome.live, receivedAt);
  forget(pipeline, outcome.gone);
  for (const heartbeat of pending) {
    const proxyId = outcome.proxyOf.get(heartbeat.replica_id)?.proxy_id;
    if (proxyId && heartbeat.last_request) tally(pipeline, proxyId, heartbeat.last_request.proxy_outcome, heartbeat.last_request.latency_ms);
  }
  await pipeline.exec();
  // Replacements are placed at once rather than at the next sweep.
  await enqueueReconcile(services.queue, outcome.lostSessions);
  return outcome.result;
}
