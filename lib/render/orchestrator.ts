import type { Artifact } from "../plan/artifact";
import { redisMasterName } from "../plan/cluster";
import { privatePorts } from "../plan/firewall";
import type { App } from "../schema/app";
import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/** The MegaWeb Orchestrator's files on a host: its systemd units and their environment file. */

/** Where the orchestrator lives on a host. */
export const orchestratorLayout = {
  /** One directory per release, named by `Artifact.release`. */
  releases: "/opt/megaweb/orchestrator",
  environmentFile: "/etc/megaweb/orchestrator.env",
  /** Writable by any SSH user (so a sudo user's upload works) and kept across reboots. */
  uploadDir: "/var/tmp",
  /**
   * A leading underscore keeps it apart from every site account: those derive from domains and
   * start with a letter.
   */
  user: "_orchestrator",
  nodePath: "/usr/bin/node",
} as const;

/** Every unit the app runs; a host runs those of its roles (`appUnitsOf`). */
export const orchestratorUnits = ["orchestrator-web.service", "orchestrator-worker.service"] as const;
export type OrchestratorUnit = (typeof orchestratorUnits)[number];

/**
 * Connections each of the app's processes opens to a MySQL server: the app's default
 * `MEGAWEB_DB_POOL_SIZE` (app/src/config.ts; test/app-deploy/environment.test.ts holds them equal),
 * counted by MariaDB's sizing.
 */
export const appDatabasePoolSize = 10;

/** The unit files of a host, as `templates/systemd` has them, pointing at this release. */
export function renderOrchestratorUnits(units: readonly OrchestratorUnit[], artifact: Artifact): HostFile[] {
  return units.map((unit) => ({
    path: `/etc/systemd/system/${unit}`,
    content: renderTemplate(`systemd/${unit}`, {
      version: artifact.version,
      installDir: `${orchestratorLayout.releases}/${artifact.release}`,
      nodePath: orchestratorLayout.nodePath,
      user: orchestratorLayout.user,
      environmentFile: orchestratorLayout.environmentFile,
    }),
  }));
}

export interface OrchestratorEnvironment {
  readonly app: App;
  /** The token, or its placeholder. */
  readonly apiToken: string;
  readonly database: {
    readonly name: string;
    readonly user: string;
    /** The password, or its placeholder: base64url either way, so it stands bare in the URLs. */
    readonly password: string;
    /** Address of the MySQL primary as this host reaches it. */
    readonly primary: string;
    /** Addresses of the read replicas; empty when the plan has none. */
    readonly replicas: readonly string[];
  };
  readonly redis:
    | { readonly password: string; readonly address: string }
    | { readonly password: string; readonly sentinels: readonly string[]; readonly sentinelPassword: string };
}

/**
 * The `EnvironmentFile` both units read, in the variables of the app's README. Values are written
 * bare: systemd would expand `$` and strip quotes, and none of the values can hold either
 * (generated passwords are base64url, the token's characters are checked by the schema).
 */
export function renderOrchestratorEnvironment(values: OrchestratorEnvironment): HostFile {
  const { app, database, redis } = values;
  const mysqlUrl = (address: string) => `mysql://${encodeURIComponent(database.user)}:${database.password}@${address}:${privatePorts.mysql}/${database.name}`;
  return {
    path: orchestratorLayout.environmentFile,
    content: renderTemplate("app/orchestrator.env", {
      port: app.port,
      databaseUrl: mysqlUrl(database.primary),
      replicaUrls: database.replicas.map(mysqlUrl).join(","),
      ...("sentinels" in redis
        ? {
            sentinels: redis.sentinels.map((address) => `${address}:${privatePorts.sentinel}`).join(","),
            masterName: redisMasterName,
            redisPassword: redis.password,
            sentinelPassword: redis.sentinelPassword,
          }
        : { sentinels: false, redisUrl: `redis://:${redis.password}@${redis.address}:${privatePorts.redis}` }),
      apiToken: values.apiToken,
      corsOrigins: app.corsOrigins.join(","),
      rateLimitPerMinute: app.rateLimitPerMinute,
      metricsRetentionDays: app.metricsRetentionDays,
      workerConcurrency: app.workerConcurrency,
      logLevel: app.logLevel,
    }),
    mode: "0600",
    secret: true,
  };
}
