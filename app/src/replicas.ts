import type Redis from "ioredis";
import type { Pool, RowDataPacket } from "mysql2/promise";
import { keysetWhere } from "./keyset";
import { heartbeatTimes } from "./liveness-cache";

export interface Replica {
  id: string;
  session_id: string;
  status: string;
  proxy_id: string | null;
  country: string | null;
  started_at: string | null;
  last_heartbeat_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  proxy_at_fault: boolean;
  created_at: string;
}

const iso = (value: Date | null) => (value === null ? null : value.toISOString());

/**
 * Replicas with their lifecycle; the last heartbeat is Redis' when newer than MariaDB's, which the
 * worker only brings forward in bulk.
 */
export async function listReplicas(
  pool: Pool,
  redis: Redis,
  filter: { session_id?: string; status?: string; proxy_id?: string; cursor?: string; limit: number },
): Promise<{ replicas: Replica[]; nextCursor?: string }> {
  const where = keysetWhere(filter, ["session_id", "status", "proxy_id"]);
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT id, session_id, status, proxy_id, country, started_at, last_heartbeat_at, ended_at, end_reason, proxy_at_fault, created_at
     FROM replicas ${where.sql} ORDER BY id LIMIT ?`,
    [...where.params, filter.limit + 1],
  );
  const page = rows.slice(0, filter.limit);
  const heartbeats = await heartbeatTimes(
    redis,
    page.map((row) => row.id),
  );
  const replicas = page.map((row, index): Replica => {
    const stored = row.last_heartbeat_at as Date | null;
    const cached = heartbeats[index];
    const last = cached !== null && (stored === null || cached > stored.getTime()) ? new Date(cached) : stored;
    return {
      id: row.id,
      session_id: row.session_id,
      status: row.status,
      proxy_id: row.proxy_id,
      country: row.country,
      started_at: iso(row.started_at),
      last_heartbeat_at: iso(last),
      ended_at: iso(row.ended_at),
      end_reason: row.end_reason,
      proxy_at_fault: row.proxy_at_fault === 1,
      created_at: (row.created_at as Date).toISOString(),
    };
  });
  return { replicas, nextCursor: rows.length > filter.limit ? replicas[replicas.length - 1].id : undefined };
}
