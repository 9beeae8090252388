import type { Pool, RowDataPacket } from "mysql2/promise";
import { v7 as uuidv7 } from "uuid";
import { inTransaction } from "./db";
import { ApiError } from "./errors";
import { appendEvents } from "./events";
import { liveStatusList } from "./replica-lifecycle";
import type { ProxySpec, rotations } from "./schemas";
import type { Services } from "./services";

export interface Proxy {
  id: string;
  pool_id: string;
  host: string;
  port: number;
  protocol: string;
  country: string | null;
  region: string | null;
  city: string | null;
  latitude: number | null;
  longitude: number | null;
  coordinates: { latitude: number; longitude: number } | null;
  status: string;
  success_count: number;
  failure_count: number;
  success_rate: number | null;
  avg_latency_ms: number | null;
  last_checked_at: string | null;
  last_check_error: string | null;
  assigned_replicas: number;
  created_at: string;
}

/** Performance figures come with every page; assigned replicas are counted per proxy on its index. */
export async function listProxies(
  pool: Pool,
  filter: { pool_id?: string; cursor?: string; limit: number },
): Promise<{ proxies: Proxy[]; nextCursor?: string }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.pool_id !== undefined) {
    where.push("p.pool_id = ?");
    params.push(filter.pool_id);
  }
  if (filter.cursor !== undefined) {
    where.push("p.id > ?");
    params.push(filter.cursor);
  }
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT p.*, (SELECT COUNT(*) FROM replicas r WHERE r.proxy_id = p.id AND r.status IN (${liveStatusList})) AS assigned_replicas
     FROM proxies p ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY p.id LIMIT ?`,
    [...params, filter.limit + 1],
  );
  const proxies = rows.slice(0, filter.limit).map((row): Proxy => {
    const attempts = Number(row.success_count) + Number(row.failure_count);
    return {
      id: row.id,
      pool_id: row.pool_id,
      host: row.host,
      port: row.port,
      protocol: row.protocol,
      country: row.country,
      region: row.region,
      city: row.city,
      latitude: row.latitude,
      longitude: row.longitude,
      coordinates: row.latitude === null || row.longitude === null ? null : { latitude: row.latitude, longitude: row.longitude },
      status: row.status,
      // Decayed (proxy-health.ts): whole numbers for the first edition's clients, the rate from the exact figures.
      success_count: Math.round(row.success_count),
      failure_count: Math.round(row.failure_count),
      success_rate: attempts === 0 ? null : Number(row.success_count) / attempts,
      avg_latency_ms: row.avg_latency_ms === null ? null : Math.round(row.avg_latency_ms * 10) / 10,
      last_checked_at: row.last_checked_at === null ? null : (row.last_checked_at as Date).toISOString(),
      last_check_error: row.last_check_error,
      assigned_replicas: Number(row.assigned_replicas),
      created_at: (row.created_at as Date).toISOString(),
    };
  });
  return { proxies, nextCursor: rows.length > filter.limit ? proxies[proxies.length - 1].id : undefined };
}

export async function addProxy(services: Services, spec: ProxySpec): Promise<string> {
  const id = uuidv7();
  const latitude = spec.coordinates?.latitude ?? spec.latitude;
  const longitude = spec.coordinates?.longitude ?? spec.longitude;
  await inTransaction(services.db, async (connection) => {
    const [pools] = await connection.query<RowDataPacket[]>("SELECT id FROM proxy_pools WHERE id = ?", [spec.pool_id]);
    if (!pools.length) {
      throw new ApiError(422, "unknown_pool", `pool_id: proxy pool "${spec.pool_id}" does not exist`, [
        { path: "pool_id", message: `proxy pool "${spec.pool_id}" does not exist` },
      ]);
    }
    try {
      await connection.query(
        `INSERT INTO proxies (id, pool_id, host, port, protocol, country, region, city, latitude, longitude)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [id, spec.pool_id, spec.host, spec.port, spec.protocol, spec.country, spec.region, spec.city, latitude, longitude],
      );
    } catch (error) {
      if ((error as { code?: string }).code === "ER_DUP_ENTRY") {
        throw new ApiError(409, "duplicate_proxy", `host: ${spec.host}:${spec.port} is already in pool ${spec.pool_id}`, [
          { path: "host", message: `${spec.host}:${spec.port} is already in pool ${spec.pool_id}` },
        ]);
      }
      throw error;
    }
    await appendEvents(connection, [{ aggregateType: "proxy", aggregateId: id, type: "proxy.created", payload: { ...spec, id } }]);
  });
  return id;
}

export interface ProxyPool {
  id: string;
  region: string;
  rotation: (typeof rotations)[number];
}

export async function listPools(pool: Pool): Promise<ProxyPool[]> {
  const [rows] = await pool.query<RowDataPacket[]>("SELECT id, region, rotation FROM proxy_pools ORDER BY id LIMIT 1000");
  return rows.map((row) => ({ id: row.id, region: row.region, rotation: row.rotation }));
}

export async function upsertPool(services: Services, pool: ProxyPool): Promise<ProxyPool> {
  await inTransaction(services.db, async (connection) => {
    await connection.query(
      `INSERT INTO proxy_pools (id, region, rotation) VALUES (?, ?, ?)
       ON DUPLICATE KEY UPDATE region = VALUES(region), rotation = VALUES(rotation)`,
      [pool.id, pool.region, pool.rotation],
    );
    await appendEvents(connection, [{ aggregateType: "proxy_pool", aggregateId: pool.id, type: "proxy_pool.updated", payload: { ...pool } }]);
  });
  return pool;
}
