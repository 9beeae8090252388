import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMariaDb, type MariaDbServer } from "../../app/test/support/backends";
import { putFiles } from "../../lib/steps/script";
import { backupSites, renderBackupHost, renderBackupStep, type BackupRender } from "../../lib/render/backup";
import { renderWebHost } from "../../lib/render/files";
import { resolveWebHost } from "../../lib/render/context";
import { renderTemplate } from "../../lib/render/template";
import { parseStack } from "../../lib/schema/stack";
import { LoopbackSshd } from "../engine/sshd";
import { freePort, materialize, removeRoot, removeUsers, scratchRoot, writeHostFile } from "./harness";
import { hostCommands, type HostCommands } from "./host-commands";

/**
 * Backups for real, on loopback: a private MariaDB (a site database and the app's), a Redis, a
 * site's files, and a restic repository over SFTP on a throw-away sshd. The rendered backup step,
 * megaweb-backup (as megaweb-backup.service runs it) and megaweb-restore run as on a server, with
 * only systemctl stood in for. Data is written, backed up, destroyed and restored.
 */

const domain = "shop.megaweb.test";
const appDatabase = "megaweb_app";
const password = randomBytes(24).toString("base64url");
const marker = "megaweb-backup-marker-row";

let root: string;
let sshd: LoopbackSshd;
let mariadb: MariaDbServer;
let redisPassword: string;
let redisPort: number;
let render: BackupRender;
let host: HostCommands;
let createdUsers: string[] = [];
let siteHome: string;
let siteOwner: string;
let repository: string;
const figures: Record<string, string> = {};

/**
 * Runs a step body after the shared provisioning helpers, as the step plan will. Secret input
 * comes from a file, as it would from the SSH channel: Node's own stdin pipes are sockets, which
 * the helpers' `/dev/stdin` cannot open.
 */
function runStep(body: string, stdin = "") {
  const script = [renderTemplate("provision/lib.sh", {}), `previous_dir=${root}/var/lib/megaweb/previous`, body].join("\n");
  const input = join(root, "test-step-stdin");
  writeFileSync(input, stdin, { mode: 0o600 });
  const fd = openSync(input, "r");
  try {
    return spawnSync("bash", ["-c", script], { encoding: "utf8", env: host.env, stdio: [fd, "pipe", "pipe"], timeout: 120_000 });
  } finally {
    closeSync(fd);
    rmSync(input);
  }
}

