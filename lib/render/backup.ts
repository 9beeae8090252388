import { localSockets } from "../plan/cluster";
import type { Backups } from "../schema/backups";
import type { Site } from "../schema/site";
import type { SiteContext } from "./context";
import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * Backups with restic (Debian's): each host that holds data backs it up on a systemd timer into
 * its own encrypted repository, `<destination>/<host>`, so hosts never wait on each other's
 * repository locks and a replaced host with the same name finds its snapshots. One snapshot per
 * run holds the database dumps, the Redis RDB and the site files of that moment.
 *
 * Wiring into the step plan, per host holding data (single box: all; four-server and later: the
 * web hosts' files, the MySQL primary's databases, the Redis primary's RDB):
 * 1. `<host>-backup-password` (secret-only: stdin, `logging: "none"`): `megaweb:backupPassword`
 *    into `passwordFile` (0600); for s3 also `AWS_SECRET_ACCESS_KEY=<megaweb:backupS3SecretKey>`
 *    into `secretsFile` (0600).
 * 2. `<host>-backup` after its data steps: `renderBackupStep`; for SFTP it prints
 *    `megaweb-backup key: <public key>`.
 * 3. for SFTP to the stack's backup host, `<backup>-backup-client-<host>` on the backup host with that
 *    key: account `megaweb-backup`, `restrict` key in its authorized_keys, sshd
 *    `Match User megaweb-backup` with `ForceCommand internal-sftp`, and `<path>/<host>` owned by it;
 *    the backup host's ed25519 host key (read by its facts step) is this render's `hostKey`.
 */

export interface BackupSite {
  readonly domain: string;
  /** The site's database when this host holds it. */
  readonly database?: string;
  /** Directories of the site's files when this host holds them. */
  readonly paths: readonly string[];
  /** Under `paths`: rebuilt or transient, so neither saved nor touched by a restore. */
  readonly excludes: readonly string[];
}

export interface BackupHost {
  /** The plan's host name: the repository's name and the snapshots' host. */
  readonly name: string;
  /** As for web hosts, the directory the host's tree hangs from; empty on a server. @default "" */
  readonly root?: string;
  readonly backups: Backups;
  /** For an SFTP destination without `host`: the stack's backup host as this host reaches it. */
  readonly backupHost?: { readonly address: string; readonly hostKey: string };
  readonly sites: readonly BackupSite[];
  /** The app's database, when this host holds it. */
  readonly appDatabase?: string;
  /** MariaDB's socket, when this host holds databases. @default "/run/mysqld/mysqld.sock" */
  readonly mariadbSocket?: string;
  /**
   * Redis on this host's loopback, when it holds Redis; its password is in `/etc/redis/megaweb.d/secrets.conf`.
   * A restore copies the snapshot's keys into the running primary (this server, or the one it
   * follows after a failover), so it needs no data file or owner of the server's.
   */
  readonly redis?: { readonly port: number };
}

export interface BackupRender {
  readonly files: readonly HostFile[];
  /** Where the secret-only step writes the repository password. */
  readonly passwordFile: string;
  /** Where the secret-only step writes `AWS_SECRET_ACCESS_KEY=…` for an s3 destination. */
  readonly secretsFile?: string;
  /** The host's own SSH key for SFTP, made by the backup step. */
  readonly identityFile?: string;
  readonly backupScript: string;
  readonly restoreScript: string;
  readonly lastSuccess: string;
}

/** What of each site a host holds: its files (web hosts), its database (the MySQL primary), or both (the single box). */
export function backupSites(sites: readonly Site[], contexts: readonly SiteContext[], holds: { files: boolean; databases: boolean }): BackupSite[] {
  return sites.map((site, index) => {
    const context = contexts[index]!;
    const separateRoot = !context.documentRoot.startsWith(`${context.home}/`);
    return {
      domain: site.domain,
      database: holds.databases && site.database !== undefined ? (site.database.name ?? context.slug) : undefined,
      paths: holds.files ? [context.home, ...(separateRoot ? [context.documentRoot] : [])] : [],
      excludes: holds.files ? ["logs", "sessions", "tmp"].map((directory) => `${context.home}/${directory}`) : [],
    };
  });
}

const shellWord = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** Where the secret-only steps write a host's backup secrets; they need nothing else of the render. */
export function backupSecretFiles(root = ""): { passwordFile: string; secretsFile: string } {
  const configDir = `${root.replace(/\/$/, "")}/etc/megaweb/backup`;
  return { passwordFile: `${configDir}/restic-password`, secretsFile: `${configDir}/s3.env` };
}

export function renderBackupHost(host: BackupHost): BackupRender {
  const root = (host.root ?? "").replace(/\/$/, "");
  const path = (absolute: string) => `${root}${absolute}`;
  const configDir = path("/etc/megaweb/backup");
  const { destination, retention } = host.backups;
  const sites = host.sites.filter((site) => site.database !== undefined || site.paths.length > 0);
  const databases = [...sites.flatMap((site) => site.database ?? []), ...(host.appDatabase === undefined ? [] : [host.appDatabase])];
  const files = {
    config: `${configDir}/backup.conf`,
    sshConfig: `${configDir}/ssh_config`,
    knownHosts: `${configDir}/known_hosts`,
    identityFile: `${configDir}/id_ed25519`,
    ...backupSecretFiles(root),
    backupScript: path("/usr/local/sbin/megaweb-backup"),
    restoreScript: path("/usr/local/sbin/megaweb-restore"),
    lastSuccess: path("/var/lib/megaweb/backup/last-success"),
  };

  let sftp: false | { host: string; port: number; user: string; hostKey: string } = false;
  let repository: string;
  if (destination.kind === "sftp") {
    const server = destination.host !== undefined ? { address: destination.host, hostKey: destination.hostKey! } : host.backupHost;
    if (server === undefined) throw new Error(`${host.name}: backups go to the stack's backup host, but none was given`);
    sftp = { host: server.address, port: destination.port, user: destination.user, hostKey: server.hostKey };
    repository = `sftp:megaweb-backup:${destination.path}/${host.name}`;
  } else {
    repository = `s3:${destination.endpoint}/${destination.bucket}/${destination.prefix}/${host.name}`;
  }
  const keep = Object.entries(retention).flatMap(([period, count]) => (count > 0 ? [`--keep-${period} ${count}`] : []));

  const view = {
    hostName: host.name,
    repository,
    ...files,
    cacheDir: path("/var/cache/megaweb/restic"),
    staging: path("/var/lib/megaweb/backup/staging"),
    s3: destination.kind === "s3" && { accessKeyId: destination.accessKeyId },
    sftp,
    retention: keep.join(" "),
    mariadbSocket: databases.length > 0 ? (host.mariadbSocket ?? path(localSockets.mysql)) : "",
    databases: databases.join(" "),
    appDatabase: host.appDatabase ?? "",
    redisPort: host.redis?.port ?? "",
    redisSecrets: host.redis === undefined ? "" : path("/etc/redis/megaweb.d/secrets.conf"),
    sites: sites.map((site) => ({ domain: site.domain, database: site.database ?? "''", paths: site.paths.join(" ") })),
    excludes: sites
      .flatMap((site) => site.excludes)
      .map(shellWord)
      .join(" "),
    schedule: host.backups.schedule,
    script: files.backupScript,
  };
  const knownHost = sftp && `${sftp.port === 22 ? sftp.host : `[${sftp.host}]:${sftp.port}`} ${sftp.hostKey.split(" ").slice(0, 2).join(" ")}`;
  return {
    files: [
      { path: files.config, content: renderTemplate("backup/backup.conf", view), mode: "0600" },
      ...(sftp
        ? [
            { path: files.sshConfig, content: renderTemplate("backup/ssh_config", { ...view, ...sftp }) },
            { path: files.knownHosts, content: `${knownHost}\n` },
          ]
        : []),
      { path: files.backupScript, content: renderTemplate("backup/megaweb-backup.sh", view), mode: "0700" },
      { path: files.restoreScript, content: renderTemplate("backup/megaweb-restore.sh", view), mode: "0700" },
      { path: path("/etc/systemd/system/megaweb-backup.service"), content: renderTemplate("systemd/megaweb-backup.service", view) },
      { path: path("/etc/systemd/system/megaweb-backup.timer"), content: renderTemplate("systemd/megaweb-backup.timer", view) },
    ],
    passwordFile: files.passwordFile,
    secretsFile: destination.kind === "s3" ? files.secretsFile : undefined,
    identityFile: sftp ? files.identityFile : undefined,
    backupScript: files.backupScript,
    restoreScript: files.restoreScript,
    lastSuccess: files.lastSuccess,
  };
}

/**
 * The body of the host's backup step (`templates/provision/backup.sh`), to run after the shared
 * provisioning helpers; `writeFiles` renders `put_file` calls, as the other steps write files.
 */
export function renderBackupStep(render: BackupRender, hostName: string, writeFiles: (files: readonly HostFile[]) => string): string {
  const configDir = render.passwordFile.slice(0, render.passwordFile.lastIndexOf("/"));
  return renderTemplate("provision/backup.sh", {
    hostName,
    configDir,
    passwordFile: render.passwordFile,
    identityFile: render.identityFile ?? false,
    files: writeFiles(render.files),
  });
}

/** The stack's backup host: the SFTP account the hosts' restic reaches their repositories as. */
export interface BackupServerRender {
  readonly user: string;
  /** Holds `<path>/<host>`, one repository per host. */
  readonly path: string;
  readonly sshd: HostFile;
  /** One `restrict` key per host, `<clientsDir>/<host>.pub`, joined into `authorizedKeys`. */
  readonly clientsDir: string;
  readonly authorizedKeys: string;
}

export function renderBackupServer(destination: { readonly user: string; readonly path: string }): BackupServerRender {
  const clientsDir = "/etc/megaweb/backup-clients";
  const authorizedKeys = `/etc/ssh/megaweb-backup-authorized_keys`;
  return {
    user: destination.user,
    path: destination.path,
    sshd: {
      path: "/etc/ssh/sshd_config.d/60-megaweb-backup.conf",
      content: renderTemplate("sshd/60-megaweb-backup.conf", { user: destination.user, authorizedKeys }),
    },
    clientsDir,
    authorizedKeys,
  };
}

/** A host's key as the backup host lists it: SFTP into its account, nothing else (`restrict` forbids forwarding, a TTY and ~/.ssh/rc). */
export function backupClientKey(server: BackupServerRender, client: string, publicKey: string): HostFile {
  return { path: `${server.clientsDir}/${client}.pub`, content: `restrict ${publicKey.split(" ").slice(0, 2).join(" ")} megaweb-backup@${client}\n` };
}
