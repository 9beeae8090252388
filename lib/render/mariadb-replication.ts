import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * MariaDB's GTID replication, semi-synchronous, one primary and its replicas. What the files say
 * never changes with a promotion: every server starts read-only, and which one is writable is run
 * time state that `megaweb-mysql-replication` (installed here) grants and moves. So provisioning
 * can re-apply these files after a failover without pointing anything back at the old primary.
 *
 * The replication settings are a conf.d file of their own (62-…), loaded after MariaDB's listening
 * (60-megaweb.cnf) and sizing (61-megaweb-sizing.cnf) files, which know nothing of replication.
 */

/** A MariaDB server as its peers reach it. */
export interface MysqlServer {
  readonly host: string;
  /** @default 3306 */
  readonly port?: number;
}

export interface MysqlReplicationInput {
  /** Every server of the cluster in the plan's order; the first is the primary a new cluster starts with. */
  readonly servers: readonly MysqlServer[];
  /** This server's place in `servers` (0-based); its server_id is one more. */
  readonly index: number;
  /** The replication user's password, or its placeholder when the step is rendered for a preview. */
  readonly password: string;
  /**
   * Client options by which root reaches the local server: root's unix socket on a host.
   * @default ["--protocol=socket"]
   */
  readonly localAdmin?: readonly string[];
  /** Directory the file tree hangs from: empty on a host, a scratch directory in tests. @default "" */
  readonly root?: string;
}

export interface MysqlReplicationFiles {
  /** server_id, binary log, semi-sync, read_only: read at start, so a change restarts MariaDB. */
  readonly serverConfig: HostFile;
  /** The servers' addresses, for the tool. */
  readonly settings: HostFile;
  /** The replication user's password as a client option file (root only). */
  readonly credentials: HostFile;
  /** `megaweb-mysql-replication`: status, setup, resume, promote. */
  readonly tool: HostFile;
  /** Runs `megaweb-mysql-replication resume` after every start of MariaDB. */
  readonly dropIn: HostFile;
}

export const replicationUser = "megaweb_replication";
export const replicationTool = "/usr/local/sbin/megaweb-mysql-replication";
const defaultPort = 3306;

/** The settings whose values are decisions rather than facts, with why they are what they are. */
export const replicationTuning = {
  /** Long enough for a replica rebuilt within a week to catch up from the binary log. */
  binlogExpireSeconds: 7 * 24 * 3600,
  /** A day: in practice "wait for a replica", see 62-megaweb-replication.cnf. */
  semiSyncTimeoutMs: 24 * 3600 * 1000,
  replicaNetTimeoutSeconds: 10,
} as const;

export const serverAddress = (server: MysqlServer) => `${server.host}:${server.port ?? defaultPort}`;

export function renderMysqlReplication(input: MysqlReplicationInput): MysqlReplicationFiles {
  const root = input.root ?? "";
  const self = input.servers[input.index];
  if (self === undefined) throw new Error(`server ${input.index} is not among the ${input.servers.length} servers`);
  const paths = {
    serverConfig: `${root}/etc/mysql/mariadb.conf.d/62-megaweb-replication.cnf`,
    settings: `${root}/etc/megaweb/mysql-replication.conf`,
    credentials: `${root}/etc/mysql/megaweb-replication.cnf`,
    tool: `${root}${replicationTool}`,
    dropIn: `${root}/etc/systemd/system/mariadb.service.d/megaweb-replication.conf`,
  };
  return {
    serverConfig: {
      path: paths.serverConfig,
      content: renderTemplate("mariadb/62-megaweb-replication.cnf", {
        serverCount: input.servers.length,
        serverId: input.index + 1,
        reportHost: self.host,
        ...replicationTuning,
      }),
    },
    settings: {
      path: paths.settings,
      content: renderTemplate("mariadb/mysql-replication.conf", {
        servers: input.servers.map(serverAddress).join(" "),
        self: serverAddress(self),
        replicationUser,
        credentialsFile: paths.credentials,
        localAdmin: (input.localAdmin ?? ["--protocol=socket"]).join(" "),
      }),
    },
    credentials: {
      path: paths.credentials,
      content: renderTemplate("mariadb/megaweb-replication-credentials.cnf", { replicationUser, password: input.password }),
      mode: "0600",
      secret: true,
    },
    tool: { path: paths.tool, content: renderTemplate("mariadb/megaweb-mysql-replication", { settingsFile: paths.settings }), mode: "0755" },
    dropIn: { path: paths.dropIn, content: renderTemplate("mariadb/mariadb-service-replication.conf", { tool: paths.tool }) },
  };
}

/**
 * The provisioning step's script body: the files (written by `writeFiles`, the step plan's
 * `putFiles`), the password file from stdin, a restart only when the server's settings changed,
 * then `megaweb-mysql-replication setup`.
 */
export function renderMysqlReplicationStep(files: MysqlReplicationFiles, writeFiles: (files: readonly HostFile[]) => string): string {
  return renderTemplate("provision/mysql-replication.sh", {
    files: writeFiles([files.serverConfig, files.settings, files.tool, files.dropIn]),
    credentialsFile: files.credentials.path,
    serverConfig: files.serverConfig.path,
    dropIn: files.dropIn.path,
    tool: files.tool.path,
  });
}
