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

/**
 * How long each dependency's check may take. The checks run side by side, so the answer takes the
 * slowest one's time, not their sum (in sequence, a loaded 2-core host's primary, two replicas and
 * Redis through the Sentinels took longer than the 3 s its callers waited), and a dependency that
 * hangs (a killed host, Redis between primaries) counts as unhealthy instead of holding the answer.
 * Under HAProxy's 2 s check timeout (lib/render/haproxy-backends.ts), which takes a node whose app
 * does not answer out of the pool: a slow database must make the answer unhealthy, not late.
 */
export const CHECK_TIMEOUT_MS = 1500;

class CheckTimeout extends Error {}

/** `check`, or a CheckTimeout after `CHECK_TIMEOUT_MS`; a late answer is dropped. */
function bounded<T>(check: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  // The check keeps running after a timeout; its late failure must not surface as an unhandled rejection.
  check.catch(() => undefined);
  return Promise.race([check, timeout]).finally(() => clearTimeout(timer));
}

const answers = (check: Promise<unknown>): Promise<"healthy" | "unhealthy"> =>
  bounded(check).then(
    () => "healthy" as const,
    () => "unhealthy" as const,
  );

async function replicaHealth(pool: Pool, index: number): Promise<Health["database_replicas"][number]> {
  try {
    // SHOW REPLICA STATUS names the lag Seconds_Behind_Master on MariaDB, Seconds_Behind_Source on MySQL 8.
    const [rows] = await bounded(pool.query<RowDataPacket[]>("SHOW REPLICA STATUS"));
    if (!rows.length) return { index, status: "not_replicating", lag_seconds: null };
    const lag = rows[0].Seconds_Behind_Master ?? rows[0].Seconds_Behind_Source;
    if (lag === null || lag === undefined) return { index, status: "not_replicating", lag_seconds: null };
    return { index, status: Number(lag) > MAX_REPLICA_LAG_SECONDS ? "lagging" : "healthy", lag_seconds: Number(lag) };
  } catch {
    return { index, status: "unhealthy", lag_seconds: null };
  }
}

/** Every dependency checked at once, each within `CHECK_TIMEOUT_MS`. */
export async function checkHealth(services: Services, version: string): Promise<Health> {
  const [database, database_replicas, redis, jobCounts] = await Promise.all([
    answers(services.db.primary.query("SELECT 1")),
    Promise.all(services.db.replicas.map(replicaHealth)),
    answers(services.redis.ping()),
    // Asked beside the ping, not after it; shown only when Redis answered the ping too.
    bounded(services.queue.getJobCounts("waiting", "prioritized", "active", "delayed", "failed", "completed")).catch(() => null),
  ]);
  const queue = redis === "healthy" ? jobCounts : null;
  const status =
    database === "unhealthy" || redis === "unhealthy"
      ? "unhealthy"
      : database_replicas.some((replica) => replica.status !== "healthy")
        ? "degraded"
        : "healthy";
  return { status, database, database_replicas, redis, queue, version, runtime: process.version };
}
