import type Redis from "ioredis";
import type { PoolConnection, RowDataPacket } from "mysql2/promise";
import { v7 as uuidv7 } from "uuid";
import { liveStatusList } from "./replica-lifecycle";
import { insertRows, type RowWriter } from "./row-writer";
import { placeReplicas, type ProxyCandidate, type Rotation } from "./rotation";

export const DEFAULT_POOL = "global-pool";

export interface NewReplica {
  id: string;
  sessionId: string;
  proxyId: string | null;
  country: string | null;
}

export interface SessionToPlace {
  id: string;
  region: string;
  count: number;
  requirements: { country?: string; region?: string };
}

/**
 * Places new replicas on a pool's proxies by the pool's rotation, skipping proxies the health checks
 * marked down. Loads the pool once, so a bulk
 * insert of a million sessions costs one query plus one Redis INCRBY per batch.
 */
export async function placeForPool(
  connection: PoolConnection,
  redis: Redis,
  poolId: string | null,
  sessions: SessionToPlace[],
  avoidProxies: string[] = [],
): Promise<NewReplica[]> {
  const total = sessions.reduce((sum, session) => sum + session.count, 0);
  if (total === 0) return [];
  const pool = poolId ?? DEFAULT_POOL;
  const [poolRows] = await connection.query<RowDataPacket[]>("SELECT rotation FROM proxy_pools WHERE id = ?", [pool]);
  const rotation: Rotation = poolRows.length ? poolRows[0].rotation : "round-robin";
  const [proxyRows] = await connection.query<RowDataPacket[]>(
    `SELECT p.id, p.country, p.region,
            ${rotation === "burst" ? `(SELECT COUNT(*) FROM replicas r WHERE r.proxy_id = p.id AND r.status IN (${liveStatusList}))` : "0"} AS assigned
     FROM proxies p WHERE p.pool_id = ? AND p.status IN ('active', 'degraded') ORDER BY p.id LIMIT 10000`,
    [pool],
  );
  // A replacement avoids the proxies its predecessors failed on, unless that leaves none.
  const usable = proxyRows.filter((row) => !avoidProxies.includes(row.id));
  const candidates: ProxyCandidate[] = (usable.length ? usable : proxyRows).map((row) => ({
    id: row.id,
    country: row.country,
    region: row.region,
    assignedReplicas: Number(row.assigned),
  }));
  // One INCRBY reserves a contiguous run of the pool's round-robin sequence for this whole call.
  const end = candidates.length ? await redis.incrby(`megaweb:rotation:${pool}`, total) : total;
  let start = end - total;
  const replicas: NewReplica[] = [];
  for (const session of sessions) {
    const picks = placeReplicas(rotation, candidates, {
      sessionId: session.id,
      count: session.count,
      roundRobinStart: start,
      requirements: session.requirements,
      sessionRegion: session.region,
    });
    start += session.count;
    for (const proxy of picks) {
      if (proxy && rotation === "burst") proxy.assignedReplicas++;
      replicas.push({ id: uuidv7(), sessionId: session.id, proxyId: proxy?.id ?? null, country: proxy?.country ?? null });
    }
  }
  return replicas;
}

export async function insertReplicas(connection: PoolConnection, replicas: NewReplica[], write: RowWriter = insertRows): Promise<void> {
  // Pending until whatever runs replicas reports on them (heartbeats.ts).
  await write(
    connection,
    "replicas",
    ["id", "session_id", "status", "proxy_id", "country"],
    replicas.map((replica) => [replica.id, replica.sessionId, "pending", replica.proxyId, replica.country]),
  );
}
