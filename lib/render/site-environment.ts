import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * A PHP site's `.env`: where its database and Redis are, and their passwords (or their
 * placeholders). Beside the TCP address every client understands, the unix socket of a service on
 * the same host, for the clients that take one. In the ha phase also the MySQL replicas for reads
 * (`DB_READ_HOSTS`, Laravel's read/write split) and the Sentinels that name the current Redis primary.
 */

export interface SiteEnvironmentInput {
  /** The site's home, where `.env` lies outside the document root. */
  readonly home: string;
  /** The site's group: PHP runs as the site's user, which reads the file through it. */
  readonly group: string;
  readonly database?: {
    readonly host: string;
    readonly port: number;
    readonly name: string;
    readonly user: string;
    readonly password: string;
    /** The replicas' addresses, for reads. @default [] */
    readonly readHosts?: readonly string[];
    /** MariaDB's unix socket, when it runs on this host (`DB_SOCKET`, which Laravel prefers to the host). */
    readonly socket?: string;
  };
  /** `socket`: Redis's unix socket, when it runs on this host (`REDIS_SOCKET`). */
  readonly redis: { readonly host: string; readonly port: number; readonly password: string; readonly socket?: string };
  /** The Sentinels as `address:port`, and their password, where Sentinels watch Redis. */
  readonly sentinels?: { readonly addresses: readonly string[]; readonly masterName: string; readonly password: string };
}

export function renderSiteEnvironment(input: SiteEnvironmentInput): HostFile {
  return {
    path: `${input.home}/.env`,
    content: renderTemplate("site/env", {
      database: input.database ? { ...input.database, readHosts: (input.database.readHosts ?? []).join(",") } : false,
      redis: input.redis,
      sentinels: input.sentinels ? { ...input.sentinels, addresses: input.sentinels.addresses.join(",") } : false,
    }),
    mode: "0640",
    owner: `root:${input.group}`,
    secret: true,
  };
}
