import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import mysql from "mysql2/promise";
import Redis from "ioredis";

/**
 * Private MariaDB and Redis servers on loopback for one test file (one process), in a temp dir,
 * stopped by PID when the file is done. The MariaDB system tables are made once per machine and
 * copied, which turns a 5 s mariadb-install-db into a 0.1 s copy for every later file.
 */

export interface MariaDbServer {
  port: number;
  rootUrl: string;
  /** mysql://megaweb:…@127.0.0.1:port/<database> for a fresh database. */
  createDatabase(name: string): Promise<string>;
  /** The app user's URL for a database that exists already (a replica's copy). */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

export interface RedisServer {
  port: number;
  url: string;
  stop(): Promise<void>;
}

const CACHE = path.join(os.tmpdir(), "megaweb-app-test-cache");
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function requireBinary(name: string): void {
  if (spawnSync("sh", ["-c", `command -v ${name}`]).status !== 0) {
    throw new Error(`${name} is not installed: run bash scripts/setup/00-apt.sh (scripts/setup/packages/app.txt lists it)`);
  }
}

function mariadbVersion(): string {
  return spawnSync("mariadbd", ["--version"], { encoding: "utf8" })
    .stdout.replace(/[^A-Za-z0-9.]+/g, "_")
    .slice(0, 80);
}

export interface MariaDbOptions {
  bufferPoolMb?: number;
  /** 1 = durable like production; 2 trades the last second on a crash for test speed. */
  flushLogAtTrxCommit?: 1 | 2;
  /** Gives the server a binary log and this id, so another server can replicate from it. */
  serverId?: number;
}

function serverArgs(dataDir: string, options: MariaDbOptions): string[] {
  return [
    "--no-defaults",
    `--datadir=${dataDir}`,
    "--user=root",
    `--innodb-buffer-pool-size=${options.bufferPoolMb ?? 128}M`,
    "--innodb-log-file-size=256M",
    `--innodb-flush-log-at-trx-commit=${options.flushLogAtTrxCommit ?? 2}`,
    ...(options.serverId ? [`--server-id=${options.serverId}`, "--log-bin=mariadb-bin", "--binlog-format=ROW"] : ["--skip-log-bin"]),
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
  ];
}

function templateDir(options: MariaDbOptions): string {
  const template = path.join(CACHE, `mariadb-${mariadbVersion()}`);
  if (existsSync(path.join(template, "mysql", "user.frm")) || existsSync(path.join(template, "mysql", "global_priv.frm"))) {
    return template;
  }
  mkdirSync(CACHE, { recursive: true });
  const building = mkdtempSync(path.join(CACHE, "mariadb-building-"));
  const result = spawnSync("mariadb-install-db", [...serverArgs(building, options), "--auth-root-authentication-method=normal", "--skip-test-db"], {
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`mariadb-install-db failed:\n${result.stdout}\n${result.stderr}`);
  try {
    renameSync(building, template);
  } catch {
    // Another test file built it first; theirs is as good as ours.
    rmSync(building, { recursive: true, force: true });
  }
  return template;
}

async function waitFor(what: string, child: ChildProcess, logFile: string, attempt: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`${what} exited with ${child.exitCode}:\n${existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-3000) : ""}`);
    }
    try {
      await attempt();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what} did not answer within 60 s: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function stopChild(child: ChildProcess, directory: string): Promise<void> {
  if (child.exitCode === null && child.pid) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(child.pid, "SIGTERM");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    if (child.exitCode === null) process.kill(child.pid, "SIGKILL");
  }
  running.delete(child);
  rmSync(directory, { recursive: true, force: true });
}

