import { type HaproxyBackend, renderHaproxyConfig } from "../../lib/plan/haproxy-config";
import { renderTemplate } from "../../lib/render/template";
import { stepCommand } from "./script";

/** MariaDB listening on `bindAddress` only: loopback when its clients share the host. */
export function mysqlCommand(bindAddress: string): string {
  return stepCommand(renderTemplate("provision/mysql.sh", { config: renderTemplate("mariadb/60-megaweb.cnf", { bindAddress }).trimEnd() }));
}

/**
 * Redis with a password (on stdin), on loopback plus the private address when other hosts use it.
 * A Redis sharing its host keeps to a small slice of memory; a dedicated one takes most of it.
 */
export function redisCommand(bindAddresses: readonly string[], memoryMb: number, dedicated: boolean): string {
  const maxMemoryMb = dedicated ? Math.round(memoryMb * 0.75) : Math.max(64, Math.round(memoryMb * 0.05));
  return stepCommand(
    renderTemplate("provision/redis.sh", { config: renderTemplate("redis/megaweb.conf", { bindAddresses: bindAddresses.join(" "), maxMemoryMb }).trimEnd() }),
  );
}

export interface SiteDatabase {
  readonly domain: string;
  readonly database: string;
  readonly user: string;
  readonly charset: string;
  /** MySQL host parts the user may connect from: `localhost` on the same host, else the clients' private addresses. */
  readonly clients: readonly string[];
}

/** The site's database and user; the password arrives on stdin. */
export function databaseCommand(database: SiteDatabase): string {
  return stepCommand(renderTemplate("provision/database.sh", database));
}

export function databaseDeleteCommand(database: SiteDatabase): string {
  return stepCommand(renderTemplate("provision/database-delete.sh", database));
}

/** HAProxy on a load balancer host, balancing over the web hosts' private addresses. */
export function haproxyCommand(backends: readonly HaproxyBackend[], healthPath: string): string {
  return stepCommand(renderTemplate("provision/haproxy.sh", { config: renderHaproxyConfig({ backends, healthPath }).trimEnd() }));
}
