import { Worker, type Job } from "bullmq";
import type Redis from "ioredis";
import { cleanupEndedReplicas, sweepLiveness } from "./liveness";
import { cleanupMetrics, recordMetrics } from "./metrics";
import { checkProxies } from "./proxy-health";
import { enqueueReconcile, PRIORITY, QUEUE_NAME, type JobName, type JobPayloads } from "./queue";
import { findUnconverged, reconcileSession } from "./reconciler";
import { clearSessions, scaleSessionsTo } from "./scale";
import type { Services } from "./services";

const SWEEP_BATCH = 1000;

/** What each job does; the return value is kept on the job for GET /api/jobs/{id}. */
export async function runJob(services: Services, job: Job): Promise<unknown> {
  const name = job.name as JobName;
  switch (name) {
    case "reconcile-session":
      return reconcileSession(services, (job.data as JobPayloads["reconcile-session"]).sessionId);
    case "reconcile-sweep": {
      const drifted = await findUnconverged(services, SWEEP_BATCH);
      await enqueueReconcile(services.queue, drifted);
      return { enqueued: drifted.length };
    }
    case "scale-sessions":
      return scaleSessionsTo(services, job.data as JobPayloads["scale-sessions"], (progress) => job.updateProgress({ ...progress }), job.id);
    case "clear-sessions": {
      const deleted = await clearSessions(services, (count) => job.updateProgress({ deletedSessions: count }), job.id);
      return { deletedSessions: deleted };
    }
    case "record-metrics":
      return { points: await recordMetrics(services) };
    case "cleanup-metrics":
      return { removed: await cleanupMetrics(services) };
    case "sweep-liveness":
      return sweepLiveness(services);
    case "check-proxies":
      return checkProxies(services);
    case "cleanup-replicas":
      return { removed: await cleanupEndedReplicas(services) };
    default:
      throw new Error(`unknown job ${job.name}`);
  }
}

/**
 * Housekeeping on BullMQ job schedulers: one schedule per name however many workers start,
 * so three worker nodes do not sweep three times.
 */
export async function scheduleHousekeeping(services: Services, sweepEveryMs = 10_000): Promise<void> {
  const { config } = services;
  const schedules: [JobName, number, number][] = [
    ["reconcile-sweep", sweepEveryMs, PRIORITY.reconcileSweep],
    // A third of the timeout, so a silent replica is failed at most a third late.
    ["sweep-liveness", Math.max(500, Math.round((config.MEGAWEB_HEARTBEAT_TIMEOUT_SECONDS * 1000) / 3)), PRIORITY.liveness],
    ["check-proxies", config.MEGAWEB_PROXY_CHECK_INTERVAL_SECONDS * 1000, PRIORITY.proxyChecks],
    ["record-metrics", 60_000, PRIORITY.metrics],
    ["cleanup-metrics", 3_600_000, PRIORITY.metrics],
    ["cleanup-replicas", 3_600_000, PRIORITY.metrics],
  ];
  for (const [name, every, priority] of schedules) {
    await services.queue.upsertJobScheduler(name, { every }, { name, data: {}, opts: { priority } });
  }
}

export function startWorker(services: Services, connection: Redis): Worker {
  return new Worker(QUEUE_NAME, (job) => runJob(services, job), {
    connection,
    concurrency: services.config.MEGAWEB_WORKER_CONCURRENCY,
  });
}
