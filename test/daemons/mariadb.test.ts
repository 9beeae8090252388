import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planTopology } from "../../lib/plan/topology";
import { onlineSizing, sizeMariaDb } from "../../lib/render/mariadb";
import { parseStack, type StackInput } from "../../lib/schema/stack";
import { planSteps } from "../../lib/steps/plan";
import { plannedFacts } from "../../lib/steps/planned-facts";
import { freePort } from "./harness";

/**
 * MariaDB started by the real mariadbd with the files the MySQL step renders (MariaDB 10.11 has no
 * --validate-config: starting it is the check), on loopback in a scratch data directory, stopped
 * by its PID. The four-server phase is the case: a 2 GB MySQL host of its own, one web host.
 */

const hosts = {
  web: [{ address: "198.18.0.2" }],
  redis: [{ address: "198.18.0.3" }],
  // Other hosts reach MySQL at its private address; here that is loopback, so it can listen on it.
  mysql: [{ address: "198.18.0.4", privateAddress: "127.0.0.1" }],
  worker: [{ address: "198.18.0.5" }],
};
const shop = { domain: "shop.megaweb.test", database: {}, php: { memoryLimit: "128M" }, pool: { maxChildren: 6 } };

/** The MySQL step's files for a four-server stack of existing hosts, at the planned 2 GB. */
function mysqlFiles(input: Partial<StackInput> = {}) {
  const stack = parseStack({ phase: "four-server", target: "existing", hosts, sites: [shop], app: { domain: "orchestrator.megaweb.test" }, ...input });
  const plan = planSteps(stack, planTopology(stack));
  const step = plan.steps.find((each) => each.name === "mysql-1-mysql");
  if (step?.kind !== "command") throw new Error("no MySQL step");
  return step.render(plannedFacts(plan)).files;
}

let dir: string;
let server: ChildProcess | undefined;
let socket: string;

/** Runs SQL through the server's socket as root and returns the rows, tab-separated. */
function sql(statement: string): string {
  return execFileSync("mariadb", ["--no-defaults", `--socket=${socket}`, "-u", "root", "-N", "-e", statement], { encoding: "utf8" }).trim();
}
const variable = (name: string) => sql(`SELECT @@GLOBAL.${name}`);

/** The rendered files as the server reads them, with the scratch directory's paths after them (later settings win). */
function writeDefaults(path: string, files: readonly { content: string }[], port: number): void {
  const scratch = [
    "[mysqld]",
    `datadir = ${dir}/data`,
    `socket = ${socket}`,
    `port = ${port}`,
    `pid-file = ${dir}/mariadbd.pid`,
    `log-error = ${dir}/error.log`,
  ];
  // The slow log's own place on a server is /var/log/mysql; the test keeps it in the scratch directory.
  writeFileSync(path, [...files.map((file) => file.content), [...scratch, `slow_query_log_file = ${dir}/slow.log`, ""].join("\n")].join("\n"));
}

async function start(defaults: string): Promise<{ exitCode: number | null; log: string }> {
  const child = spawn("mariadbd", [`--defaults-file=${defaults}`, "--user=root"], { stdio: "ignore" });
  server = child;
  for (let attempt = 0; attempt < 150; attempt++) {
    if (child.exitCode !== null) break;
    if (existsSync(socket)) {
      try {
        sql("SELECT 1");
        return { exitCode: null, log: "" };
      } catch {
        // Not accepting yet.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  return { exitCode: child.exitCode, log: existsSync(`${dir}/error.log`) ? readFileSync(`${dir}/error.log`, "utf8") : "" };
}

async function stop(): Promise<void> {
  if (server?.pid !== undefined && server.exitCode === null) {
    const exited = new Promise((resolve) => server!.once("exit", resolve));
    process.kill(server.pid, "SIGTERM");
    await exited;
  }
  server = undefined;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "megaweb-mariadb-sizing-"));
  socket = join(dir, "mariadbd.sock");
  mkdirSync(join(dir, "data"));
  execFileSync("mariadb-install-db", ["--no-defaults", `--datadir=${dir}/data`, "--user=root", "--skip-test-db", "--auth-root-authentication-method=socket"], {
    stdio: "ignore",
  });
}, 120_000);

