import type { Pool, RowDataPacket } from "mysql2/promise";
import type { Services } from "./services";

export interface Health {
  status: "healthy" | "degraded" | "unhealthy";
  database: "healthy" | "unhealthy";
  database_replicas: { index: number; status: "healthy" | "lagging" | "not_replicating" | "unhealthy"; lag_seconds: number | null }[];
  redis: "healthy" | "unhealthy";
  queue: Record<string, number> | null;
  version: string;
  /** The Node.js running the app, so a fleet on mixed distro versions shows which is which. */
  runtime: string;
}

/** A replica further behind than this answers stale reads worth an operator's attention. */
const MAX_REPLICA_LAG_SECONDS = 30;

async function replicaHealth(pool: Pool, index: number): Promise<Health["database_replicas"][number]> {
  try {
    // SHOW REPLICA STATUS names the lag Seconds_Behind_Master on MariaDB, Seconds_Behind_Source on MySQL 8.
    const [rows] = await pool.query<RowDataPacket[]>("SHOW REPLICA STATUS");
    if (!rows.length) return { index, status: "not_replicating", lag_seconds: null };
    const lag = rows[0].Seconds_Behind_Master ?? rows[0].Seconds_Behind_Source;
    if (lag === null || lag === undefined) return { index, status: "not_replicating", lag_seconds: null };
    return { index, status: Number(lag) > MAX_REPLICA_LAG_SECONDS ? "lagging" : "healthy", lag_seconds: Number(lag) };
  } catch {
    return { index, status: "unhealthy", lag_seconds: null };
  }
}

export async function checkHealth(services: Services, version: string): Promise<Health> {
  const database = await services.db.primary
    .query("SELECT 1")
    .then(() => "healthy" as const)
    .catch(() => "unhealthy" as const);
  const database_replicas = await Promise.all(services.db.replicas.map(replicaHealth));
  const redis = await services.redis
    .ping()
    .then(() => "healthy" as const)
    .catch(() => "unhealthy" as const);
  const queue = redis === "healthy" ? await services.queue.getJobCounts("waiting", "prioritized", "active", "delayed", "failed", "completed") : null;
  const status =
    database === "unhealthy" || redis === "unhealthy"
      ? "unhealthy"
      : database_replicas.some((replica) => replica.status !== "healthy")
        ? "degraded"
        : "healthy";
  return { status, database, database_replicas, redis, queue, version, runtime: process.version };
}
