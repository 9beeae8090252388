import type { OrchestratorConfig } from "./config";
import { openDatabase } from "./db";
import { openQueue } from "./queue";
import { connectRedis } from "./redis";
import type { Services } from "./services";

export function openServices(config: OrchestratorConfig): Services & { close(): Promise<void> } {
  const db = openDatabase(config.MEGAWEB_DB_URL, config.MEGAWEB_DB_REPLICA_URLS, config.MEGAWEB_DB_POOL_SIZE);
  const redis = connectRedis(config, "requests");
  const queueConnection = connectRedis(config, "queue");
  const queue = openQueue(queueConnection);
  return {
    config,
    db,
    redis,
    queue,
    async close() {
      await queue.close();
      queueConnection.disconnect();
      redis.disconnect();
      await db.close();
    },
  };
}
