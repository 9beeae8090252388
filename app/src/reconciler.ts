import type { RowDataPacket } from "mysql2/promise";
import { inTransaction } from "./db";
import { appendEvents, type NewEvent } from "./events";
import { insertReplicas, placeForPool } from "./placement";
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
  return inTransaction(services.db, async (connection) => {
    const [rows] = await connection.query<RowDataPacket[]>(
      `SELECT id, status, region, proxy_pool_id, target_replica_count, proxy_requirements
       FROM sessions WHERE id = ? FOR UPDATE NOWAIT`,
      [sessionId],
    );
    if (!rows.length) return undefined;
    const session = rows[0];
    const desired = session.status === "terminated" || session.status === "failed" ? 0 : session.target_replica_count;
    const [countRows] = await connection.query<RowDataPacket[]>("SELECT COUNT(*) AS replicas FROM replicas WHERE session_id = ?", [sessionId]);
    const current = Number(countRows[0].replicas);
    if (current < desired) {
      const requirements = typeof session.proxy_requirements === "string" ? JSON.parse(session.proxy_requirements) : session.proxy_requirements;
      const replicas = await placeForPool(connection, services.redis, session.proxy_pool_id, [
        { id: sessionId, region: session.region, count: desired - current, requirements: requirements ?? {} },
      ]);
      await insertReplicas(connection, replicas);
    } else if (current > desired) {
      // Newest first: the longest-running replicas are the ones worth keeping.
      await connection.query("DELETE FROM replicas WHERE session_id = ? ORDER BY id DESC LIMIT ?", [sessionId, current - desired]);
    }
    const activates = session.status === "pending" && desired > 0;
    // The session's country follows its first replica, and is gone with the last one.
    await connection.query(
      `UPDATE sessions SET active_replica_count = ?, status = IF(status = 'pending' AND ? > 0, 'active', status),
         country = (SELECT country FROM replicas WHERE session_id = ? ORDER BY id LIMIT 1)
       WHERE id = ?`,
      [desired, desired, sessionId, sessionId],
    );
    const events: NewEvent[] = [];
    if (current !== desired) {
      events.push({
        aggregateType: "session",
        aggregateId: sessionId,
        type: "session.reconciled",
        payload: { from: current, to: desired },
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
    return { sessionId, from: current, to: desired };
  });
}

/** Sessions whose replicas drifted from their target, found on the stored `converged` index. */
export async function findUnconverged(services: Services, limit: number): Promise<string[]> {
  const [rows] = await services.db.primary.query<RowDataPacket[]>("SELECT id FROM sessions WHERE converged = 0 LIMIT ?", [limit]);
  return rows.map((row) => row.id);
}
