import type { RowDataPacket } from "mysql2/promise";
import { inTransaction } from "./db";
import { appendEvents, type NewEvent } from "./events";
import { forgetReplicas } from "./liveness-cache";
import { insertReplicas, placeForPool } from "./placement";
import { liveStatusList, type ReplicaStatus } from "./replica-lifecycle";
import { adjust, type ReplicaCountChange } from "./summaries";
import type { Services } from "./services";

export interface Convergence {
  sessionId: string;
  from: number;
  to: number;
}

/**
 * Converges one session's replica records to its target (none once terminated or failed).
 * NOWAIT: when another worker holds the session, this attempt fails at once and the queue's
 * backoff retries it, rather than a worker slot sitting on a lock.
 */
export async function reconcileSession(services: Services, sessionId: string): Promise<Convergence | undefined> {
  const outcome = await inTransaction(services.db, async (connection) => {
    const [rows] = await connection.query<RowDataPacket[]>(
      `SELECT id, seq, status, country, region, proxy_pool_id, target_replica_count, proxy_requirements
       FROM sessions WHERE id = ? FOR UPDATE NOWAIT`,
      [sessionId],
    );
    if (!rows.length) return undefined;
    const session = rows[0];
    const desired = session.status === "terminated" || session.status === "failed" ? 0 : session.target_replica_count;
    const [countRows] = await connection.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS replicas FROM replicas WHERE session_id = ? AND status IN (${liveStatusList})`,
      [sessionId],
    );
    const current = Number(countRows[0].replicas);
    let removed: string[] = [];
    let avoided: string[] = [];
    const counts: ReplicaCountChange = {};
    if (current < desired) {
      const requirements = typeof session.proxy_requirements === "string" ? JSON.parse(session.proxy_requirements) : session.proxy_requirements;
      // Replacements keep off the proxies that made this session's replicas fail in the last hour.
      const [faulted] = await connection.query<RowDataPacket[]>(
        `SELECT DISTINCT proxy_id FROM replicas
         WHERE session_id = ? AND status = 'failed' AND proxy_at_fault = 1 AND ended_at > CURRENT_TIMESTAMP(3) - INTERVAL 1 HOUR`,
        [sessionId],
      );
      avoided = faulted.map((row) => row.proxy_id).filter((id): id is string => id !== null);
      const replicas = await placeForPool(
        connection,
        services.redis,
        session.proxy_pool_id,
        [{ id: sessionId, region: session.region, count: desired - current, requirements: requirements ?? {} }],
        avoided,
      );
      await insertReplicas(connection, replicas);
      counts.pending = replicas.length;
    } else if (current > desired) {
      // Replicas nobody runs yet go first, then the newest: the longest-running ones are worth keeping.
      const [excess] = await connection.query<RowDataPacket[]>(
        `SELECT id, status FROM replicas WHERE session_id = ? AND status IN (${liveStatusList})
         ORDER BY FIELD(status, 'pending', 'starting', 'running'), id DESC LIMIT ?`,
        [sessionId, current - desired],
      );
      removed = excess.map((row) => row.id);
      for (const row of excess) counts[row.status as ReplicaStatus] = (counts[row.status as ReplicaStatus] ?? 0) - 1;
      await connection.query("DELETE FROM replicas WHERE id IN (?)", [removed]);
    }
    const activates = session.status === "pending" && desired > 0;
    const status = activates ? "active" : session.status;
    // The session's country follows its first live replica, and is gone with the last one.
    const [first] = await connection.query<RowDataPacket[]>(
      `SELECT country FROM replicas WHERE session_id = ? AND status IN (${liveStatusList}) ORDER BY id LIMIT 1`,
      [sessionId],
    );
    const country = first.length ? first[0].country : null;
    await connection.query("UPDATE sessions SET active_replica_count = ?, status = ?, country = ? WHERE id = ?", [desired, status, country, sessionId]);
    const seq = Number(session.seq);
    await adjust(
      connection,
      services.config.MEGAWEB_HYPERGRID_TILE_SIZE,
      status === session.status && country === session.country
        ? []
        : [
            { seq, status: session.status, country: session.country, sessions: -1 },
            { seq, status, country, sessions: 1 },
          ],
      counts,
    );
    const events: NewEvent[] = [];
    if (current !== desired) {
      events.push({
        aggregateType: "session",
        aggregateId: sessionId,
        type: "session.reconciled",
        payload: { from: current, to: desired, ...(avoided.length ? { avoided_proxies: avoided } : {}) },
      });
    }
    if (activates) {
      events.push({
        aggregateType: "session",
        aggregateId: sessionId,
        type: "session.status.changed",
        payload: { from: "pending", to: "active" },
      });
    }
    await appendEvents(connection, events);
    return { convergence: { sessionId, from: current, to: desired }, removed };
  });
  if (!outcome) return undefined;
  // Whatever still runs a removed replica hears "stop" at its next heartbeat.
  await forgetReplicas(services.redis, outcome.removed);
  return outcome.convergence;
}

/** Sessions whose replicas drifted from their target, found on the stored `converged` index. */
export async function findUnconverged(services: Services, limit: number): Promise<string[]> {
  const [rows] = await services.db.primary.query<RowDataPacket[]>("SELECT id FROM sessions WHERE converged = 0 LIMIT ?", [limit]);
  return rows.map((row) => row.id);
}
