import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fillSecrets } from "../../lib/plan/cluster";
import type { WebHostRender } from "../../lib/render/files";
import { allFiles } from "../../lib/render/files";

/**
 * Runs the real Debian daemons on a rendered host tree: every file and directory the render
 * lists, written under a scratch root, with the daemons started on that root as the current
 * user (root) and stopped by their PIDs.
 */

export function scratchRoot(label: string): string {
  const root = mkdtempSync(join(tmpdir(), `megaweb-${label}-`));
  // Workers run as www-data and the site users; they must be able to walk into the tree.
  chmodSync(root, 0o755);
  return root;
}

/** A port free on loopback right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

/**
 * Creates the site accounts and directories and writes every file, with secret placeholders filled
 * from `secrets` (by secret name) as provisioning fills them; returns the accounts made here.
 */
export function materialize(render: WebHostRender, root: string, secrets: ReadonlyMap<string, string> = new Map()): string[] {
  const created: string[] = [];
  for (const site of render.sites) {
    if (!userExists(site.account.user)) {
      execFileSync("useradd", [
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        `/var/www/${site.slug}`,
        "--shell",
        "/usr/sbin/nologin",
        site.account.user,
      ]);
      created.push(site.account.user);
    }
  }
  for (const directory of [...render.hostDirectories, ...render.sites.flatMap((site) => site.directories)]) {
    mkdirSync(directory.path, { recursive: true });
    execFileSync("chown", [directory.owner, directory.path]);
    chmodSync(directory.path, Number.parseInt(directory.mode, 8));
  }
  for (const file of allFiles(render)) {
    if (!file.path.startsWith(`${root}/`)) throw new Error(`${file.path} lies outside the scratch root ${root}`);
    writeHostFile(file.path, file.secret ? fillSecrets(file.content, secrets) : file.content, file.mode ?? "0644", file.owner ?? "root:root");
  }
  return created;
}

export function writeHostFile(path: string, content: string, mode = "0644", owner = "root:root"): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  execFileSync("chown", [owner, path]);
  chmodSync(path, Number.parseInt(mode, 8));
}

export function removeUsers(users: readonly string[]): void {
  for (const user of users) execFileSync("userdel", [user]);
}

