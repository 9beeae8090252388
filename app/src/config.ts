import { z } from "zod";
import { formatPath } from "./errors";

/**
 * The orchestrator's whole configuration, read from the environment once at start.
 * Web and worker processes share it so a systemd unit can hand both the same EnvironmentFile.
 */
const commaList = z.string().transform((value) =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);

const mysqlUrl = z.string().refine((value) => /^mysql:\/\/[^/]+\/[A-Za-z0-9_]+/.test(value), {
  message: "must be mysql://user:password@host:port/database",
});

const hostPort = z.string().regex(/^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$/, "must be host:port");

export const environmentSchema = z
  .object({
    PORT: z.coerce.number().int().min(1).max(65535).default(3000),
    /** Address the web process listens on; nginx in front connects over loopback by default. */
    HOST: z.string().min(1).default("127.0.0.1"),
    MEGAWEB_DB_URL: mysqlUrl,
    MEGAWEB_DB_REPLICA_URLS: commaList.pipe(z.array(mysqlUrl)).default([]),
    MEGAWEB_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
    MEGAWEB_REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, "must be redis://[:password@]host:port[/db]")
      .optional(),
    MEGAWEB_REDIS_SENTINELS: commaList.pipe(z.array(hostPort)).default([]),
    MEGAWEB_REDIS_MASTER_NAME: z.string().min(1).default("mymaster"),
    /** Password of the Redis master when it is reached through Sentinels. */
    MEGAWEB_REDIS_PASSWORD: z.string().optional(),
    /** Password of the Sentinels themselves, when they require one. */
    MEGAWEB_REDIS_SENTINEL_PASSWORD: z.string().optional(),
    MEGAWEB_API_TOKEN: z.string().min(16, "must be at least 16 characters"),
    /** Lets runners report heartbeats without holding the API token that can change everything. */
    MEGAWEB_RUNNER_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
    /** A starting or running replica whose last heartbeat is older than this is failed and replaced. */
    MEGAWEB_HEARTBEAT_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
    /** Stopped and failed replicas are kept this long for their history, then removed hourly. */
    MEGAWEB_REPLICA_RETENTION_HOURS: z.coerce.number().int().min(1).default(24),
    MEGAWEB_PROXY_CHECK_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(30),
    MEGAWEB_PROXY_CHECK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
    /** Fetched through each HTTP proxy to check it; without it an HTTP proxy is checked by a TCP connect. */
    MEGAWEB_PROXY_CHECK_URL: z
      .string()
      .regex(/^http:\/\/[^\s/]+(\/\S*)?$/, "must be an http:// URL (fetched through each HTTP proxy)")
      .optional(),
    MEGAWEB_CORS_ORIGINS: commaList
      .pipe(z.array(z.string().regex(/^\*$|^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/, "must be an origin such as https://panel.example.com, or *")))
      .default([]),
    MEGAWEB_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(1000),
    /** Peers whose X-Forwarded-For is believed: the local nginx by default. */
    MEGAWEB_TRUST_PROXY: z.string().default("127.0.0.1,::1"),
    MEGAWEB_METRICS_RETENTION_DAYS: z.coerce.number().int().min(1).default(30),
    MEGAWEB_HYPERGRID_TILE_SIZE: z.coerce.number().int().min(10).max(100_000).default(1000),
    MEGAWEB_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
    MEGAWEB_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  })
  .superRefine((env, ctx) => {
    if (!env.MEGAWEB_REDIS_URL && env.MEGAWEB_REDIS_SENTINELS.length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["MEGAWEB_REDIS_URL"],
        message: "set MEGAWEB_REDIS_URL or MEGAWEB_REDIS_SENTINELS",
      });
    }
  });

export type OrchestratorConfig = z.infer<typeof environmentSchema>;

/** Names every bad variable with its rule, and never echoes a value (the token and URLs hold secrets). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): OrchestratorConfig {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
    throw new Error(`invalid orchestrator environment:\n  ${lines.join("\n  ")}`);
  }
  return parsed.data;
}
