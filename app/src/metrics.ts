import type { Pool, RowDataPacket } from "mysql2/promise";
import { cached } from "./cache";
import { LIVE_STATUSES, replicaStatuses } from "./replica-lifecycle";
import { sessionStatuses } from "./schemas";
import { readReplicaCounts } from "./summaries";
import type { Services } from "./services";

export interface GlobalMetrics {
  total_sessions: number;
  active_sessions: number;
  sessions_by_status: Record<string, number>;
  /** Replicas sessions count towards their target: pending, starting and running. */
  total_replicas: number;
  /** Replicas whose runner reported them running. */
  active_replicas: number;
  replicas_by_status: Record<string, number>;
  total_proxies: number;
  active_proxies: number;
  /** Proxies the health checks took out of rotation. */
  down_proxies: number;
  countries_covered: number;
  average_latency_ms: number | null;
  proxy_success_rate: number | null;
  generated_at: string;
}

export const GLOBAL_METRICS_TTL_SECONDS = 5;

export async function computeGlobalMetrics(pool: Pool): Promise<GlobalMetrics> {
  // From the counts kept with every write (summaries.ts), not by grouping a million rows.
  const [statusRows] = await pool.query<RowDataPacket[]>("SELECT status, SUM(sessions) AS n FROM session_tiles GROUP BY status");
  const replicaCounts = await readReplicaCounts(pool);
  const [proxyRows] = await pool.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS total, COALESCE(SUM(status = 'active'), 0) AS active, COALESCE(SUM(status = 'down'), 0) AS down,
            COUNT(DISTINCT IF(status = 'active', country, NULL)) AS countries,
            AVG(IF(status = 'active', avg_latency_ms, NULL)) AS latency,
            SUM(success_count) AS successes, SUM(failure_count) AS failures
     FROM proxies`,
  );
  const replicasByStatus = Object.fromEntries(replicaStatuses.map((status) => [status, 0]));
  for (const [status, n] of Object.entries(replicaCounts)) replicasByStatus[status] = n;
  const byStatus = Object.fromEntries(sessionStatuses.map((status) => [status, 0]));
  for (const row of statusRows) byStatus[row.status] = Number(row.n);
  const proxies = proxyRows[0];
  const attempts = Number(proxies.successes ?? 0) + Number(proxies.failures ?? 0);
  return {
    total_sessions: Object.values(byStatus).reduce((sum, n) => sum + n, 0),
    active_sessions: byStatus.active,
    sessions_by_status: byStatus,
    total_replicas: LIVE_STATUSES.reduce((sum, status) => sum + replicasByStatus[status], 0),
    active_replicas: replicasByStatus.running,
    replicas_by_status: replicasByStatus,
    total_proxies: Number(proxies.total),
    active_proxies: Number(proxies.active),
    down_proxies: Number(proxies.down),
    countries_covered: Number(proxies.countries),
    average_latency_ms: proxies.latency === null ? null : Number(proxies.latency),
    proxy_success_rate: attempts === 0 ? null : Number(proxies.successes) / attempts,
    generated_at: new Date().toISOString(),
  };
}

export function globalMetrics(services: Services): Promise<GlobalMetrics> {
  return cached(services.redis, "megaweb:cache:metrics:global", GLOBAL_METRICS_TTL_SECONDS, () => computeGlobalMetrics(services.db.reader()));
}

const RECORDED: (keyof GlobalMetrics)[] = ["total_sessions", "active_sessions", "total_replicas", "active_proxies", "countries_covered", "average_latency_ms"];

/** One point per figure into the time series the control panel and operators chart. */
export async function recordMetrics(services: Services): Promise<number> {
  const figures = await computeGlobalMetrics(services.db.primary);
  const points = RECORDED.filter((name) => figures[name] !== null).map((name) => [name, figures[name]]);
  await services.db.primary.query("INSERT INTO metrics (name, value) VALUES ?", [points]);
  return points.length;
}

/** Retention as in the first edition: points older than MEGAWEB_METRICS_RETENTION_DAYS go, in slices. */
export async function cleanupMetrics(services: Services): Promise<number> {
  let removed = 0;
  for (;;) {
    const [result] = await services.db.primary.query<import("mysql2").ResultSetHeader>(
      "DELETE FROM metrics WHERE recorded_at < UTC_TIMESTAMP(3) - INTERVAL ? DAY LIMIT 10000",
      [services.config.MEGAWEB_METRICS_RETENTION_DAYS],
    );
    removed += result.affectedRows;
    if (result.affectedRows < 10000) return removed;
  }
}

export async function metricsHistory(
  pool: Pool,
  query: { name: string; since?: Date; limit: number },
): Promise<{ name: string; points: { value: number; recorded_at: string }[] }> {
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT value, recorded_at FROM metrics WHERE name = ? ${query.since ? "AND recorded_at >= ?" : ""}
     ORDER BY recorded_at DESC LIMIT ?`,
    query.since ? [query.name, query.since, query.limit] : [query.name, query.limit],
  );
  return {
    name: query.name,
    points: rows.map((row) => ({ value: Number(row.value), recorded_at: (row.recorded_at as Date).toISOString() })),
  };
}
