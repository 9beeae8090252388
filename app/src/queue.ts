import { Queue, type JobsOptions } from "bullmq";
import type Redis from "ioredis";

export const QUEUE_NAME = "megaweb-orchestrator";

/** Lower runs first (BullMQ priorities): a user's scale beats the housekeeping behind it. */
export const PRIORITY = {
  reconcileSession: 1,
  reconcileSweep: 5,
  liveness: 5,
  proxyChecks: 8,
  bulk: 10,
  metrics: 20,
} as const;

/** At most 3 attempts, 1 s then 2 s apart: long enough for a lock or a failover to clear. */
export const RETRY: JobsOptions = {
  attempts: 3,
  backoff: { type: "exponential", delay: 1000 },
};

export interface JobPayloads {
  "reconcile-session": { sessionId: string };
  "reconcile-sweep": Record<string, never>;
  "scale-sessions": { targetSessions: number; replicasPerSession: number; region: string; proxyPoolId: string | null };
  "clear-sessions": Record<string, never>;
  "record-metrics": Record<string, never>;
  "cleanup-metrics": Record<string, never>;
  "sweep-liveness": Record<string, never>;
  "check-proxies": Record<string, never>;
  "cleanup-replicas": Record<string, never>;
}
export type JobName = keyof JobPayloads;

export function openQueue(connection: Redis): Queue {
  return new Queue(QUEUE_NAME, {
    connection,
    defaultJobOptions: {
      ...RETRY,
      removeOnComplete: { age: 24 * 3600, count: 1000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
    },
  });
}

export async function enqueue<N extends JobName>(queue: Queue, name: N, data: JobPayloads[N], priority: number) {
  return queue.add(name, data, { priority });
}

export async function enqueueReconcile(queue: Queue, sessionIds: string[]): Promise<void> {
  await queue.addBulk(
    sessionIds.map((sessionId) => ({
      name: "reconcile-session",
      data: { sessionId },
      opts: { priority: PRIORITY.reconcileSession },
    })),
  );
}
