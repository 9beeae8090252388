import type { App } from "../../lib/schema/app";
import { privatePorts } from "../../lib/plan/firewall";

/**
 * The Sentinels' name for the Redis primary. The app asks the Sentinels for this master, so the
 * Sentinel provisioning must monitor the primary under the same name.
 */
export const redisMasterName = "megaweb";

export interface DatabaseEndpoint {
  readonly name: string;
  readonly user: string;
  readonly password: string;
  /** Address of the MySQL primary as this host reaches it. */
  readonly primary: string;
  /** Addresses of the read replicas; empty when the plan has none. */
  readonly replicas: readonly string[];
}

export type RedisEndpoint = { readonly password: string; readonly address: string } | { readonly password: string; readonly sentinels: readonly string[] };

export interface EnvironmentValues {
  readonly app: App;
  readonly apiToken: string;
  readonly database: DatabaseEndpoint;
  readonly redis: RedisEndpoint;
}

const mysqlUrl = (database: DatabaseEndpoint, address: string) =>
  `mysql://${encodeURIComponent(database.user)}:${encodeURIComponent(database.password)}@${address}:${privatePorts.mysql}/${database.name}`;

/**
 * The `EnvironmentFile` both orchestrator units read, in the variables of the app's README.
 * Values are written bare: systemd would expand `$` and strip quotes, and none of the values can
 * hold either (generated passwords are base64url, the token's characters are checked).
 */
export function environmentFile(values: EnvironmentValues): string {
  const { app, database, redis } = values;
  const variables: [string, string | number | undefined][] = [
    ["PORT", app.port],
    ["HOST", "127.0.0.1"],
    ["MEGAWEB_DB_URL", mysqlUrl(database, database.primary)],
    ["MEGAWEB_DB_REPLICA_URLS", database.replicas.length > 0 ? database.replicas.map((address) => mysqlUrl(database, address)).join(",") : undefined],
    ...("sentinels" in redis
      ? ([
          ["MEGAWEB_REDIS_SENTINELS", redis.sentinels.map((address) => `${address}:${privatePorts.sentinel}`).join(",")],
          ["MEGAWEB_REDIS_MASTER_NAME", redisMasterName],
          ["MEGAWEB_REDIS_PASSWORD", redis.password],
        ] as [string, string][])
      : ([["MEGAWEB_REDIS_URL", `redis://:${encodeURIComponent(redis.password)}@${redis.address}:${privatePorts.redis}`]] as [string, string][])),
    ["MEGAWEB_API_TOKEN", values.apiToken],
    ["MEGAWEB_CORS_ORIGINS", app.corsOrigins.length > 0 ? app.corsOrigins.join(",") : undefined],
    ["MEGAWEB_RATE_LIMIT_PER_MINUTE", app.rateLimitPerMinute],
    ["MEGAWEB_METRICS_RETENTION_DAYS", app.metricsRetentionDays],
    ["MEGAWEB_WORKER_CONCURRENCY", app.workerConcurrency],
    ["MEGAWEB_LOG_LEVEL", app.logLevel],
  ];
  const lines = variables.flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${value}`]));
  return `# Managed by megaweb: the MegaWeb Orchestrator's environment; edits are replaced on the next deploy.\n${lines.join("\n")}\n`;
}