afterAll(async () => {
  await stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("MariaDB as the MySQL step sizes it", () => {
  it("starts with the rendered files and runs at their figures", async () => {
    const defaults = join(dir, "rendered.cnf");
    writeDefaults(defaults, mysqlFiles(), await freePort());
    const started = await start(defaults);
    expect(started, started.log).toEqual({ exitCode: null, log: "" });
    // 2048 MB less the OS's 320; 6 PHP workers, the web and worker processes' pools of 10, 20 spare.
    expect({
      bufferPool: Number(variable("innodb_buffer_pool_size")) / 2 ** 20,
      logFile: Number(variable("innodb_log_file_size")) / 2 ** 20,
      maxConnections: Number(variable("max_connections")),
      slowLog: variable("slow_query_log"),
      longQueryTime: Number(variable("long_query_time")),
      bindAddress: variable("bind_address"),
      charset: variable("character_set_server"),
    }).toEqual({ bufferPool: 1152, logFile: 256, maxConnections: 46, slowLog: "1", longQueryTime: 2, bindAddress: "127.0.0.1", charset: "utf8mb4" });
  }, 60_000);

  it("takes a new size online: the statements the step runs on a sizing change need no restart", async () => {
    const uptime = Number(sql("SHOW GLOBAL STATUS LIKE 'Uptime'").split("\t")[1]);
    const grown = sizeMariaDb({ hostMemoryMb: 4096, dedicated: true, clientConnections: 60 });
    for (const statement of onlineSizing(grown)) sql(statement.replace("/var/log/mysql/mariadb-slow.log", `${dir}/slow.log`));
    // The buffer pool is resized by a background thread, in chunks.
    for (let attempt = 0; attempt < 100 && Number(variable("innodb_buffer_pool_size")) / 2 ** 20 !== grown.bufferPoolMb; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect({
      bufferPool: Number(variable("innodb_buffer_pool_size")) / 2 ** 20,
      logFile: Number(variable("innodb_log_file_size")) / 2 ** 20,
      maxConnections: Number(variable("max_connections")),
    }).toEqual({ bufferPool: grown.bufferPoolMb, logFile: grown.logFileMb, maxConnections: grown.maxConnections });
    expect(Number(sql("SHOW GLOBAL STATUS LIKE 'Uptime'").split("\t")[1])).toBeGreaterThanOrEqual(uptime);
    await stop();
  }, 60_000);

  it("refuses to start on a setting it does not know, so starting it is a real check", async () => {
    const defaults = join(dir, "broken.cnf");
    writeDefaults(defaults, [...mysqlFiles(), { content: "[mysqld]\ninnodb_bufer_pool_size = 1G\n" }], await freePort());
    const started = await start(defaults);
    expect(started.exitCode).not.toBeNull();
    expect(started.log).toContain("unknown variable 'innodb_bufer_pool_size=1G'");
  }, 60_000);
});

describe("MariaDB's figures at the phases' default sizes", () => {
  it("gives a shared single box its share and a host of its own all but the OS's reserve", () => {
    const size = (hostMemoryMb: number, dedicated: boolean, clientConnections: number) => {
      const { bufferPoolMb, logFileMb, maxConnections } = sizeMariaDb({ hostMemoryMb, dedicated, clientConnections });
      return { bufferPoolMb, logFileMb, maxConnections };
    };
    // single (2 GB, shared with PHP, Redis and the worker): a quarter of the RAM is MariaDB's.
    expect(size(2048, false, 9 + 20)).toEqual({ bufferPoolMb: 256, logFileMb: 64, maxConnections: 49 });
    // four-server (2 GB), horizontal (4 GB) and ha (8 GB) MySQL hosts of their own.
    expect(size(2048, true, 26)).toEqual({ bufferPoolMb: 1152, logFileMb: 256, maxConnections: 46 });
    expect(size(4096, true, 18 + 40)).toEqual({ bufferPoolMb: 2560, logFileMb: 640, maxConnections: 78 });
    expect(size(8192, true, 30 + 100 + 2)).toEqual({ bufferPoolMb: 5504, logFileMb: 1344, maxConnections: 152 });
  });
});
