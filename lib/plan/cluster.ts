import { createHmac } from "node:crypto";
import type { Role } from "../schema/infrastructure";
import type { PlannedHost, TopologyPlan } from "./topology";

/**
 * Values that span the cluster, decided here once for every step that needs them: which secret
 * serves which purpose, and at which address one host reaches a service on another.
 */

/**
 * A secret a step hands to its host. Its value never passes through `lib/`: steps are rendered
 * with `secretPlaceholder`s, and the components put the values in on the way to the step's stdin,
 * so `megaweb render` shows the placeholders and nothing here can leak a value into a command.
 */
export type ClusterSecret =
  /** The password of the Redis the sites and the app share. */
  | { readonly kind: "redis" }
  /** The password of a site's (or the app's) database user, by its domain. */
  | { readonly kind: "database"; readonly domain: string }
  /** A site's custom TLS private key, as the stack's config holds it. */
  | { readonly kind: "tlsKey"; readonly domain: string }
  /** The app's `MEGAWEB_API_TOKEN` (`megaweb:apiToken`). */
  | { readonly kind: "apiToken" }
  /** The password of the MySQL replicas' replication user. */
  | { readonly kind: "mysqlReplication" }
  /** The password the Sentinels ask of their clients (the app, the Redis servers, each other). */
  | { readonly kind: "sentinel" }
  /** The restic repositories' password (`megaweb:backupPassword`); never derived, so losing the hosts' key does not lose the backups. */
  | { readonly kind: "backupPassword" }
  /** An S3 destination's secret access key (`megaweb:backupS3SecretKey`). */
  | { readonly kind: "backupS3SecretKey" }
  /** The password the MariaDB exporter logs in with. */
  | { readonly kind: "mysqlExporter" }
  /** A credential of an alert receiver, as the stack's `monitoring.receivers` holds it: the relay's password, or a webhook's token by its place in the list (0-based). */
  | { readonly kind: "alertReceiver"; readonly receiver: "email" | number }
  /** The DigitalOcean token the balancers' keepalived moves the reserved IP with (`megaweb:reservedIpToken`). */
  | { readonly kind: "reservedIpToken" };

/** The secret's name: the purpose a derived password is made for, and what its placeholder shows. */
export function secretName(secret: ClusterSecret): string {
  switch (secret.kind) {
    case "redis":
      return "redis";
    case "database":
      return `mysql:${secret.domain}`;
    case "tlsKey":
      return `tls-key:${secret.domain}`;
    case "apiToken":
      return "api-token";
    case "mysqlReplication":
      return "mysql-replication";
    case "sentinel":
      return "sentinel";
    case "backupPassword":
      return "backup-password";
    case "backupS3SecretKey":
      return "backup-s3-secret-key";
    case "mysqlExporter":
      return "mysql-exporter";
    case "alertReceiver":
      return secret.receiver === "email" ? "alert-email-password" : `alert-webhook-${secret.receiver + 1}-token`;
    case "reservedIpToken":
      return "reserved-ip-token";
  }
}

/** Whether the secret is generated from the stack's root secret (`derivePassword`) rather than set in the stack. */
export function isDerived(secret: ClusterSecret): boolean {
  return (
    secret.kind === "redis" || secret.kind === "database" || secret.kind === "mysqlReplication" || secret.kind === "sentinel" || secret.kind === "mysqlExporter"
  );
}

/** What stands for the secret in rendered files and stdin until a component fills it in. */
export function secretPlaceholder(secret: ClusterSecret): string {
  return `<secret:${secretName(secret)}>`;
}

/** Finds placeholders left in a text: in a command string one would be a leak in the making, in stdin an undeclared secret. */
export const placeholderPattern = /<secret:[^>\s]+>/g;

/**
 * A password derived from a secret the stack already holds (its SSH private key), so it is stable
 * across runs, needs no state of its own and no extra provider; rotating the root rotates them all.
 * base64url, so it stands bare in URLs, `.env` files and SQL strings.
 */
export function derivePassword(rootSecret: string, purpose: string): string {
  return createHmac("sha256", rootSecret).update(`megaweb:${purpose}`).digest("base64url").slice(0, 32);
}

/** Every service listens on loopback, so a client on the service's own host uses it. */
export const loopback = "127.0.0.1";

/**
 * Where MariaDB and Redis also listen on their own host: a site's PHP there connects through these
 * (its `.env`'s `DB_SOCKET`, `REDIS_SOCKET`) and skips loopback TCP's handshake on each request's
 * connection, the difference bench/README.md measures. MariaDB names a client on its socket
 * `localhost`, so that host part is granted beside loopback.
 */
export const localSockets = { mysql: "/run/mysqld/mysqld.sock", redis: "/run/redis/redis-server.sock", mysqlClient: "localhost" } as const;

/**
 * The address `from` uses to reach `to`: loopback when they are one host, else `to`'s private
 * address. Read either way round: where a client connects to a service, and as which address a
 * service sees a client (MySQL grants name it), so the two always agree.
 */
export function addressFrom(from: string, to: string, privateIp: (host: string) => string): string {
  return from === to ? loopback : privateIp(to);
}

/** The unix socket `from` uses besides `addressFrom`'s address: the service's own when they are one host. */
export function socketFrom(from: string, to: string, socket: string): string | undefined {
  return from === to ? socket : undefined;
}

/** The roles whose hosts open connections to `port` on hosts of `role`: the sources of the firewall matrix's row. */
export function clientRoles(topology: TopologyPlan, role: Role, port: number): Role[] {
  return topology.firewall
    .filter((rule) => rule.role === role && rule.port === port)
    .flatMap((rule) => rule.sources.flatMap((source) => (source.kind === "role" ? [source.role] : [])));
}

/** Whether a service on `host` must listen on its private address too: another host has one of its client roles. */
export function servesOtherHosts(topology: TopologyPlan, host: PlannedHost, role: Role, port: number): boolean {
  const clients = clientRoles(topology, role, port);
  return topology.hosts.some((other) => other.name !== host.name && other.roles.some((each) => clients.includes(each)));
}

/** The hosts the sites' PHP and the app connect to MySQL and Redis from. */
export function dataClients(topology: TopologyPlan): PlannedHost[] {
  return topology.hosts.filter((host) => host.roles.includes("web") || host.roles.includes("worker"));
}

/** The orchestrator's processes on a host: the web process on web hosts, the worker on worker hosts; the single box runs both. */
export function appUnitsOf(host: Pick<PlannedHost, "roles">): ("orchestrator-web.service" | "orchestrator-worker.service")[] {
  return [
    ...(host.roles.includes("web") ? (["orchestrator-web.service"] as const) : []),
    ...(host.roles.includes("worker") ? (["orchestrator-worker.service"] as const) : []),
  ];
}

/** The Sentinels' name for the Redis primary; the Sentinel steps must monitor the primary under this name, the app asks for it. */
export const redisMasterName = "megaweb";

/**
 * The text with each secret's value put in for its placeholder, values by `secretName`. A
 * placeholder without a value names a secret the step did not declare, which is refused.
 */
export function fillSecrets(text: string, values: ReadonlyMap<string, string>): string {
  return text.replace(placeholderPattern, (placeholder) => {
    const value = values.get(placeholder.slice("<secret:".length, -1));
    if (value === undefined) throw new Error(`${placeholder} has no value: the step does not declare that secret`);
    return value;
  });
}
