import type { Pool, PoolConnection, RowDataPacket } from "mysql2/promise";
import type { ReplicaStatus } from "./replica-lifecycle";

/**
 * The counts behind the hypergrid and the global metrics (migration 005), changed on the same
 * transaction as the rows they count. Every write path that inserts or deletes sessions or
 * replicas, or changes a session's status or country or a replica's status, calls adjust().
 */
export interface TileChange {
  seq: number;
  status: string;
  country: string | null;
  /** +1 for a session that now has this status and country, -1 for one that no longer has. */
  sessions: number;
}

export type ReplicaCountChange = Partial<Record<ReplicaStatus, number>>;

const SHARDS = 16;
const TILE_SIZE_STATE = "session_tiles.tile_size";

export function tileOf(seq: number, tileSize: number): number {
  return Math.floor((seq - 1) / tileSize);
}

/**
 * Applies changes in primary-key order, so two transactions touching the same counters take
 * their locks in the same order and do not deadlock.
 */
export async function adjust(connection: PoolConnection, tileSize: number, tiles: TileChange[], replicas: ReplicaCountChange = {}): Promise<void> {
  const merged = new Map<string, [number, string, string, number]>();
  for (const change of tiles) {
    const tile = tileOf(change.seq, tileSize);
    const country = change.country ?? "";
    const key = `${String(tile).padStart(10, "0")} ${change.status} ${country}`;
    const entry = merged.get(key) ?? [tile, change.status, country, 0];
    entry[3] += change.sessions;
    merged.set(key, entry);
  }
  const tileRows = [...merged].filter(([, entry]) => entry[3] !== 0).sort(([a], [b]) => (a < b ? -1 : 1));
  if (tileRows.length) {
    await connection.query(
      "INSERT INTO session_tiles (tile, status, country, sessions) VALUES ? ON DUPLICATE KEY UPDATE sessions = session_tiles.sessions + VALUES(sessions)",
      [tileRows.map(([, entry]) => entry)],
    );
  }
  const shard = Math.floor(Math.random() * SHARDS);
  const replicaRows = Object.entries(replicas)
    .filter(([, n]) => n !== 0)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([status, n]) => [status, shard, n]);
  if (replicaRows.length) {
    await connection.query(
      "INSERT INTO replica_counts (status, shard, replicas) VALUES ? ON DUPLICATE KEY UPDATE replicas = replica_counts.replicas + VALUES(replicas)",
      [replicaRows],
    );
  }
}

/** Replicas of these sessions by status, for removing them from the counts before the sessions go. */
export async function replicasOfSessions(connection: PoolConnection, sessionIds: string[]): Promise<ReplicaCountChange> {
  if (sessionIds.length === 0) return {};
  const [rows] = await connection.query<RowDataPacket[]>("SELECT status, COUNT(*) AS n FROM replicas WHERE session_id IN (?) GROUP BY status", [sessionIds]);
  return Object.fromEntries(rows.map((row) => [row.status, -Number(row.n)]));
}

/**
 * Builds session_tiles for `tileSize` when they were built for another size (or never), under a
 * lock so web and worker nodes starting together build them once. Run it with the app quiet: rows
 * written during the rebuild may be counted twice or not at all.
 */
export async function ensureTiles(primary: Pool, tileSize: number): Promise<boolean> {
  const connection = await primary.getConnection();
  try {
    await connection.query("SELECT GET_LOCK('megaweb_session_tiles', 600)");
    try {
      const [state] = await connection.query<RowDataPacket[]>("SELECT value FROM summary_state WHERE name = ?", [TILE_SIZE_STATE]);
      if (state.length && Number(state[0].value) === tileSize) return false;
      await connection.beginTransaction();
      try {
        await connection.query("DELETE FROM session_tiles");
        await connection.query(
          `INSERT INTO session_tiles (tile, status, country, sessions)
           SELECT (seq - 1) DIV ?, status, COALESCE(country, ''), COUNT(*) FROM sessions GROUP BY 1, 2, 3`,
          [tileSize],
        );
        await connection.query("INSERT INTO summary_state (name, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)", [
          TILE_SIZE_STATE,
          tileSize,
        ]);
        await connection.commit();
      } catch (error) {
        await connection.rollback();
        throw error;
      }
      return true;
    } finally {
      await connection.query("SELECT RELEASE_LOCK('megaweb_session_tiles')");
    }
  } finally {
    connection.release();
  }
}

export interface TileCount {
  tile: number;
  status: string;
  country: string | null;
  sessions: number;
}

export async function readTiles(pool: Pool): Promise<TileCount[]> {
  const [rows] = await pool.query<RowDataPacket[]>("SELECT tile, status, country, sessions FROM session_tiles WHERE sessions > 0 ORDER BY tile");
  return rows.map((row) => ({ tile: Number(row.tile), status: row.status, country: row.country === "" ? null : row.country, sessions: Number(row.sessions) }));
}

export async function readReplicaCounts(pool: Pool): Promise<Record<string, number>> {
  const [rows] = await pool.query<RowDataPacket[]>("SELECT status, SUM(replicas) AS n FROM replica_counts GROUP BY status");
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
}
