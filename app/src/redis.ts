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
    // A demoted master answers READONLY until the client notices the failover; reconnecting asks the
    // Sentinels for the new master and replays the command there.
    reconnectOnError: (error) => (error.message.startsWith("READONLY") ? 2 : false),
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
      sentinelPassword: config.MEGAWEB_REDIS_SENTINEL_PASSWORD,
      // No failoverDetector (ioredis 5.11): when the primary's box dies with its Sentinel, its
      // +switch-master can arrive while the client is already reconnecting through the Sentinels;
      // the detector then closes the connector under that attempt, which ends the client for good
      // ("Connection is closed." on every command, redis/ioredis#540). Seen on the ha e2e's local
      // machines: both web nodes' processes stayed so (and busy, 75 % CPU) until restarted. A
      // failover reaches the client anyway: a dead primary closes its connections, and a demoted
      // one drops its clients and answers READONLY (reconnectOnError above).
    });
  }
  return new Redis(config.MEGAWEB_REDIS_URL as string, shared);
}