export async function startMariaDb(options: MariaDbOptions = {}): Promise<MariaDbServer> {
  requireBinary("mariadbd");
  requireBinary("mariadb-install-db");
  const template = templateDir(options);
  const directory = mkdtempSync(path.join(os.tmpdir(), "megaweb-mariadb-"));
  const dataDir = path.join(directory, "data");
  cpSync(template, dataDir, { recursive: true });
  const port = await freePort();
  const rootPassword = randomBytes(12).toString("hex");
  const appPassword = randomBytes(12).toString("hex");
  const initFile = path.join(directory, "init.sql");
  writeFileSync(
    initFile,
    [
      `ALTER USER 'root'@'localhost' IDENTIFIED BY '${rootPassword}';`,
      `CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY '${rootPassword}';`,
      `GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;`,
      `CREATE OR REPLACE USER 'megaweb'@'127.0.0.1' IDENTIFIED BY '${appPassword}';`,
      // Health reads replica lag, which takes this privilege on MariaDB.
      `GRANT REPLICA MONITOR ON *.* TO 'megaweb'@'127.0.0.1';`,
      "",
    ].join("\n"),
  );
  const logFile = path.join(directory, "error.log");
  const child = spawn(
    "mariadbd",
    [
      ...serverArgs(dataDir, options),
      "--bind-address=127.0.0.1",
      `--port=${port}`,
      `--socket=${path.join(directory, "mysqld.sock")}`,
      `--pid-file=${path.join(directory, "mysqld.pid")}`,
      `--log-error=${logFile}`,
      `--init-file=${initFile}`,
      "--skip-name-resolve",
      "--local-infile=1",
      "--max-connections=500",
    ],
    { stdio: "ignore" },
  );
  running.add(child);
  const rootUrl = `mysql://root:${rootPassword}@127.0.0.1:${port}`;
  await waitFor("mariadbd", child, logFile, async () => {
    const connection = await mysql.createConnection({ uri: rootUrl });
    await connection.end();
  });
  return {
    port,
    rootUrl,
    async createDatabase(name) {
      const connection = await mysql.createConnection({ uri: rootUrl });
      await connection.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
      await connection.query(`GRANT ALL PRIVILEGES ON \`${name}\`.* TO 'megaweb'@'127.0.0.1'`);
      await connection.end();
      return `mysql://megaweb:${appPassword}@127.0.0.1:${port}/${name}`;
    },
    urlFor: (database) => `mysql://megaweb:${appPassword}@127.0.0.1:${port}/${database}`,
    stop: () => stopChild(child, directory),
  };
}

export interface RedisOptions {
  /** Shared by a master and its replicas so either can serve after a failover. */
  password?: string;
  replicaOf?: RedisServer;
}

async function startRedisProcess(what: string, args: string[], directory: string, url: string): Promise<ChildProcess> {
  const logFile = path.join(directory, `${what}.log`);
  const child = spawn("redis-server", [...args, "--logfile", logFile], { stdio: "ignore" });
  running.add(child);
  await waitFor(what, child, logFile, async () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.ping();
    } finally {
      client.disconnect();
    }
  });
  return child;
}

/**
 * Makes `replica` follow `primary` from the primary's current position (GTID), so what each server's
 * own start-up made (its users) stays its own and everything after replicates.
 */
export async function replicate(primary: MariaDbServer, replica: MariaDbServer): Promise<void> {
  const source = await mysql.createConnection({ uri: primary.rootUrl });
  const password = randomBytes(12).toString("hex");
  await source.query("SET sql_log_bin = 0");
  await source.query(`CREATE OR REPLACE USER 'replicator'@'127.0.0.1' IDENTIFIED BY '${password}'`);
  await source.query("GRANT REPLICATION SLAVE ON *.* TO 'replicator'@'127.0.0.1'");
  const [[position]] = await source.query<mysql.RowDataPacket[]>("SELECT @@gtid_binlog_pos AS gtid");
  await source.end();
  const target = await mysql.createConnection({ uri: replica.rootUrl });
  await target.query("SET GLOBAL gtid_slave_pos = ?", [position.gtid]);
  await target.query(
    `CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${primary.port}, MASTER_USER = 'replicator',
     MASTER_PASSWORD = '${password}', MASTER_USE_GTID = slave_pos`,
  );
  await target.query("START SLAVE");
  await target.end();
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer & { password: string }> {
  requireBinary("redis-server");
  const directory = mkdtempSync(path.join(os.tmpdir(), "megaweb-redis-"));
  const port = await freePort();
  const password = options.password ?? randomBytes(12).toString("hex");
  const url = `redis://:${password}@127.0.0.1:${port}`;
  const replication = options.replicaOf ? ["--replicaof", "127.0.0.1", String(options.replicaOf.port), "--masterauth", password] : [];
  const child = await startRedisProcess(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      directory,
      "--requirepass",
      password,
      "--masterauth",
      password,
      "--daemonize",
      "no",
      ...replication,
    ],
    directory,
    url,
  );
  return { port, url, password, stop: () => stopChild(child, directory) };
}

/** A Sentinel watching `master` as "mymaster"; with one Sentinel the quorum is 1. */
export async function startSentinel(master: RedisServer & { password: string }): Promise<RedisServer> {
  const directory = mkdtempSync(path.join(os.tmpdir(), "megaweb-sentinel-"));
  const port = await freePort();
  const config = path.join(directory, "sentinel.conf");
  // Sentinel rewrites its own config file as it learns the topology, so it gets a writable copy.
  writeFileSync(
    config,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${directory}`,
      `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
      `sentinel auth-pass mymaster ${master.password}`,
      "sentinel down-after-milliseconds mymaster 1000",
      "sentinel failover-timeout mymaster 5000",
      "",
    ].join("\n"),
  );
  const child = await startRedisProcess("redis-sentinel", [config, "--sentinel"], directory, `redis://127.0.0.1:${port}`);
  return { port, url: `redis://127.0.0.1:${port}`, stop: () => stopChild(child, directory) };
}