function run(command: string, args: string[] = []) {
  const started = performance.now();
  const result = spawnSync(command, args, { encoding: "utf8", env: host.env, timeout: 300_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}`, ms: Math.round(performance.now() - started) };
}

/** What megaweb-backup.service starts, read from the rendered unit. */
function backupCommand(): string {
  const unit = render.files.find((file) => file.path.endsWith("megaweb-backup.service"))!;
  return /^ExecStart=(.*)$/m.exec(unit.content)![1]!;
}

/** restic with the host's settings, as an operator would run it after sourcing backup.conf. */
function restic(args: string[], environment: NodeJS.ProcessEnv = {}) {
  const config = render.files.find((file) => file.path.endsWith("backup.conf"))!.path;
  const quoted = args.map((arg) => `'${arg}'`).join(" ");
  return spawnSync("bash", ["-c", `. ${config}; restic "\${restic_options[@]}" ${quoted}`], {
    encoding: "utf8",
    env: { ...host.env, ...environment },
    timeout: 120_000,
  });
}

async function sql<T = mysql.RowDataPacket[]>(query: string, values: unknown[] = []): Promise<T> {
  const connection = await mysql.createConnection({ uri: mariadb.rootUrl, multipleStatements: true });
  try {
    const [rows] = await connection.query(query, values);
    return rows as T;
  } finally {
    await connection.end();
  }
}

function redis(...args: string[]): string {
  return execFileSync("redis-cli", ["-p", String(redisPort), ...args], { encoding: "utf8", env: { ...process.env, REDISCLI_AUTH: redisPassword } }).trim();
}

/** Every file under `dir` with its content hash, mode and owner. */
function tree(dir: string): Record<string, string> {
  const entries: Record<string, string> = {};
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      const stat = statSync(full);
      if (stat.isDirectory()) walk(full);
      else
        entries[full.slice(dir.length)] = `${createHash("sha256").update(readFileSync(full)).digest("hex")} ${stat.mode.toString(8)} ${stat.uid}:${stat.gid}`;
    }
  };
  walk(dir);
  return entries;
}

function bytesUnder(dir: string): number {
  return Number(execFileSync("du", ["-sb", dir], { encoding: "utf8" }).split("\t")[0]);
}

async function startRedis(): Promise<void> {
  expect(run("systemctl", ["start", "redis-server"]).status).toBe(0);
  for (let attempt = 0; attempt < 100; attempt++) {
    if (
      spawnSync("redis-cli", ["-p", String(redisPort), "ping"], { encoding: "utf8", env: { ...process.env, REDISCLI_AUTH: redisPassword } }).stdout.trim() ===
      "PONG"
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("redis-server did not answer");
}

beforeAll(async () => {
  root = scratchRoot("backup");
  [sshd, mariadb] = await Promise.all([LoopbackSshd.start(), startMariaDb()]);

  // Root reaches MariaDB over its socket without a password, as Debian's root does.
  await sql("ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket");
  const [{ socket }] = await sql<{ socket: string }[]>("SELECT @@socket AS socket");

  redisPort = await freePort();
  redisPassword = randomBytes(16).toString("hex");
  writeHostFile(join(root, "etc/redis/megaweb.d/secrets.conf"), `requirepass ${redisPassword}\n`, "0640");
  mkdirSync(join(root, "var/lib/redis"), { recursive: true });
  writeHostFile(
    join(root, "etc/redis/redis.conf"),
    [
      `port ${redisPort}`,
      "bind 127.0.0.1",
      `dir ${root}/var/lib/redis`,
      "dbfilename dump.rdb",
      'save ""',
      "daemonize yes",
      `pidfile ${root}/run/redis-server.pid`,
      `logfile ${root}/var/log/redis-server.log`,
      `include ${root}/etc/redis/megaweb.d/secrets.conf`,
      "",
    ].join("\n"),
  );
  for (const dir of ["var/log", "run"]) mkdirSync(join(root, dir), { recursive: true });
  host = hostCommands(root, { "redis-server": { pidFile: join(root, "run/redis-server.pid"), start: `redis-server ${root}/etc/redis/redis.conf` } });
  await startRedis();

  const stack = parseStack({
    sites: [{ domain, database: {} }],
    backups: {
      // The last 3 keep the snapshots this test makes within a minute; daily 7 is the default.
      retention: { last: 3, daily: 7 },
      destination: { kind: "sftp", host: "127.0.0.1", port: sshd.port, user: "root", path: join(root, "srv/backup"), hostKey: sshd.hostKey },
    },
  });
  const facts = { name: "web-1", memoryMb: 2048, roles: ["web" as const, "mysql" as const, "redis" as const], root };
  const web = renderWebHost(stack, facts);
  createdUsers = materialize(web, root);
  const contexts = resolveWebHost(stack.sites, facts).sites;
  siteHome = contexts[0]!.home;
  siteOwner = `${web.sites[0]!.account.user}:${web.sites[0]!.account.group}`;
  render = renderBackupHost({
    name: "web-1",
    root,
    backups: stack.backups!,
    sites: backupSites(stack.sites, contexts, { files: true, databases: true }),
    appDatabase,
    mariadbSocket: socket,
    redis: { port: redisPort },
  });
  repository = join(root, "srv/backup/web-1");

  // The data: rows in both databases, the site's files, keys in Redis.
  await sql(
    `CREATE DATABASE shop_megaweb_test; CREATE TABLE shop_megaweb_test.orders (id INT PRIMARY KEY, note VARCHAR(200));
     CREATE DATABASE ${appDatabase}; CREATE TABLE ${appDatabase}.replicas (id INT PRIMARY KEY, name VARCHAR(64))`,
  );
  const orders = Array.from({ length: 20_000 }, (_, id) => [id, `${id === 7 ? marker : "order"} ${randomBytes(24).toString("hex")}`]);
  await sql("INSERT INTO shop_megaweb_test.orders VALUES ?", [orders]);
  await sql(`INSERT INTO ${appDatabase}.replicas VALUES ?`, [Array.from({ length: 1000 }, (_, id) => [id, `replica-${id}`])]);
  for (let index = 0; index < 200; index++) {
    writeHostFile(join(siteHome, `public/uploads/${index % 10}/file-${index}.bin`), randomBytes(6 * 1024).toString("base64"), "0640", siteOwner);
  }
  writeHostFile(join(siteHome, "public/index.php"), `<?php echo "${marker}";\n`, "0644", siteOwner);
  writeHostFile(join(siteHome, "logs/php-error.log"), "a log line\n", "0640", siteOwner);
  redis("MSET", ...Array.from({ length: 1000 }, (_, index) => [`key:${index}`, `value-${index}`]).flat());
}, 120_000);

afterAll(async () => {
  spawnSync("systemctl", ["stop", "redis-server"], { env: host?.env });
  await Promise.all([sshd?.stop(), mariadb?.stop()]);
  removeUsers(createdUsers);
  removeRoot(root);
  console.log(
    Object.entries(figures)
      .map(([name, value]) => `${name}: ${value}`)
      .join("\n"),
  );
}, 60_000);

describe("backups with restic over SFTP, and megaweb-restore", () => {
  it("installs with the password from stdin and this host's key, and enables the timer", () => {
    const secret = runStep(renderTemplate("provision/secret-file.sh", { path: render.passwordFile, mode: "0600", owner: "root:root" }), `${password}\n`);
    expect(secret.status, secret.stderr).toBe(0);
    // The backup host let this key in (in the step plan: the backup host's step, from the key this step prints).
    writeHostFile(render.identityFile!, sshd.privateKey, "0600");
    const step = runStep(renderBackupStep(render, "web-1", putFiles));
    expect(step.status, step.stderr).toBe(0);
    expect(step.stdout).toMatch(/^megaweb-backup key: ssh-ed25519 AAAA/m);
    expect(host.bootChanges()).toEqual(["daemon-reload", "enable --now megaweb-backup.timer"]);
    for (const file of render.files) expect(readFileSync(file.path, "utf8")).not.toContain(password);
    const timer = render.files.find((file) => file.path.endsWith("megaweb-backup.timer"))!.content;
    expect(timer).toContain("OnCalendar=daily");
  });

  it("backs up both databases, the site's files and Redis into an encrypted repository, and says when", () => {
    const backup = run(backupCommand());
    expect(backup.status, backup.output).toBe(0);
    figures["first backup"] = `${backup.ms} ms`;
    figures["repository after the first backup"] =
      `${(bytesUnder(repository) / 1e6).toFixed(2)} MB (data: ${(bytesUnder(join(siteHome, "public")) / 1e6).toFixed(2)} MB of files, 21 000 rows, 1000 Redis keys)`;
    expect(readFileSync(render.lastSuccess, "utf8")).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ snapshot [0-9a-f]{8}\n$/);
    const listing = restic(["ls", "latest"]).stdout;
    for (const path of ["mariadb/shop_megaweb_test.sql", `mariadb/${appDatabase}.sql`, "redis/dump.rdb", "public/uploads/3/file-13.bin", "public/index.php"]) {
      expect(listing).toContain(path);
    }
    expect(listing).not.toContain("logs/php-error.log");
    // Encrypted at rest: no row, file or key name stands in the repository, and another password opens nothing.
    expect(spawnSync("grep", ["-rl", marker, repository]).status).toBe(1);
    const wrong = join(root, "test-wrong-password");
    writeFileSync(wrong, "not-the-repository-password\n");
    const refused = restic(["snapshots", "--password-file", wrong]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("wrong password");
  });

  it("restores every row, file and key after the databases are dropped, the files deleted and Redis flushed", async () => {
    const before = tree(join(siteHome, "public"));
    const again = run(backupCommand());
    expect(again.status, again.output).toBe(0);
    figures["second backup, nothing changed"] = `${again.ms} ms, repository ${(bytesUnder(repository) / 1e6).toFixed(2)} MB`;

    await sql(`DROP DATABASE shop_megaweb_test; DROP DATABASE ${appDatabase}`);
    rmSync(join(siteHome, "public/uploads"), { recursive: true });
    writeHostFile(join(siteHome, "public/dropped-in-later.php"), "<?php system($_GET['c']);\n");
    writeFileSync(join(siteHome, "logs/php-error.log"), "a log line\na later line\n");
    redis("FLUSHALL");

    const redisPid = readFileSync(join(root, "run/redis-server.pid"), "utf8");
    const restore = run(render.restoreScript, ["all"]);
    expect(restore.status, restore.output).toBe(0);
    figures["restore of everything"] = `${restore.ms} ms`;
    expect(restore.output).toMatch(/database shop_megaweb_test from snapshot [0-9a-f]{8}/);
    expect(restore.output).toMatch(new RegExp(`Redis from snapshot [0-9a-f]{8}: 1000 keys, into 127.0.0.1:${redisPort}; 0 of 0 replicas in step`));
    // The keys went into the running server: it never stopped, and the restore left no server of its own behind.
    expect(readFileSync(join(root, "run/redis-server.pid"), "utf8")).toBe(redisPid);
    expect(spawnSync("pgrep", ["-f", `${root}/var/lib/megaweb/backup/restore`]).status).toBe(1);

    const [{ orders, marked }] = await sql<{ orders: number; marked: string }[]>(
      "SELECT COUNT(*) AS orders, (SELECT note FROM shop_megaweb_test.orders WHERE id = 7) AS marked FROM shop_megaweb_test.orders",
    );
    expect(Number(orders)).toBe(20_000);
    expect(marked).toMatch(new RegExp(`^${marker} `));
    expect(Number((await sql<{ n: number }[]>(`SELECT COUNT(*) AS n FROM ${appDatabase}.replicas`))[0]!.n)).toBe(1000);
    expect(tree(join(siteHome, "public"))).toEqual(before);
    expect(existsSync(join(siteHome, "public/dropped-in-later.php"))).toBe(false);
    expect(readFileSync(join(siteHome, "logs/php-error.log"), "utf8")).toBe("a log line\na later line\n");
    expect(redis("DBSIZE")).toBe("1000");
    expect(redis("GET", "key:999")).toBe("value-999");
  });

  it("restores one site, or the app, from a chosen earlier snapshot and leaves the rest as it is", async () => {
    const chosen = readFileSync(render.lastSuccess, "utf8").split(" ")[2]!.trim();
    await sql("UPDATE shop_megaweb_test.orders SET note = 'changed later' WHERE id < 100");
    await sql(`DELETE FROM ${appDatabase}.replicas WHERE id >= 500`);
    writeHostFile(join(siteHome, "public/index.php"), "<?php echo 'changed later';\n", "0644", siteOwner);
    expect(run(backupCommand()).status).toBe(0);
    redis("SET", "key:0", "changed later");

    const site = run(render.restoreScript, ["site", domain, chosen]);
    expect(site.status, site.output).toBe(0);
    figures["restore of one site"] = `${site.ms} ms`;
    expect(Number((await sql<{ n: number }[]>("SELECT COUNT(*) AS n FROM shop_megaweb_test.orders WHERE note = 'changed later'"))[0]!.n)).toBe(0);
    expect(readFileSync(join(siteHome, "public/index.php"), "utf8")).toContain(marker);
    expect(Number((await sql<{ n: number }[]>(`SELECT COUNT(*) AS n FROM ${appDatabase}.replicas`))[0]!.n)).toBe(500);
    expect(redis("GET", "key:0")).toBe("changed later");

    const app = run(render.restoreScript, ["app", chosen]);
    expect(app.status, app.output).toBe(0);
    expect(Number((await sql<{ n: number }[]>(`SELECT COUNT(*) AS n FROM ${appDatabase}.replicas`))[0]!.n)).toBe(1000);
  });

  it("refuses a site it does not back up and a snapshot that does not exist", () => {
    expect(run(render.restoreScript, ["site", "other.megaweb.test"])).toMatchObject({ status: 2 });
    const missing = run(render.restoreScript, ["app", "deadbeef"]);
    expect(missing.status).not.toBe(0);
    expect(run(render.restoreScript, ["list"]).output).toMatch(/[0-9a-f]{8} .* web-1 .*megaweb/);
  });

  it("keeps the last 3 snapshots and one per day for the last 7 days", () => {
    const day = 86_400_000;
    // Two on yesterday, one on each day before, back to 8 days ago.
    for (const daysAgo of [8, 7, 6, 5, 4, 3, 2, 1, 1]) {
      const time = new Date(Date.now() - daysAgo * day).toISOString().replace("T", " ").slice(0, 19);
      const made = restic(["backup", "--quiet", "--host", "web-1", "--tag", "megaweb", "--time", time, join(siteHome, "public/index.php")]);
      expect(made.status, made.stderr).toBe(0);
    }
    expect(run(backupCommand()).status).toBe(0);
    const snapshots = JSON.parse(restic(["snapshots", "--json"]).stdout) as { time: string }[];
    const days = snapshots.map((snapshot) => snapshot.time.slice(0, 10));
    const today = new Date().toISOString().slice(0, 10);
    expect(days.filter((day) => day === today)).toHaveLength(3);
    expect(new Set(days).size).toBe(7);
    expect(snapshots).toHaveLength(9);
    figures["repository after retention"] = `${(bytesUnder(repository) / 1e6).toFixed(2)} MB, ${snapshots.length} snapshots`;
  });

  it("fails, and keeps the last success, when the backup host cannot be reached", async () => {
    const lastSuccess = readFileSync(render.lastSuccess, "utf8");
    await sshd.stop();
    const failed = run(backupCommand());
    expect(failed.status).not.toBe(0);
    expect(failed.output).toMatch(/Connection refused|connection closed|unable to start the sftp session/i);
    expect(readFileSync(render.lastSuccess, "utf8")).toBe(lastSuccess);
    expect(existsSync(join(root, "var/lib/megaweb/backup/staging"))).toBe(false);
  });
});
