import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { renderMysqlReplication, renderMysqlReplicationStep, type MysqlReplicationFiles, type MysqlServer } from "../../lib/render/mariadb-replication";
import { renderTemplate } from "../../lib/render/template";
import { putFiles } from "../../lib/steps/script";
import { hostCommands } from "../daemons/host-commands";
import { scratchRoot, writeHostFile } from "../daemons/harness";

/**
 * MariaDB servers on loopback that run exactly the rendered replication files: each has its own
 * file tree (the rendered conf.d files included by the server's my.cnf), is started and restarted
 * the way its unit would be (the rendered drop-in's ExecStartPost included), and is provisioned by
 * the rendered step script with the shared helpers, `systemctl` standing in for systemd.
 */

export interface ClusterServer {
  readonly index: number;
  readonly port: number;
  readonly root: string;
  readonly files: MysqlReplicationFiles;
  /** Starts mariadbd as its unit would. */
  readonly startScript: string;
  /** root over the server's socket. */
  readonly rootConnection: () => Promise<mysql.Connection>;
  pid(): number | undefined;
}

const template = join(tmpdir(), `megaweb-ha-mariadb-${mariadbVersion()}`);

function mariadbVersion(): string {
  return spawnSync("mariadbd", ["--version"], { encoding: "utf8" })
    .stdout.replace(/[^A-Za-z0-9.]+/g, "_")
    .slice(0, 80);
}

/** System tables made once per machine (5 s) and copied per server, without a binary log so no server starts with a history. */
function dataTemplate(): string {
  if (existsSync(join(template, "mysql", "global_priv.frm"))) return template;
  const building = mkdtempSync(`${template}-building-`);
  const result = spawnSync(
    "mariadb-install-db",
    ["--no-defaults", `--datadir=${building}`, "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-log-bin"],
    { encoding: "utf8" },
  );
  if (result.status !== 0) throw new Error(`mariadb-install-db failed:\n${result.stdout}\n${result.stderr}`);
  try {
    renameSync(building, template);
  } catch {
    rmSync(building, { recursive: true, force: true });
  }
  return template;
}

/**
 * What systemd does for mariadb.service: start, wait until the server answers, then the rendered
 * drop-in's ExecStartPost (read when the unit starts, as systemd would after a daemon-reload).
 */
function writeStartScript(root: string, dropIn: string): string {
  const path = join(root, "start-mariadb.sh");
  writeFileSync(
    path,
    [
      // Started by systemd, the server would hold none of the step's descriptors (its lock on fd 9).
      `mariadbd --defaults-file=${root}/etc/mysql/my.cnf </dev/null >/dev/null 2>&1 9>&- &`,
      `for _ in $(seq 1 300); do mariadb-admin --defaults-extra-file=${root}/root.cnf ping >/dev/null 2>&1 && break; sleep 0.1; done`,
      `post=$(sed -n 's/^ExecStartPost=-//p' ${dropIn} 2>/dev/null || true)`,
      `if [ -n "$post" ]; then $post >>${root}/exec-start-post.log 2>&1 || true; fi`,
      "",
    ].join("\n"),
  );
  return path;
}

export class MariaDbCluster {
  readonly servers: ClusterServer[] = [];

