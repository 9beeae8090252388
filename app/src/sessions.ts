import type { Pool, PoolConnection, RowDataPacket } from "mysql2/promise";
import { v7 as uuidv7 } from "uuid";
import { inTransaction } from "./db";
import { notFound } from "./errors";
import { appendEvents, parseJson, type NewEvent } from "./events";
import { keysetWhere } from "./keyset";
import { forgetReplicas } from "./liveness-cache";
import { enqueueReconcile } from "./queue";
import { insertReplicas, placeForPool, type NewReplica } from "./placement";
import type { SessionSpec, SessionUpdate } from "./schemas";
import { insertRows, type Row, type RowWriter, type Written } from "./row-writer";
import type { Services } from "./services";
import { adjust, replicasOfSessions, tileOf, type TileChange } from "./summaries";

export interface Session {
  id: string;
  url: string;
  status: string;
  region: string;
  proxy_pool_id: string | null;
  target_replica_count: number;
  active_replica_count: number;
  rendering_options: unknown;
  proxy_requirements: unknown;
  created_at: string;
  updated_at: string;
}

const COLUMNS = `id, url, status, region, proxy_pool_id, target_replica_count, active_replica_count,
  rendering_options, proxy_requirements, created_at, updated_at`;

function sessionFromRow(row: RowDataPacket): Session {
  return {
    id: row.id,
    url: row.url,
    status: row.status,
    region: row.region,
    proxy_pool_id: row.proxy_pool_id,
    target_replica_count: row.target_replica_count,
    active_replica_count: row.active_replica_count,
    rendering_options: parseJson(row.rendering_options) ?? {},
    proxy_requirements: parseJson(row.proxy_requirements) ?? {},
    created_at: (row.created_at as Date).toISOString(),
    updated_at: (row.updated_at as Date).toISOString(),
  };
}

export async function findSession(pool: Pool | PoolConnection, id: string): Promise<Session | undefined> {
  const [rows] = await pool.query<RowDataPacket[]>(`SELECT ${COLUMNS} FROM sessions WHERE id = ?`, [id]);
  return rows.length ? sessionFromRow(rows[0]) : undefined;
}

export async function getSession(pool: Pool | PoolConnection, id: string): Promise<Session> {
  const session = await findSession(pool, id);
  if (!session) throw notFound("session", id);
  return session;
}

