import { describe, expect, it } from "vitest";
import { loadConfig } from "../../app/src/config";
import { redisMasterName } from "../../lib/plan/cluster";
import { appDatabasePoolSize, renderOrchestratorEnvironment, type OrchestratorEnvironment } from "../../lib/render/orchestrator";
import { parseStack } from "../../lib/schema/stack";

/** How systemd reads an EnvironmentFile of bare `NAME=value` lines (comments and blanks skipped). */
function asSystemdReadsIt(file: string): Record<string, string> {
  return Object.fromEntries(
    file
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith("#"))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

const app = parseStack({
  sites: [],
  app: { domain: "orchestrator.example.com", port: 3100, workerConcurrency: 8, corsOrigins: ["https://panel.example.com"] },
}).app!;
const values: OrchestratorEnvironment = {
  app,
  apiToken: "0123456789abcdef0123456789abcdef",
  database: { name: "megaweb", user: "megaweb", password: "Zx-_9aB", primary: "10.10.0.4", replicas: [] },
  redis: { password: "r-_7Qp", address: "10.10.0.3" },
};

describe("the orchestrator's environment file", () => {
  it("is what the app's own environment schema accepts, with the stack's settings", () => {
    const config = loadConfig(asSystemdReadsIt(renderOrchestratorEnvironment(values).content));
    expect(config).toMatchObject({
      PORT: 3100,
      HOST: "127.0.0.1",
      MEGAWEB_DB_URL: "mysql://megaweb:Zx-_9aB@10.10.0.4:3306/megaweb",
      MEGAWEB_DB_REPLICA_URLS: [],
      MEGAWEB_REDIS_URL: "redis://:r-_7Qp@10.10.0.3:6379",
      MEGAWEB_REDIS_SENTINELS: [],
      MEGAWEB_API_TOKEN: values.apiToken,
      MEGAWEB_CORS_ORIGINS: ["https://panel.example.com"],
      MEGAWEB_WORKER_CONCURRENCY: 8,
      MEGAWEB_RATE_LIMIT_PER_MINUTE: 1000,
      MEGAWEB_METRICS_RETENTION_DAYS: 30,
      MEGAWEB_LOG_LEVEL: "info",
    });
  });

  it("lists every MySQL replica and asks the Sentinels for Redis when the plan has them", () => {
    const file = renderOrchestratorEnvironment({
      ...values,
      database: { ...values.database, replicas: ["10.10.0.5", "10.10.0.6"] },
      redis: { password: "r-_7Qp", sentinels: ["10.10.0.7", "10.10.0.8", "10.10.0.9"], sentinelPassword: "s-_4Kd" },
    }).content;
    const config = loadConfig(asSystemdReadsIt(file));
    expect(config.MEGAWEB_DB_REPLICA_URLS).toEqual(["mysql://megaweb:Zx-_9aB@10.10.0.5:3306/megaweb", "mysql://megaweb:Zx-_9aB@10.10.0.6:3306/megaweb"]);
    expect(config.MEGAWEB_REDIS_SENTINELS).toEqual(["10.10.0.7:26379", "10.10.0.8:26379", "10.10.0.9:26379"]);
    expect(config.MEGAWEB_REDIS_MASTER_NAME).toBe(redisMasterName);
    expect(config.MEGAWEB_REDIS_PASSWORD).toBe("r-_7Qp");
    expect(config.MEGAWEB_REDIS_SENTINEL_PASSWORD).toBe("s-_4Kd");
    expect(config.MEGAWEB_REDIS_URL).toBeUndefined();
  });

  it("sizes MariaDB for the database pool the app really opens", () => {
    expect(loadConfig(asSystemdReadsIt(renderOrchestratorEnvironment(values).content)).MEGAWEB_DB_POOL_SIZE).toBe(appDatabasePoolSize);
  });

  it("leaves optional variables out rather than writing them empty", () => {
    const file = renderOrchestratorEnvironment({ ...values, app: { ...app, corsOrigins: [] } }).content;
    expect(file).not.toMatch(/^MEGAWEB_CORS_ORIGINS=/m);
    expect(file).not.toMatch(/^MEGAWEB_DB_REPLICA_URLS=/m);
    expect(file).not.toMatch(/=$/m);
  });
});
