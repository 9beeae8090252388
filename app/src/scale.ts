import type { ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { v7 as uuidv7 } from "uuid";
import { inTransaction } from "./db";
import { appendEvents } from "./events";
import { forgetReplicas } from "./liveness-cache";
import { adjust, replicasOfSessions } from "./summaries";
import type { ScaleMillionRequest, SessionSpec } from "./schemas";
import { loadRows } from "./row-writer";
import { createSessionBatch } from "./sessions";
import type { Services } from "./services";

/**
 * Parallel streams, and sessions per transaction (one LOAD DATA each for sessions and replicas):
 * measured against LOAD DATA on 2 cores (bench/README.md); one stream leaves the server waiting on
 * the app between statements, and 5000 sessions take a tenth of the commits 1000 did.
 */
const INSERT_STREAMS = 4;
export const SCALE_BATCH = 5000;

export interface ScaleProgress {
  targetSessions: number;
  currentSessions: number;
  targetReached: boolean;
}

export async function countSessions(services: Services): Promise<number> {
  const [rows] = await services.db.primary.query<RowDataPacket[]>("SELECT COUNT(*) AS sessions FROM sessions");
  return Number(rows[0].sessions);
}

/**
 * Creates sessions until there are `targetSessions`, each with its replicas placed, in batches of
 * SCALE_BATCH rows on INSERT_STREAMS connections. It counts first, so a retried attempt
 * only adds what is missing. Each committed batch carries one `session.bulk_created` event, so the
 * log matches what exists even if the job stops half-way.
 */
export async function scaleSessionsTo(
  services: Services,
  request: ScaleMillionRequest,
  onProgress: (progress: ScaleProgress) => Promise<void>,
  jobId?: string,
): Promise<ScaleProgress> {
  const operationId = jobId ? `job-${jobId}` : uuidv7();
  const startCount = await countSessions(services);
  const missing = Math.max(0, request.targetSessions - startCount);
  const batches = Math.ceil(missing / SCALE_BATCH);
  let nextBatch = 0;
  let created = 0;
  let lastReport = 0;
  const report = async (force: boolean) => {
    const now = Date.now();
    if (!force && now - lastReport < 500) return;
    lastReport = now;
    await onProgress({
      targetSessions: request.targetSessions,
      currentSessions: startCount + created,
      targetReached: startCount + created >= request.targetSessions,
    });
  };
  const stream = async () => {
    while (nextBatch < batches) {
      const batch = nextBatch++;
      const size = Math.min(SCALE_BATCH, missing - batch * SCALE_BATCH);
      const specs: SessionSpec[] = Array.from({ length: size }, (_, index) => ({
        url: `https://scale.megaweb.test/session/${startCount + batch * SCALE_BATCH + index + 1}`,
        target_replica_count: request.replicasPerSession,
        region: request.region,
        proxy_pool_id: request.proxyPoolId,
        rendering_options: {},
        proxy_requirements: {},
      }));
      await createSessionBatch(services, specs, "session.bulk_created", { source: "scale-million" }, operationId, loadRows);
      created += size;
      await report(false);
    }
  };
  await Promise.all(Array.from({ length: Math.min(INSERT_STREAMS, Math.max(1, batches)) }, stream));
  await report(true);
  const currentSessions = startCount + created;
  return { targetSessions: request.targetSessions, currentSessions, targetReached: currentSessions >= request.targetSessions };
}

/**
 * Deletes every session (replicas go with them) in slices, so no transaction holds a million row
 * locks; each slice commits with its own `session.cleared` event.
 */
export async function clearSessions(services: Services, onProgress: (deleted: number) => Promise<void>, jobId?: string): Promise<number> {
  const operationId = jobId ? `job-${jobId}` : uuidv7();
  let deleted = 0;
  for (;;) {
    const slice = await inTransaction(services.db, async (connection) => {
      const [sessions] = await connection.query<RowDataPacket[]>("SELECT id, seq, status, country FROM sessions ORDER BY id LIMIT 5000 FOR UPDATE");
      if (sessions.length === 0) return { count: 0, running: [] };
      const ids = sessions.map((row) => row.id as string);
      await adjust(
        connection,
        services.config.MEGAWEB_HYPERGRID_TILE_SIZE,
        sessions.map((row) => ({ seq: Number(row.seq), status: row.status, country: row.country, sessions: -1 })),
        await replicasOfSessions(connection, ids),
      );
      const [running] = await connection.query<RowDataPacket[]>("SELECT id FROM replicas WHERE session_id IN (?) AND status IN ('starting', 'running')", [ids]);
      const [result] = await connection.query<ResultSetHeader>("DELETE FROM sessions WHERE id IN (?)", [ids]);
      await appendEvents(connection, [
        { aggregateType: "bulk_operation", aggregateId: operationId, type: "session.cleared", payload: { count: result.affectedRows } },
      ]);
      return { count: result.affectedRows, running: running.map((row) => row.id as string) };
    });
    await forgetReplicas(services.redis, slice.running);
    if (slice.count === 0) return deleted;
    deleted += slice.count;
    await onProgress(deleted);
  }
}
