import type { Pool, PoolConnection, RowDataPacket } from "mysql2/promise";

export type EventType =
  | "session.created"
  | "session.updated"
  | "session.scaled"
  | "session.deleted"
  | "session.status.changed"
  | "session.reconciled"
  | "session.batch_created"
  | "session.bulk_created"
  | "session.cleared"
  | "replica.status.changed"
  | "proxy.created"
  | "proxy.status.changed"
  | "proxy_pool.updated";

export interface NewEvent {
  /** A bulk operation is its own aggregate: its events share one id however many rows it touched. */
  aggregateType: "session" | "bulk_operation" | "proxy" | "proxy_pool";
  aggregateId: string;
  type: EventType;
  payload: Record<string, unknown>;
}

/** Always on the connection of the change's own transaction, so the log never disagrees with the data. */
export async function appendEvents(connection: PoolConnection, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await connection.query("INSERT INTO events (aggregate_type, aggregate_id, event_type, payload) VALUES ?", [
    events.map((event) => [event.aggregateType, event.aggregateId, event.type, JSON.stringify(event.payload)]),
  ]);
}

export interface EventRecord {
  id: number;
  event_type: string;
  aggregate_type: string;
  aggregate_id: string;
  payload: unknown;
  created_at: string;
}

export interface EventFilter {
  aggregate_id?: string;
  event_type?: string;
  since?: Date;
  cursor?: number;
  order: "asc" | "desc";
  limit: number;
}

export async function listEvents(pool: Pool, filter: EventFilter): Promise<{ events: EventRecord[]; nextCursor?: string }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.aggregate_id !== undefined) {
    where.push("aggregate_id = ?");
    params.push(filter.aggregate_id);
  }
  if (filter.event_type !== undefined) {
    where.push("event_type = ?");
    params.push(filter.event_type);
  }
  if (filter.since !== undefined) {
    where.push("created_at >= ?");
    params.push(filter.since);
  }
  if (filter.cursor !== undefined) {
    where.push(filter.order === "asc" ? "id > ?" : "id < ?");
    params.push(filter.cursor);
  }
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT id, event_type, aggregate_type, aggregate_id, payload, created_at FROM events
     ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY id ${filter.order === "asc" ? "ASC" : "DESC"} LIMIT ?`,
    [...params, filter.limit + 1],
  );
  const page = rows.slice(0, filter.limit).map((row) => ({
    id: Number(row.id),
    event_type: row.event_type,
    aggregate_type: row.aggregate_type,
    aggregate_id: row.aggregate_id,
    payload: parseJson(row.payload),
    created_at: (row.created_at as Date).toISOString(),
  }));
  return { events: page, nextCursor: rows.length > filter.limit ? String(page[page.length - 1].id) : undefined };
}

/** MariaDB hands JSON columns back as text, MySQL 8 as parsed values. */
export function parseJson(value: unknown): unknown {
  return typeof value === "string" ? JSON.parse(value) : value;
}
