import type { Queue } from "bullmq";
import type Redis from "ioredis";
import type { OrchestratorConfig } from "./config";
import type { Database } from "./db";

/** What request handlers and job processors share: opened once per process. */
export interface Services {
  config: OrchestratorConfig;
  db: Database;
  redis: Redis;
  queue: Queue;
}
