import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { apacheModules } from "../../lib/render/apache";
import { type Daemon, startDaemon } from "./harness";

/**
 * Real Apache in an isolated config root: a copy of Debian's /etc/apache2 under the scratch root,
 * with the rendered files written in and enabled by Debian's own a2enmod/a2enconf/a2ensite
 * (pointed at the copy), exactly as provisioning does on a host.
 */

export interface ApacheRoot {
  readonly confDir: string;
  readonly env: NodeJS.ProcessEnv;
}

/** Debian's tree under `<root>/etc/apache2`, with state, run, lock and log dirs of its own. */
export function prepareApacheRoot(root: string): ApacheRoot {
  const confDir = join(root, "etc/apache2");
  // Once per root, and never over files already rendered into it (ports.conf).
  if (!existsSync(join(confDir, "apache2.conf"))) {
    cpSync("/etc/apache2", confDir, { recursive: true, force: false, verbatimSymlinks: true });
  }
  const env = {
    ...process.env,
    APACHE_CONFDIR: confDir,
    APACHE_STATE_DIRECTORY: join(root, "var/lib/apache2"),
    APACHE_RUN_USER: "www-data",
    APACHE_RUN_GROUP: "www-data",
    APACHE_PID_FILE: join(root, "run/apache2/apache2.pid"),
    APACHE_RUN_DIR: join(root, "run/apache2"),
    APACHE_LOCK_DIR: join(root, "run/lock/apache2"),
    APACHE_LOG_DIR: join(root, "var/log/apache2"),
    LANG: "C",
  };
  for (const dir of [env.APACHE_STATE_DIRECTORY, env.APACHE_RUN_DIR, env.APACHE_LOCK_DIR, env.APACHE_LOG_DIR]) {
    mkdirSync(dir, { recursive: true });
  }
  return { confDir, env };
}

/** What provisioning runs after writing the files, before its config test and reload. */
export function enableApacheSites(apache: ApacheRoot, slugs: readonly string[]): void {
  const run = (tool: string, ...args: string[]) => execFileSync(tool, ["-q", ...args], { env: apache.env, stdio: "pipe" });
  run("a2dissite", "000-default");
  run("a2enmod", ...apacheModules);
  run("a2enconf", "zz-megaweb");
  if (slugs.length > 0) run("a2ensite", ...slugs);
}

/** `apache2 -t` on the isolated root: exit status and Apache's own words (it writes them to stderr). */
export function apacheConfigTest(apache: ApacheRoot): { ok: boolean; output: string } {
  const result = spawnSync("apache2", ["-d", apache.confDir, "-f", "apache2.conf", "-t"], { env: apache.env, encoding: "utf8" });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

/** Apache in the foreground, ready once it accepts on `port`. */
export async function startApache(apache: ApacheRoot, port: number): Promise<Daemon> {
  const check = apacheConfigTest(apache);
  if (!check.ok) throw new Error(`apache2 -t refused the config:\n${check.output}`);
  return startDaemon(
    "apache2",
    ["-d", apache.confDir, "-f", "apache2.conf", "-DFOREGROUND"],
    { check: () => accepts(port), awaited: `not listening on ${port}` },
    apache.env,
  );
}

/** Waits for files a daemon creates once it is up, such as the pools' sockets. */
export async function waitForFiles(paths: readonly string[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!paths.every((path) => existsSync(path))) {
    if (Date.now() > deadline) throw new Error(`still missing after ${timeoutMs} ms: ${paths.filter((path) => !existsSync(path)).join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