function userExists(user: string): boolean {
  try {
    execFileSync("id", ["-u", user], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Package-owned files the rendered nginx.conf includes, and the directories nginx expects. */
function prepareNginxRoot(root: string): void {
  for (const dir of ["var/lib/nginx/body", "var/log/nginx", "run", "etc/nginx/conf.d", "etc/nginx/modules-enabled"]) {
    mkdirSync(join(root, dir), { recursive: true });
  }
  copyFileSync("/etc/nginx/mime.types", join(root, "etc/nginx/mime.types"));
}

/** `nginx -t` on the rendered tree; throws with nginx's own output when the config is refused. */
export function nginxConfigTest(root: string): string {
  prepareNginxRoot(root);
  return checked("nginx", nginxArgs(root, ["-t"]));
}

/**
 * Which master runs the pools is provisioning's business; here one master per PHP version runs
 * every rendered pool of the tree, with its pid and log inside the tree.
 */
function writeFpmMaster(root: string, phpVersion: string): string {
  const path = join(root, `etc/php/${phpVersion}/fpm/test-master.conf`);
  mkdirSync(join(root, "run/php"), { recursive: true });
  mkdirSync(join(root, "var/log"), { recursive: true });
  writeHostFile(
    path,
    [
      "[global]",
      `pid = ${root}/run/php/php${phpVersion}-fpm.pid`,
      `error_log = ${root}/var/log/php${phpVersion}-fpm.log`,
      `include = ${root}/etc/php/${phpVersion}/fpm/pool.d/*.conf`,
      "",
    ].join("\n"),
  );
  return path;
}

export function fpmConfigTest(root: string, phpVersion: string): string {
  return checked(`php-fpm${phpVersion}`, ["-t", "-y", writeFpmMaster(root, phpVersion)]);
}

function nginxArgs(root: string, extra: string[]): string[] {
  // -e: nginx opens its compiled-in error log before reading the config unless told otherwise.
  return ["-p", `${root}/`, "-c", join(root, "etc/nginx/nginx.conf"), "-e", join(root, "var/log/nginx/error.log"), ...extra];
}

function checked(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} refused the config:\n${failure.stdout ?? ""}${failure.stderr ?? ""}`);
  }
}

export interface Daemon {
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startNginx(root: string): Promise<Daemon> {
  nginxConfigTest(root);
  return started("nginx", nginxArgs(root, ["-g", "daemon off;"]), join(root, "run/nginx.pid"));
}

export async function startFpm(root: string, phpVersion: string): Promise<Daemon> {
  fpmConfigTest(root, phpVersion);
  // The rendered FPM-wide ini sits in the scratch tree; PHP reads it next to Debian's own scan dir.
  const env = { ...process.env, PHP_INI_SCAN_DIR: `/etc/php/${phpVersion}/fpm/conf.d:${join(root, `etc/php/${phpVersion}/fpm/conf.d`)}` };
  return started(`php-fpm${phpVersion}`, ["--nodaemonize", "-y", writeFpmMaster(root, phpVersion)], join(root, `run/php/php${phpVersion}-fpm.pid`), env);
}

/** Starts a daemon in the foreground; it is ready once it has written its pid file, which both write after opening their listeners. */
async function started(command: string, args: string[], pidFile: string, env?: NodeJS.ProcessEnv): Promise<Daemon> {
  rmSync(pidFile, { force: true });
  return startDaemon(command, args, { check: () => existsSync(pidFile), awaited: `no ${pidFile}` }, env);
}

/**
 * Starts a daemon in the foreground of a child process, so its PID is the one to stop, and waits
 * up to 20 s for `ready` to say it serves; a daemon that exits or never gets ready fails the start.
 */
export async function startDaemon(
  command: string,
  args: string[],
  ready: { readonly check: () => boolean | Promise<boolean>; readonly awaited: string },
  env?: NodeJS.ProcessEnv,
): Promise<Daemon> {
  const child: ChildProcess = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env });
  let output = "";
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 20_000;
  // A check that never settles (a client stuck between connect and answer) must not outlive the
  // deadline: each is given what is left of it, and counts as "not yet" when it runs out.
  const bounded = () =>
    Promise.race([
      Promise.resolve(ready.check()),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), Math.max(deadline - Date.now(), 0) + 100).unref()),
    ]);
  while (!(await bounded())) {
    if (child.exitCode !== null || child.pid === undefined || Date.now() > deadline) {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
      throw new Error(`${command} did not come up (${ready.awaited}):\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid!;
  return {
    pid,
    async stop() {
      if (child.exitCode !== null) return;
      process.kill(pid, "SIGTERM");
      // A daemon may refuse SIGTERM (redis-server keeps running when its shutdown save fails); a
      // test's teardown must end all the same.
      const grace = setTimeout(() => child.exitCode === null && process.kill(pid, "SIGKILL"), 15_000);
      await exited;
      clearTimeout(grace);
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP request to loopback, from a chosen loopback source address. */
export function fetchFrom(options: {
  port: number;
  host: string;
  path?: string;
  method?: string;
  body?: Buffer | string;
  headers?: Record<string, string>;
  localAddress?: string;
}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: options.port,
        path: options.path ?? "/",
        method: options.method ?? "GET",
        localAddress: options.localAddress,
        headers: { Host: options.host, ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    // nginx answers 413 and closes before the whole body is sent: the answer still arrives, so a
    // reset only counts once the connection has closed without one.
    let failure: Error | undefined;
    req.on("error", (error) => (failure = error));
    req.on("close", () => reject(failure ?? new Error("connection closed without an answer")));
    req.end(options.body);
  });
}

export function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export function removeRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}
