import type { HostFile } from "./files";
import { osReserveMb, sharedServiceMb } from "./pool-sizing";
import { renderTemplate } from "./template";

/**
 * MariaDB's config: where it listens (a change restarts it), and how big it is, sized from the
 * host's memory and the connections the phase's clients may open (a change is applied online).
 */

/** What MariaDB may use per connection with its default session buffers (sort 2 MB, join 256 KB, reads 384 KB, thread stack 292 KB). */
const sessionMb = 3;
/** Connections beyond what the clients may open: operators, provisioning steps, monitoring. */
export const spareConnections = 20;
export const slowQueryLog = "/var/log/mysql/mariadb-slow.log";

export interface MariaDbSizing {
  /** What MariaDB may use on the host: all but the OS's reserve on a host of its own, its share of a shared one. */
  readonly memoryMb: number;
  readonly bufferPoolMb: number;
  readonly logFileMb: number;
  readonly maxConnections: number;
  /** Queries slower than this go to the slow query log. */
  readonly longQueryTimeSeconds: number;
}

export interface MariaDbSizingInput {
  readonly hostMemoryMb: number;
  /** No PHP, Redis or worker on the host, so MariaDB takes all but the OS's reserve. */
  readonly dedicated: boolean;
  /** Connections the clients may hold at once (PHP workers of the sites with a database, the app's pools, replicas). */
  readonly clientConnections: number;
}

const floorTo = (value: number, step: number) => Math.floor(value / step) * step;

export function sizeMariaDb({ hostMemoryMb, dedicated, clientConnections }: MariaDbSizingInput): MariaDbSizing {
  const memoryMb = dedicated ? hostMemoryMb - osReserveMb : sharedServiceMb("mysql", hostMemoryMb);
  const maxConnections = clientConnections + spareConnections;
  // A quarter of what the sessions leave stays for InnoDB's own structures (adaptive hash index,
  // dictionary, log buffer) and temporary tables; MariaDB grows the pool in 128 MiB chunks.
  const bufferPoolMb = Math.max(128, floorTo(0.75 * (memoryMb - maxConnections * sessionMb), 128));
  // A quarter of the buffer pool: enough redo for a burst of writes between checkpoints.
  const logFileMb = Math.min(2048, Math.max(64, floorTo(bufferPoolMb / 4, 64)));
  return { memoryMb, bufferPoolMb, logFileMb, maxConnections, longQueryTimeSeconds: 2 };
}

export interface MariaDbFiles {
  /** Where it listens and how it names clients: read only at start. */
  readonly server: HostFile;
  /** Memory, connections and the slow log: every setting in it can change on a running server. */
  readonly sizing: HostFile;
}

export function renderMariaDb(bindAddress: string, sizing: MariaDbSizing): MariaDbFiles {
  return {
    server: { path: "/etc/mysql/mariadb.conf.d/60-megaweb.cnf", content: renderTemplate("mariadb/60-megaweb.cnf", { bindAddress }) },
    sizing: {
      path: "/etc/mysql/mariadb.conf.d/61-megaweb-sizing.cnf",
      content: renderTemplate("mariadb/61-megaweb-sizing.cnf", { ...sizing, slowQueryLog }),
    },
  };
}

/** The sizing file's settings as statements for a running server, so a new client count or memory size needs no restart. */
export function onlineSizing(sizing: MariaDbSizing): string[] {
  const bytes = (mb: number) => mb * 1024 * 1024;
  return [
    `SET GLOBAL innodb_buffer_pool_size = ${bytes(sizing.bufferPoolMb)};`,
    `SET GLOBAL innodb_log_file_size = ${bytes(sizing.logFileMb)};`,
    `SET GLOBAL max_connections = ${sizing.maxConnections};`,
    `SET GLOBAL slow_query_log_file = '${slowQueryLog}';`,
    `SET GLOBAL long_query_time = ${sizing.longQueryTimeSeconds};`,
    "SET GLOBAL slow_query_log = 1;",
  ];
}