  static async start(ports: readonly number[], password: string): Promise<MariaDbCluster> {
    const cluster = new MariaDbCluster();
    const data = dataTemplate();
    const members: MysqlServer[] = ports.map((port) => ({ host: "127.0.0.1", port }));
    for (const [index, port] of ports.entries()) {
      const root = scratchRoot(`mariadb-${index + 1}`);
      for (const dir of ["run/mysqld", "var/log/mysql", "etc/mysql/mariadb.conf.d"]) mkdirSync(join(root, dir), { recursive: true });
      cpSync(data, join(root, "var/lib/mysql"), { recursive: true });
      writeFileSync(
        join(root, "etc/mysql/my.cnf"),
        [
          "[mysqld]",
          "user = root",
          `datadir = ${root}/var/lib/mysql`,
          `port = ${port}`,
          `socket = ${root}/run/mysqld/mysqld.sock`,
          `pid-file = ${root}/run/mysqld/mysqld.pid`,
          `log-error = ${root}/var/log/mysql/error.log`,
          "innodb_buffer_pool_size = 64M",
          `!includedir ${root}/etc/mysql/mariadb.conf.d/`,
          "",
        ].join("\n"),
      );
      // The listening file provisioning's MySQL step writes; replication's file is loaded after it.
      writeHostFile(join(root, "etc/mysql/mariadb.conf.d/60-megaweb.cnf"), renderTemplate("mariadb/60-megaweb.cnf", { bindAddress: "127.0.0.1" }));
      writeFileSync(join(root, "root.cnf"), `[client]\nuser = root\nsocket = ${root}/run/mysqld/mysqld.sock\n`);
      const files = renderMysqlReplication({ servers: members, index, password, root, localAdmin: [`--defaults-extra-file=${root}/root.cnf`] });
      const pidFile = join(root, "run/mysqld/mysqld.pid");
      const startScript = writeStartScript(root, files.dropIn.path);
      cluster.servers.push({
        index,
        port,
        root,
        files,
        startScript,
        rootConnection: () => mysql.createConnection({ socketPath: join(root, "run/mysqld/mysqld.sock"), user: "root" }),
        pid: () => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : undefined),
      });
    }
    await Promise.all(cluster.servers.map((server) => cluster.startServer(server)));
    return cluster;
  }

  /** Starts the server as its unit would (through the stand-in's start command) and waits until it answers. */
  async startServer(server: ClusterServer): Promise<void> {
    await run("bash", [server.startScript]);
    if (server.pid() === undefined)
      throw new Error(`mariadbd ${server.index + 1} did not start:\n${readFileSync(join(server.root, "var/log/mysql/error.log"), "utf8").slice(-3000)}`);
  }

  /** The rendered provisioning step, run on the server's tree with the password on stdin; returns its output. */
  async runStep(server: ClusterServer): Promise<string> {
    const commands = hostCommands(server.root, { mariadb: { pidFile: join(server.root, "run/mysqld/mysqld.pid"), start: `bash ${server.startScript}` } });
    const script = [renderTemplate("provision/lib.sh", {}), renderMysqlReplicationStep(server.files, putFiles)].join("\n");
    const result = await run("bash", ["-c", script], { input: server.files.credentials.content, env: commands.env });
    if (result.status !== 0) throw new Error(`the replication step failed on server ${server.index + 1} (exit ${result.status}):\n${result.output}`);
    return result.output;
  }

  /** `megaweb-mysql-replication ARGS` on the server's host; the event loop keeps turning meanwhile (a load may be running). */
  tool(server: ClusterServer, ...args: string[]): Promise<{ status: number; output: string }> {
    return run("bash", [server.files.tool.path, ...args]);
  }

  /** Stops the server: SIGTERM like `systemctl stop`, or SIGKILL for a crash. */
  async stopServer(server: ClusterServer, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const pid = server.pid();
    if (pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    for (let waited = 0; waited < 60_000; waited += 50) {
      try {
        process.kill(pid, 0);
      } catch {
        rmSync(join(server.root, "run/mysqld/mysqld.pid"), { force: true });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`mariadbd ${server.index + 1} (pid ${pid}) did not exit after ${signal}`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((server) => this.stopServer(server, "SIGTERM").catch(() => this.stopServer(server, "SIGKILL"))));
    for (const server of this.servers) rmSync(server.root, { recursive: true, force: true });
  }
}

/** Runs a command to its end (at most 3 minutes) without blocking the event loop. */
function run(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ status: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], env: options.env });
    child.stdin.end(options.input ?? "");
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, output });
    });
  });
}

/** One query on a fresh root connection, closed afterwards. */
export async function query<T = mysql.RowDataPacket[]>(server: ClusterServer, sql: string, values?: unknown[]): Promise<T> {
  const connection = await server.rootConnection();
  try {
    const [rows] = await connection.query(sql, values);
    return rows as T;
  } finally {
    await connection.end();
  }
}

/** read_only of every server (undefined where the server does not answer), asked with a short timeout. */
export async function readOnlyStates(cluster: MariaDbCluster): Promise<(number | undefined)[]> {
  return Promise.all(
    cluster.servers.map(async (server) => {
      try {
        const connection = await mysql.createConnection({ socketPath: join(server.root, "run/mysqld/mysqld.sock"), user: "root", connectTimeout: 1000 });
        try {
          const [[row]] = await connection.query<mysql.RowDataPacket[]>("SELECT @@read_only AS readOnly");
          return Number(row!.readOnly);
        } finally {
          connection.destroy();
        }
      } catch {
        return undefined;
      }
    }),
  );
}
