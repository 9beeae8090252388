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
  return spawnSync("mariadbd", ["--version"], { encoding: "utf8" }).stdout.replace(/[^A-Za-z0-9.]+/g, "_").slice(0, 80);
}

export interface MariaDbOptions {
  bufferPoolMb?: number;
  /** 1 = durable like production; 2 trades the last second on a crash for test speed. */
  flushLogAtTrxCommit?: 1 | 2;
}

function serverArgs(dataDir: string, options: MariaDbOptions): string[] {
  return [
    "--no-defaults",
    `--datadir=${dataDir}`,
    "--user=root",
    `--innodb-buffer-pool-size=${options.bufferPoolMb ?? 128}M`,
    "--innodb-log-file-size=256M",
    `--innodb-flush-log-at-trx-commit=${options.flushLogAtTrxCommit ?? 2}`,
    "--skip-log-bin",
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
  const result = spawnSync(
    "mariadb-install-db",
    [...serverArgs(building, options), "--auth-root-authentication-method=normal", "--skip-test-db"],
    { encoding: "utf8" },
  );
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
    stop: () => stopChild(child, directory),
  };
}

export async function startRedis(): Promise<RedisServer> {
  requireBinary("redis-server");
  const directory = mkdtempSync(path.join(os.tmpdir(), "megaweb-redis-"));
  const port = await freePort();
  const password = randomBytes(12).toString("hex");
  const logFile = path.join(directory, "redis.log");
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory,
      "--requirepass", password, "--logfile", logFile, "--daemonize", "no"],
    { stdio: "ignore" },
  );
  running.add(child);
  const url = `redis://:${password}@127.0.0.1:${port}`;
  await waitFor("redis-server", child, logFile, async () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.ping();
    } finally {
      client.disconnect();
    }
  });
  return { port, url, stop: () => stopChild(child, directory) };
}