/** In the order of `ids`; at most one batch (MAX_BATCH_SESSIONS) at a time. */
export async function getSessions(pool: Pool, ids: string[]): Promise<Session[]> {
  if (ids.length === 0) return [];
  const [rows] = await pool.query<RowDataPacket[]>(`SELECT ${COLUMNS} FROM sessions WHERE id IN (?)`, [ids]);
  const byId = new Map(rows.map((row) => [row.id as string, sessionFromRow(row)]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

export interface SessionFilter {
  status?: string;
  region?: string;
  proxy_pool_id?: string;
  cursor?: string;
  limit: number;
}

export async function listSessions(pool: Pool, filter: SessionFilter): Promise<{ sessions: Session[]; nextCursor?: string }> {
  const where = keysetWhere(filter, ["status", "region", "proxy_pool_id"]);
  const [rows] = await pool.query<RowDataPacket[]>(`SELECT ${COLUMNS} FROM sessions ${where.sql} ORDER BY id LIMIT ?`, [...where.params, filter.limit + 1]);
  const sessions = rows.slice(0, filter.limit).map(sessionFromRow);
  return { sessions, nextCursor: rows.length > filter.limit ? sessions[sessions.length - 1].id : undefined };
}

/**
 * Inserts sessions with their replicas already placed on the caller's transaction, with `write`
 * (row-writer.ts). Returns the new ids in input order.
 */
export async function insertSessions(
  connection: PoolConnection,
  services: Pick<Services, "redis" | "config">,
  specs: SessionSpec[],
  write: RowWriter = insertRows,
): Promise<string[]> {
  const ids = specs.map(() => uuidv7());
  const replicas: NewReplica[] = [];
  const byPool = new Map<string | null, number[]>();
  specs.forEach((spec, index) => {
    const indexes = byPool.get(spec.proxy_pool_id);
    if (indexes) indexes.push(index);
    else byPool.set(spec.proxy_pool_id, [index]);
  });
  for (const [poolId, indexes] of byPool) {
    replicas.push(
      ...(await placeForPool(
        connection,
        services.redis,
        poolId,
        indexes.map((index) => ({
          id: ids[index],
          region: specs[index].region,
          count: specs[index].target_replica_count,
          requirements: specs[index].proxy_requirements,
        })),
      )),
    );
  }
  const countryOf = new Map<string, string | null>();
  for (const replica of replicas) if (!countryOf.has(replica.sessionId)) countryOf.set(replica.sessionId, replica.country);
  const rows: Row[] = specs.map((spec, index) => [
    ids[index],
    spec.url,
    "active",
    spec.region,
    countryOf.get(ids[index]) ?? null,
    spec.proxy_pool_id,
    spec.target_replica_count,
    spec.target_replica_count,
    JSON.stringify(spec.rendering_options),
    JSON.stringify(spec.proxy_requirements),
  ]);
  const statements = await write(connection, "sessions", SESSION_INSERT_COLUMNS, rows);
  await checkConsecutive(connection, statements, ids);
  // Counted per tile and country here, so a batch of thousands adds a handful of changes.
  const tileSize = services.config.MEGAWEB_HYPERGRID_TILE_SIZE;
  const tiles = new Map<string, TileChange>();
  let index = 0;
  for (const statement of statements) {
    for (let row = 0; row < statement.rows; row++, index++) {
      const seq = statement.insertId + row;
      const country = countryOf.get(ids[index]) ?? null;
      const key = `${tileOf(seq, tileSize)} ${country}`;
      const change = tiles.get(key);
      if (change) change.sessions++;
      else tiles.set(key, { seq, status: "active", country, sessions: 1 });
    }
  }
  await adjust(connection, tileSize, [...tiles.values()], { pending: replicas.length });
  await insertReplicas(connection, replicas, write);
  return ids;
}

const SESSION_INSERT_COLUMNS = [
  "id",
  "url",
  "status",
  "region",
  "country",
  "proxy_pool_id",
  "target_replica_count",
  "active_replica_count",
  "rendering_options",
  "proxy_requirements",
];

/**
 * The hypergrid's counts take each statement's rows to have consecutive seq values from its
 * insertId, which holds with innodb_autoinc_lock_mode 0 or 1 (MariaDB's default). The last row of
 * the last statement is read back, so a server set to interleave (2) fails the write instead of
 * counting sessions in the wrong tiles.
 */
async function checkConsecutive(connection: PoolConnection, statements: Written[], ids: string[]): Promise<void> {
  const last = statements[statements.length - 1];
  if (!last) return;
  const [rows] = await connection.query<RowDataPacket[]>("SELECT seq FROM sessions WHERE id = ?", [ids[ids.length - 1]]);
  if (Number(rows[0]?.seq) !== last.insertId + last.rows - 1) {
    throw new Error("sessions.seq values of one statement are not consecutive: set innodb_autoinc_lock_mode to 1 (MariaDB's default)");
  }
}

export async function createSession(services: Services, spec: SessionSpec): Promise<Session> {
  return inTransaction(services.db, async (connection) => {
    const [id] = await insertSessions(connection, services, [spec]);
    const session = await getSession(connection, id);
    await appendEvents(connection, [{ aggregateType: "session", aggregateId: id, type: "session.created", payload: { session } }]);
    return session;
  });
}

/** One transaction and one event for the whole batch, as the first edition's clients expect. */
export async function createSessionBatch(
  services: Services,
  specs: SessionSpec[],
  eventType: "session.batch_created" | "session.bulk_created",
  details: Record<string, unknown> = {},
  operationId: string = uuidv7(),
  write: RowWriter = insertRows,
): Promise<string[]> {
  return inTransaction(services.db, async (connection) => {
    const ids = await insertSessions(connection, services, specs, write);
    await appendEvents(connection, [
      {
        aggregateType: "bulk_operation",
        aggregateId: operationId,
        type: eventType,
        payload: {
          count: ids.length,
          replicas: specs.reduce((sum, spec) => sum + spec.target_replica_count, 0),
          first_id: ids[0],
          last_id: ids[ids.length - 1],
          ...details,
        },
      },
    ]);
    return ids;
  });
}

/** The session with where it sits in the hypergrid's counts (its seq and country). */
async function lockSession(connection: PoolConnection, id: string): Promise<Session & { seq: number; country: string | null }> {
  const [rows] = await connection.query<RowDataPacket[]>(`SELECT ${COLUMNS}, seq, country FROM sessions WHERE id = ? FOR UPDATE`, [id]);
  if (!rows.length) throw notFound("session", id);
  return { ...sessionFromRow(rows[0]), seq: Number(rows[0].seq), country: rows[0].country };
}

/** The reconciler moves replicas afterwards; the response shows the new target at once. */
export async function updateSession(services: Services, id: string, update: SessionUpdate): Promise<Session> {
  const session = await inTransaction(services.db, async (connection) => {
    const before = await lockSession(connection, id);
    const assignments: string[] = [];
    const params: unknown[] = [];
    for (const [column, value] of Object.entries(update)) {
      assignments.push(`${column} = ?`);
      params.push(column === "rendering_options" || column === "proxy_requirements" ? JSON.stringify(value) : value);
    }
    await connection.query(`UPDATE sessions SET ${assignments.join(", ")} WHERE id = ?`, [...params, id]);
    const after = await getSession(connection, id);
    const events: NewEvent[] = [{ aggregateType: "session", aggregateId: id, type: "session.updated", payload: { changes: update } }];
    if (update.status !== undefined && update.status !== before.status) {
      await adjust(connection, services.config.MEGAWEB_HYPERGRID_TILE_SIZE, [
        { seq: before.seq, status: before.status, country: before.country, sessions: -1 },
        { seq: before.seq, status: update.status, country: before.country, sessions: 1 },
      ]);
      events.push({
        aggregateType: "session",
        aggregateId: id,
        type: "session.status.changed",
        payload: { from: before.status, to: update.status },
      });
    }
    if (update.target_replica_count !== undefined && update.target_replica_count !== before.target_replica_count) {
      events.push({
        aggregateType: "session",
        aggregateId: id,
        type: "session.scaled",
        payload: { from: before.target_replica_count, to: update.target_replica_count },
      });
    }
    await appendEvents(connection, events);
    return after;
  });
  await enqueueReconcile(services.queue, [id]);
  return session;
}

export async function scaleSession(services: Services, id: string, targetReplicas: number): Promise<Session> {
  const session = await inTransaction(services.db, async (connection) => {
    const before = await lockSession(connection, id);
    await connection.query("UPDATE sessions SET target_replica_count = ? WHERE id = ?", [targetReplicas, id]);
    await appendEvents(connection, [
      {
        aggregateType: "session",
        aggregateId: id,
        type: "session.scaled",
        payload: { from: before.target_replica_count, to: targetReplicas },
      },
    ]);
    return getSession(connection, id);
  });
  await enqueueReconcile(services.queue, [id]);
  return session;
}

export async function deleteSession(services: Services, id: string): Promise<void> {
  const running = await inTransaction(services.db, async (connection) => {
    const before = await lockSession(connection, id);
    const [replicas] = await connection.query<RowDataPacket[]>("SELECT id FROM replicas WHERE session_id = ? AND status IN ('starting', 'running')", [id]);
    await adjust(
      connection,
      services.config.MEGAWEB_HYPERGRID_TILE_SIZE,
      [{ seq: before.seq, status: before.status, country: before.country, sessions: -1 }],
      await replicasOfSessions(connection, [id]),
    );
    await connection.query("DELETE FROM sessions WHERE id = ?", [id]);
    await appendEvents(connection, [
      {
        aggregateType: "session",
        aggregateId: id,
        type: "session.deleted",
        payload: { url: before.url, replicas: before.active_replica_count },
      },
    ]);
    return replicas.map((row) => row.id as string);
  });
  // Whatever runs the session's replicas hears "stop" at their next heartbeat.
  await forgetReplicas(services.redis, running);
}
