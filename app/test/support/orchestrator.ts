import type { Worker } from "bullmq";
import type { FastifyInstance } from "fastify";
import type Redis from "ioredis";
import { loadConfig, type OrchestratorConfig } from "../../src/config";
import { scheduleHousekeeping, startWorker } from "../../src/jobs";
import { migrate } from "../../src/migrate";
import { openServices } from "../../src/open-services";
import { connectRedis } from "../../src/redis";
import { buildServer } from "../../src/server";
import { ensureTiles } from "../../src/summaries";
import type { Services } from "../../src/services";
import { startMariaDb, startRedis, type MariaDbOptions, type MariaDbServer, type RedisServer } from "./backends";

export const API_TOKEN = "test-token-0123456789abcdef";

export interface Backends {
  mariadb: MariaDbServer;
  redis: RedisServer;
  stop(): Promise<void>;
}

export async function startBackends(options: MariaDbOptions = {}): Promise<Backends> {
  const [mariadb, redis] = await Promise.all([startMariaDb(options), startRedis()]);
  return { mariadb, redis, stop: async () => void (await Promise.all([mariadb.stop(), redis.stop()])) };
}

export interface RunningOrchestrator {
  baseUrl: string;
  config: OrchestratorConfig;
  services: Services;
  app: FastifyInstance;
  worker?: Worker;
  /** fetch against the app, with the API token unless `token: null`. */
  api(
    path: string,
    init?: { method?: string; body?: unknown; token?: string | null; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

let databases = 0;

/** The real web process (and optionally the worker) in this process, on a fresh database. */
export async function startOrchestrator(
  backends: Pick<Backends, "mariadb" | "redis">,
  options: {
    worker?: boolean;
    /** How often the worker sweeps for drifted sessions; false leaves housekeeping unscheduled. */
    sweepEveryMs?: number | false;
    env?: Record<string, string>;
    redisDb?: number;
  } = {},
): Promise<RunningOrchestrator> {
  const dbUrl = await backends.mariadb.createDatabase(`megaweb_${process.pid}_${++databases}`);
  const config = loadConfig({
    MEGAWEB_DB_URL: dbUrl,
    ...(options.env?.MEGAWEB_REDIS_SENTINELS ? {} : { MEGAWEB_REDIS_URL: `${backends.redis.url}/${options.redisDb ?? databases}` }),
    MEGAWEB_API_TOKEN: API_TOKEN,
    MEGAWEB_LOG_LEVEL: "warn",
    PORT: "1",
    ...options.env,
  });
  await migrate(config.MEGAWEB_DB_URL);
  const services = openServices(config);
  await ensureTiles(services.db.primary, config.MEGAWEB_HYPERGRID_TILE_SIZE);
  const app = await buildServer(services);
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  const baseUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  let workerConnection: Redis | undefined;
  let worker: Worker | undefined;
  if (options.worker) {
    workerConnection = connectRedis(config, "queue");
    worker = startWorker(services, workerConnection);
    if (options.sweepEveryMs !== false) await scheduleHousekeeping(services, options.sweepEveryMs ?? 1000);
  }
  return {
    baseUrl,
    config,
    services,
    app,
    worker,
    async api(path, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      if (init.token !== null) headers.authorization = `Bearer ${init.token ?? API_TOKEN}`;
      if (init.body !== undefined) headers["content-type"] = "application/json";
      const response = await fetch(baseUrl + path, {
        method: init.method ?? "GET",
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
    },
    async stop() {
      await worker?.close();
      workerConnection?.disconnect();
      await app.close();
      await services.close();
    },
  };
}

/** Polls until `check` returns a value other than undefined, or fails with what it last saw. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
