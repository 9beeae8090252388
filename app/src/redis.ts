import Redis from "ioredis";
import type { RedisOptions } from "ioredis";
import type { OrchestratorConfig } from "./config";

/**
 * A Redis connection to the master, found through Sentinel when Sentinels are configured so a
 * failover moves the app with it. BullMQ's blocking workers need maxRetriesPerRequest null;
 * request-path clients keep ioredis' default so a Redis outage fails a request instead of hanging it.
 */
export function connectRedis(config: OrchestratorConfig, purpose: "requests" | "queue"): Redis {
  const shared: RedisOptions = {
    maxRetriesPerRequest: purpose === "queue" ? null : 3,
    enableOfflineQueue: true,
    connectionName: `megaweb-orchestrator-${purpose}`,
  };
  if (config.MEGAWEB_REDIS_SENTINELS.length > 0) {
    return new Redis({
      ...shared,
      sentinels: config.MEGAWEB_REDIS_SENTINELS.map((entry) => {
        const separator = entry.lastIndexOf(":");
        return { host: entry.slice(0, separator).replace(/^\[|\]$/g, ""), port: Number(entry.slice(separator + 1)) };
      }),
      name: config.MEGAWEB_REDIS_MASTER_NAME,
      password: config.MEGAWEB_REDIS_PASSWORD,
    });
  }
  return new Redis(config.MEGAWEB_REDIS_URL as string, shared);
}
