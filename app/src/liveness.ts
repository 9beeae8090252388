import type { ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { inTransaction, RETRY_DEADLOCKS } from "./db";
import { faultFlags, forget, heartbeatTimes, KEYS, remember, type LiveEntry } from "./liveness-cache";
import { enqueueReconcile } from "./queue";
import { applyReplicaChanges, type ReplicaRow } from "./replica-lifecycle";
import type { Services } from "./services";
import { adjust } from "./summaries";

/** Replicas looked at per statement by the sweep. */
const SWEEP_SLICE = 1000;
/** Slices one sweep may take, so a backlog is worked off over several runs instead of one long job. */
const MAX_SLICES = 50;
/** How long a cached replica is trusted before MariaDB is asked again (in bulk, by this sweep). */
export const CONFIRM_EVERY_MS = 60_000;

export interface SweepResult {
  failed: number;
  confirmed: number;
}

/**
 * The worker's side of replica liveness, every third of the heartbeat timeout:
 * 1. replicas whose last heartbeat in Redis is older than the timeout are failed;
 * 2. cached replicas not confirmed for CONFIRM_EVERY_MS are read back from MariaDB in bulk, which
 *    also brings their last_heartbeat_at forward there;
 * 3. live replicas MariaDB last heard of long ago and Redis does not know (its keys were lost, or the
 *    replica was marked running before heartbeats existed) are failed too.
 * Failed replicas' sessions are reconciled at once, so their replacements are placed.
 */
export async function sweepLiveness(services: Services, now = Date.now()): Promise<SweepResult> {
  const timeoutMs = services.config.MEGAWEB_HEARTBEAT_TIMEOUT_SECONDS * 1000;
  const result: SweepResult = { failed: 0, confirmed: 0 };
  for (let slice = 0; slice < MAX_SLICES; slice++) {
    const stale = await services.redis.zrangebyscore(KEYS.heartbeats, "-inf", now - timeoutMs, "LIMIT", 0, SWEEP_SLICE);
    if (stale.length === 0) break;
    result.failed += await failSilent(services, stale, now - timeoutMs);
  }
  for (let slice = 0; slice < MAX_SLICES; slice++) {
    const due = await services.redis.zrangebyscore(KEYS.confirmed, "-inf", now - CONFIRM_EVERY_MS, "LIMIT", 0, SWEEP_SLICE);
    if (due.length === 0) break;
    result.confirmed += await confirm(services, due, now);
  }
  for (let slice = 0; slice < MAX_SLICES; slice++) {
    const [rows] = await services.db.primary.query<RowDataPacket[]>(
      `SELECT id FROM replicas WHERE status IN ('starting', 'running') AND last_heartbeat_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND
       ORDER BY status, last_heartbeat_at LIMIT ?`,
      [Math.ceil((timeoutMs + CONFIRM_EVERY_MS) / 1000), SWEEP_SLICE],
    );
    if (rows.length === 0) break;
    const failed = await failSilent(
      services,
      rows.map((row) => row.id),
      now - timeoutMs,
    );
    result.failed += failed;
    if (failed === 0) break;
  }
  return result;
}

/**
 * Fails the given replicas that are still starting or running and have not been heard of since
 * `cutoff` (a heartbeat may have come in since they were picked). The proxy was at fault when the
 * replica's last request failed because of it, or the proxy is down.
 */
async function failSilent(services: Services, candidates: string[], cutoff: number): Promise<number> {
  const reason = `no heartbeat for ${services.config.MEGAWEB_HEARTBEAT_TIMEOUT_SECONDS} s`;
  const faults = await faultFlags(services.redis, candidates);
  const outcome = await inTransaction(
    services.db,
    async (connection) => {
      const [rows] = await connection.query<RowDataPacket[]>(
        `SELECT r.id, r.session_id, r.status, r.proxy_id, p.status = 'down' AS proxy_down
         FROM replicas r LEFT JOIN proxies p ON p.id = r.proxy_id
         WHERE r.id IN (?) AND r.status IN ('starting', 'running') FOR UPDATE`,
        [candidates],
      );
      const heard = await heartbeatTimes(
        services.redis,
        rows.map((row) => row.id),
      );
      const silent = rows.filter((_, index) => heard[index] === null || heard[index]! <= cutoff);
      const lostSessions = await applyReplicaChanges(
        connection,
        services.config.MEGAWEB_HYPERGRID_TILE_SIZE,
        silent.map((row) => ({
          replica: row as unknown as ReplicaRow,
          to: "failed" as const,
          reason,
          proxyAtFault: row.proxy_down === 1 || faults.get(row.id) === true,
        })),
      );
      const stillLive = new Set(rows.filter((row) => !silent.includes(row)).map((row) => row.id as string));
      return { failed: silent.length, lostSessions, forgotten: candidates.filter((id) => !stillLive.has(id)) };
    },
    RETRY_DEADLOCKS,
  );
  const pipeline = services.redis.pipeline();
  forget(pipeline, outcome.forgotten);
  await pipeline.exec();
  await enqueueReconcile(services.queue, outcome.lostSessions);
  return outcome.failed;
}

/**
 * Reads cached replicas back from MariaDB: still live ones are re-cached as they are there (and their
 * last_heartbeat_at brought forward when Redis heard from them within the timeout), others forgotten.
 */
async function confirm(services: Services, replicaIds: string[], now: number): Promise<number> {
  const [rows] = await services.db.primary.query<RowDataPacket[]>(
    "SELECT id, status, proxy_id FROM replicas WHERE id IN (?) AND status IN ('starting', 'running')",
    [replicaIds],
  );
  const faults = await faultFlags(services.redis, replicaIds);
  const live: LiveEntry[] = rows.map((row) => ({ replicaId: row.id, status: row.status, proxyId: row.proxy_id, proxyAtFault: faults.get(row.id) === true }));
  const heard = await heartbeatTimes(
    services.redis,
    live.map((entry) => entry.replicaId),
  );
  const timeoutMs = services.config.MEGAWEB_HEARTBEAT_TIMEOUT_SECONDS * 1000;
  const fresh = live.filter((_, index) => heard[index] !== null && heard[index]! > now - timeoutMs).map((entry) => entry.replicaId);
  if (fresh.length) {
    await services.db.primary.query("UPDATE replicas SET last_heartbeat_at = CURRENT_TIMESTAMP(3) WHERE id IN (?) AND status IN ('starting', 'running')", [
      fresh,
    ]);
  }
  const liveIds = new Set(live.map((entry) => entry.replicaId));
  const pipeline = services.redis.pipeline();
  remember(pipeline, live, null, now);
  forget(
    pipeline,
    replicaIds.filter((id) => !liveIds.has(id)),
  );
  await pipeline.exec();
  return live.length;
}

/** Stopped and failed replicas past MEGAWEB_REPLICA_RETENTION_HOURS go, in slices. */
export async function cleanupEndedReplicas(services: Services): Promise<number> {
  let removed = 0;
  for (const status of ["stopped", "failed"] as const) {
    for (;;) {
      const deleted = await inTransaction(services.db, async (connection) => {
        const [result] = await connection.query<ResultSetHeader>(
          "DELETE FROM replicas WHERE status = ? AND ended_at < CURRENT_TIMESTAMP(3) - INTERVAL ? HOUR LIMIT 10000",
          [status, services.config.MEGAWEB_REPLICA_RETENTION_HOURS],
        );
        await adjust(connection, services.config.MEGAWEB_HYPERGRID_TILE_SIZE, [], { [status]: -result.affectedRows });
        return result.affectedRows;
      });
      removed += deleted;
      if (deleted < 10000) break;
    }
  }
  return removed;
}
