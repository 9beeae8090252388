import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SampleAppRepository, setVersion } from "./sample-app-repository";
import { startMariaDb, startRedis, type MariaDbServer, type RedisServer } from "../../app/test/support/backends";
import { resolveWebHost, type HostContext, type HostFacts, type SiteContext } from "../../lib/render/context";
import { putFiles } from "../../lib/steps/script";
import { planRollback, renderDeployScript, renderSiteDeploy, renderSiteDeployStep, type SiteDeployRender } from "../../lib/render/deploy";
import { renderWebHost, type WebHostRender } from "../../lib/render/files";
import { renderSiteWorkers, type SiteWorkersRender } from "../../lib/render/site-workers";
import { renderTemplate } from "../../lib/render/template";
import { runLoad } from "../../lib/loadtest/run";
import { requestMix } from "../../lib/loadtest/request-mix";
import type { SiteCodeInput, SiteCode } from "../../lib/schema/deploy";
import type { Site } from "../../lib/schema/site";
import { parseStack } from "../../lib/schema/stack";
import { fetchFrom, freePort, materialize, removeRoot, removeUsers, scratchRoot, startDaemon, startNginx, writeHostFile, type Daemon } from "./harness";
import { hostCommands, type HostCommands } from "./host-commands";
import { unitProcess, unitShellLine } from "./units";

/**
 * A site's code deployed for real on loopback, as megaweb-deploy runs on a host: the sample app
 * (examples/sample-php-app) in a bare git repository served by `git daemon`, fetched, built with
 * Debian's composer as the site's user (runuser), migrated against a private MariaDB, switched
 * live behind the rendered nginx vhost and the site's own PHP-FPM master (from the rendered pool
 * and fpm-site/master.conf), with the site's Redis for the page, the queue and the migration lock.
 * The worker and the schedule run their rendered units' ExecStart as the units' user; only
 * systemctl is stood in for (systemd is not PID 1 here), acting on those processes by PID.
 */

const domain = "shop.deploy.test";
const phpVersion = "8.2";

let root: string;
let port: number;
let sampleRepository: SampleAppRepository;
let mariadb: MariaDbServer;
let redis: RedisServer & { password: string };
let database: string;
let host: HostCommands;
let hostContext: HostContext;
let context: SiteContext;
let render: WebHostRender;
let workers: SiteWorkersRender;
let facts: HostFacts;
let createdUsers: string[] = [];
const daemons: Daemon[] = [];
const secrets: Record<string, string> = {};
const figures: Record<string, string> = {};

const repository = () => sampleRepository.url;

function siteInput(code: Partial<SiteCodeInput> = {}) {
  return {
    domain,
    php: { memoryLimit: "128M", extensions: ["mysql", "redis"] },
    pool: { pm: "dynamic", maxChildren: 4 },
    database: {},
    code: { repository: repository(), migrate: "php bin/console migrate", keepReleases: 3, timeout: "2m", ...code },
    workers: [{ name: "queue", command: "php bin/console queue:work" }],
    schedule: [{ name: "heartbeat", cron: "* * * * *", command: "php bin/console schedule:run" }],
  };
}

function parsedSite(code: Partial<SiteCodeInput> = {}): Site & { code: SiteCode } {
  return parseStack({ sites: [siteInput(code)] }).sites[0] as Site & { code: SiteCode };
}

/** Writes the site's deploy settings as the deploy step would; `code` overrides the stack's (a pin, an archive). */
function writeDeployConfig(code: Partial<SiteCodeInput> = {}): SiteDeployRender {
  const site = parsedSite(code);
  const rendered = renderSiteDeploy(site, context, hostContext, { workerUnits: workers.workerUnits });
  writeHostFile(rendered.config.path, rendered.config.content);
  return rendered;
}

const commit = (message: string, change: (work: string) => void) => sampleRepository.commit(message, change);

interface DeployRun {
  readonly status: number | null;
  readonly output: string;
  readonly seconds: number;
}

/** megaweb-deploy as an operator or a step runs it: root, with systemctl stood in for. Asynchronous, so a load can run beside it. */
function deploy(...args: string[]): Promise<DeployRun> {
  return run("bash", [renderDeployScript(hostContext).path, context.slug, ...args]);
}

/** The whole deploy step, as the step plan will run it: the shared helpers, the script and settings written, the deploy. */
function deployStep(): Promise<DeployRun> {
  const site = parsedSite();
  const body = renderSiteDeployStep(
    renderSiteDeploy(site, context, hostContext, { workerUnits: workers.workerUnits }),
    renderDeployScript(hostContext),
    putFiles,
  );
  return run("bash", ["-c", [renderTemplate("provision/lib.sh", {}), `previous_dir=${root}/var/lib/megaweb/previous`, body].join("\n")]);
}

function run(command: string, args: string[]): Promise<DeployRun> {
  const started = performance.now();
  const child = spawn(command, args, { env: host.env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  // Bounded: a hung deploy is killed, not left running after the test.
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  return new Promise((resolve) =>
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, output, seconds: (performance.now() - started) / 1000 });
    }),
  );
}

interface Page {
  readonly status: number;
  readonly version?: string;
  readonly greetings?: number;
  readonly jobs?: number;
  readonly views?: number;
  readonly schedule?: string;
  readonly body: string;
}

async function page(path = "/"): Promise<Page> {
  const answer = await fetchFrom({ port, host: domain, path });
  const field = (id: string) => new RegExp(`<span id="${id}">([^<]*)</span>`).exec(answer.body)?.[1];
  const number = (id: string) => (field(id) === undefined ? undefined : Number(field(id)));
  return {
    status: answer.status,
    version: field("version"),
    greetings: number("greetings"),
    jobs: number("jobs"),
    views: number("views"),
    schedule: field("schedule"),
    body: answer.body,
  };
}

const live = () => readlinkSync(join(context.home, "current"));
const releases = () => readdirSync(join(context.home, "releases")).sort();

async function sql<T>(query: string): Promise<T> {
  const connection = await mysql.createConnection({ uri: `${mariadb.rootUrl}/${database}` });
  try {
    const [rows] = await connection.query(query);
    return rows as T;
  } finally {
    await connection.end();
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, seconds = 15): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function expectNoSecrets(output: string): void {
  for (const [name, value] of Object.entries(secrets)) expect(output, `${name} leaked`).not.toContain(value);
}

/** The site's PHP-FPM master, as php8.2-fpm-site@<slug>.service starts it, with its pid and log in the scratch tree. */
async function startSiteFpm(): Promise<{ daemon: Daemon; pidFile: string }> {
  const pool = render.sites[0]!.files.find((file) => file.path.includes("/fpm/pool.d/"))!;
  const master = join(root, `etc/php/${phpVersion}/fpm/sites/${context.slug}.conf`);
  const pidFile = join(root, `run/php/php${phpVersion}-fpm-${context.slug}.pid`);
  mkdirSync(join(root, "run/php"), { recursive: true });
  mkdirSync(join(root, "var/log"), { recursive: true });
  writeHostFile(
    master,
    renderTemplate("fpm-site/master.conf", { domain, phpVersion, slug: context.slug, poolConfig: pool.path })
      .replace("pid = /run/", `pid = ${root}/run/`)
      .replace("error_log = /var/log/", `error_log = ${root}/var/log/`),
  );
  execFileSync(`php-fpm${phpVersion}`, ["-t", "--fpm-config", master], { stdio: "pipe" });
  const env = { ...process.env, PHP_INI_SCAN_DIR: `/etc/php/${phpVersion}/fpm/conf.d:${join(root, `etc/php/${phpVersion}/fpm/conf.d`)}` };
  const daemon = await startDaemon(
    `php-fpm${phpVersion}`,
    ["--nodaemonize", "--fpm-config", master],
    { check: () => existsSync(pidFile), awaited: `no ${pidFile}` },
    env,
  );
  return { daemon, pidFile };
}

/**
 * What `systemctl start` of the worker's instance does here: the rendered unit's process, in the
 * background, its PID in a file for the stand-in's stop. cd first: systemd resolves
 * WorkingDirectory= (current) when the process starts, so a worker keeps the release it started in.
 */
function workerStartScript(unit: string, pidFile: string): string {
  const process = unitProcess(workers.files.find((file) => file.path.endsWith(`${unit.replace(/@\d+\.service$/, "")}@.service`))!.content);
  const script = join(root, "test-bin", `start-${unit}`);
  writeHostFile(
    script,
    [
      "#!/bin/bash",
      // systemd starts a unit with no descriptor of whoever asked: the deploy's and the step's locks stay theirs.
      'for fd in /proc/$$/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi; done',
      `cd ${process.workingDirectory} || exit 1`,
      `setsid ${unitShellLine(process)} >>${join(root, "worker.log")} 2>&1 </dev/null &`,
      `echo $! >${pidFile}`,
      "",
    ].join("\n"),
    "0755",
  );
  return script;
}

/** One run of a scheduled command's service, as its timer would start it. */
function runScheduledCommand() {
  const service = workers.files.find((file) => file.path.endsWith("_heartbeat.service"))!;
  const process = unitProcess(service.content);
  return spawnSync("bash", ["-c", `cd ${process.workingDirectory} && ${unitShellLine(process)}`], { encoding: "utf8", timeout: 30_000 });
}

beforeAll(async () => {
  root = scratchRoot("deploy");
  port = await freePort();

  // The app's repository, served by git daemon on loopback (the end-to-end test serves it from a local machine).
  sampleRepository = await SampleAppRepository.serve("127.0.0.1");

  [mariadb, redis] = await Promise.all([startMariaDb(), startRedis()]);
  database = "shop";
  const databaseUrl = new URL(await mariadb.createDatabase(database));
  secrets.DB_PASSWORD = decodeURIComponent(databaseUrl.password);
  secrets.REDIS_PASSWORD = redis.password;
  secrets.APP_KEY = `base64:${randomBytes(32).toString("base64")}`;

  facts = {
    name: "web-test",
    memoryMb: 4096,
    roles: ["web", "worker"],
    phpVersions: [phpVersion],
    listenAddress: "127.0.0.1",
    ports: { http: port, https: await freePort() },
    root,
  };
  const stack = parseStack({ sites: [siteInput()] });
  render = renderWebHost(stack, facts);
  const resolved = resolveWebHost(stack.sites, facts);
  hostContext = resolved.host;
  context = resolved.sites[0]!;
  // The site step as it runs today: account, directories (an empty current/public among them), vhost and pool.
  createdUsers = materialize(render, root);
  workers = renderSiteWorkers(stack.sites[0]!, context, hostContext);
  for (const file of workers.files) writeHostFile(file.path, file.content);
  // The env step: the site's credentials, readable by its group only.
  writeHostFile(
    join(context.home, ".env"),
    [
      `APP_KEY=${secrets.APP_KEY}`,
      "DB_HOST=127.0.0.1",
      `DB_PORT=${mariadb.port}`,
      `DB_DATABASE=${database}`,
      `DB_USERNAME=${databaseUrl.username}`,
      `DB_PASSWORD=${secrets.DB_PASSWORD}`,
      "REDIS_HOST=127.0.0.1",
      `REDIS_PORT=${redis.port}`,
      `REDIS_PASSWORD=${secrets.REDIS_PASSWORD}`,
      "",
    ].join("\n"),
    "0640",
    `root:${context.account.group}`,
  );

  const fpm = await startSiteFpm();
  daemons.push(fpm.daemon, await startNginx(root));
  const workerUnit = workers.workerUnits[0]!;
  const workerPid = join(root, "run/worker.pid");
  host = hostCommands(root, {
    [`php${phpVersion}-fpm-site@${context.slug}`]: { pidFile: fpm.pidFile, reload: 'kill -USR2 "$pid"' },
    [workerUnit.replace(/\.service$/, "")]: { pidFile: workerPid, start: workerStartScript(workerUnit, workerPid) },
  });
}, 180_000);

afterAll(async () => {
  if (host !== undefined) spawnSync("systemctl", ["stop", workers.workerUnits[0]!], { env: host.env });
  for (const daemon of daemons.reverse()) await daemon.stop();
  await Promise.all([mariadb?.stop(), redis?.stop(), sampleRepository?.stop()]);
  removeUsers(createdUsers);
  if (root !== undefined) removeRoot(root);
  if (Object.keys(figures).length > 0) console.log(`deploy figures: ${JSON.stringify(figures)}`);
});

describe("a site with code, deployed on loopback", () => {
  let firstRelease: string;
  let secondRelease: string;

  it("answers 404 before the first deploy (no release is linked yet), and 200 with its database and Redis after it", async () => {
    expect((await page()).status).toBe(404);
    const run = await deployStep();
    expect(run.output).toMatch(/is live \(was none\)/);
    expect(run.status).toBe(0);
    figures.firstDeploySeconds = run.seconds.toFixed(1);
    firstRelease = live();
    expect(firstRelease).toMatch(/^releases\/[0-9a-f]{12}-[0-9a-f]{6}$/);
    const first = await page();
    expect(first).toMatchObject({ status: 200, version: "1.0.0", greetings: 3, jobs: 0, views: 1 });
    expect((await page()).views).toBe(2);
    // Built by the site's user, readable by nginx's group, and never a .git in the webroot.
    const release = join(context.home, firstRelease);
    expect(execFileSync("stat", ["-c", "%U:%G", join(release, "vendor/autoload.php")], { encoding: "utf8" }).trim()).toBe(`${context.account.user}:www-data`);
    expect(existsSync(join(release, ".git"))).toBe(false);
    expect(readlinkSync(join(release, ".env"))).toBe("../../.env");
    expect(readlinkSync(join(release, "storage"))).toBe("../../shared/storage");
    expectNoSecrets(run.output);
  });

  it("deploys nothing when the code has not changed", async () => {
    const run = await deploy();
    expect(run.status).toBe(0);
    expect(run.output).toMatch(/is live already; nothing to deploy/);
    figures.unchangedDeploySeconds = run.seconds.toFixed(1);
    expect(live()).toBe(firstRelease);
    expect(releases()).toHaveLength(1);
  });

  it("runs, in its worker, a job the site pushed", async () => {
    const pushed = await fetchFrom({ port, host: domain, path: "/jobs", method: "POST" });
    expect(pushed.status).toBe(202);
    const rows = await until("the worker running the job", async () => {
      const found = await sql<{ release_path: string }[]>("SELECT release_path FROM job_runs");
      return found.length > 0 ? found : undefined;
    });
    expect(rows.map((row) => row.release_path)).toEqual([join(context.home, firstRelease)]);
    expect((await page()).jobs).toBe(1);
  });

  it("runs its scheduled command, which leaves its mark, from a timer systemd reads as every minute", async () => {
    const timer = workers.files.find((file) => file.path.endsWith("_heartbeat.timer"))!.content;
    const calendar = /^OnCalendar=(.*)$/m.exec(timer)![1]!;
    expect(execFileSync("systemd-analyze", ["calendar", calendar], { encoding: "utf8" })).toContain("Normalized form: *-*-* *:*:00");
    const run = runScheduledCommand();
    expect(run.stdout + run.stderr).toContain("ran scheduled heartbeat");
    expect(run.status).toBe(0);
    expect((await page()).schedule).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The mark is in shared/storage, so the next release sees it too.
    expect(readFileSync(join(context.home, "shared/storage/logs/schedule.log"), "utf8")).toMatch(/^heartbeat /);
  });

  it("switches to a new commit under load with no failed request, and restarts the worker on it", { timeout: 120_000 }, async () => {
    commit("1.1.0", setVersion("1.1.0"));
    const seen = new Set<string>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const answer = await fetchFrom({ port, host: domain, path: "/health" });
        seen.add(`${answer.status} ${answer.body.trim()}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const load = runLoad({
      target: { scheme: "http", hostname: "127.0.0.1", port, url: `http://127.0.0.1:${port}`, hosts: [domain], foreign: false },
      mix: requestMix([domain], [{ path: "/", weight: 1 }]),
      // Long enough to cover a deploy slowed by the load itself (composer shares the two cores with
      // PHP and with whatever else runs on the machine): four first deploys, within a bound.
      connections: 4,
      durationSeconds: Math.min(60, Math.max(20, Math.ceil(Number(figures.firstDeploySeconds) * 4) + 5)),
    });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const run = await deploy();
    const measured = await load;
    polling = false;
    await poller;
    expect(run.output).toMatch(/is live \(was [0-9a-f]{12}-[0-9a-f]{6}\)/);
    expect(run.status).toBe(0);
    const answered = Object.values(measured.statusCodes).reduce((sum, count) => sum + count, 0);
    const failed = answered - (measured.statusCodes["200"] ?? 0) + Object.values(measured.errors).reduce((sum, count) => sum + count, 0);
    Object.assign(figures, {
      deployUnderLoadSeconds: run.seconds.toFixed(1),
      requestsUnderLoad: String(answered),
      failedRequestsUnderLoad: String(failed),
      loadP99Ms: measured.latencyMs.p99.toFixed(1),
    });
    expect({ statusCodes: measured.statusCodes, errors: measured.errors }).toEqual({ statusCodes: { "200": answered }, errors: {} });
    expect(answered).toBeGreaterThan(100);
    // The switch happened while the load ran: the load outlasted the deploy.
    expect(run.seconds + 2).toBeLessThan(measured.elapsedSeconds);
    expect([...seen].sort()).toEqual(["200 ok 1.0.0", "200 ok 1.1.0"]);
    // The site's own master reloaded gracefully (SIGUSR2) while the load ran, and only it.
    expect(readFileSync(join(root, `var/log/php${phpVersion}-fpm-${context.slug}.log`), "utf8")).toContain("Reloading in progress");
    secondRelease = live();
    expect(secondRelease).not.toBe(firstRelease);
    expect((await page()).version).toBe("1.1.0");
    // The worker was restarted into the new release: the next job runs there.
    await fetchFrom({ port, host: domain, path: "/jobs", method: "POST" });
    await until("the restarted worker running a job", async () => {
      const rows = await sql<{ release_path: string }[]>("SELECT release_path FROM job_runs ORDER BY id");
      return rows.length === 2 ? rows : undefined;
    }).then((rows) => expect(rows[1]!.release_path).toBe(join(context.home, secondRelease)));
  });

  it("keeps the live release serving when the build fails, and reports the command's output", async () => {
    const broken = commit("a syntax error", (dir) => writeFileSync(join(dir, "src/Broken.php"), "<?php\nnamespace App;\nfinal class Broken {\n"));
    const run = await deploy();
    expect(run.status).toBe(1);
    expect(run.output).toContain("build: composer install --no-dev --optimize-autoloader --no-interaction failed");
    expect(run.output).toContain(`release ${secondRelease.split("/")[1]} stays live`);
    expect(run.output).toMatch(/Parse error: .* in .*src\/Broken\.php/);
    expectNoSecrets(run.output);
    expect(live()).toBe(secondRelease);
    expect(releases().some((release) => release.startsWith(broken.slice(0, 12)))).toBe(false);
    expect((await page()).version).toBe("1.1.0");
  });

  it("keeps the live release serving when the migration fails, with the .env's secrets redacted", async () => {
    commit("a migration that fails", (dir) => {
      rmSync(join(dir, "src/Broken.php"));
      writeFileSync(
        join(dir, "database/migrations/2024_02_01_000000_fails.php"),
        [
          "<?php",
          "$env = App\\Env::load(dirname(__DIR__, 2) . '/.env');",
          "throw new RuntimeException('cannot alter table as ' . $env->get('DB_USERNAME') . ' identified by ' . $env->get('DB_PASSWORD') . ' with key ' . $env->get('APP_KEY') . ' and redis ' . $env->get('REDIS_PASSWORD'));",
          "",
        ].join("\n"),
      );
    });
    const run = await deploy();
    expect(run.status).toBe(1);
    expect(run.output).toContain("migration: php bin/console migrate failed");
    expect(run.output).toContain("cannot alter table as megaweb identified by [redacted] with key [redacted] and redis [redacted]");
    expectNoSecrets(run.output);
    expect(live()).toBe(secondRelease);
    expect((await page()).version).toBe("1.1.0");
    // The release's own log keeps the output, redacted too.
    const logs = readdirSync(join(context.home, "deploy/logs")).map((name) => readFileSync(join(context.home, "deploy/logs", name), "utf8"));
    expectNoSecrets(logs.join("\n"));
  });

  it("runs a migration once per release, on one of two nodes deploying at once", async () => {
    commit("1.2.0 with a migration", (dir) => {
      rmSync(join(dir, "database/migrations/2024_02_01_000000_fails.php"));
      setVersion("1.2.0")(dir);
      writeFileSync(
        join(dir, "database/migrations/2024_03_01_000000_add_greeting.php"),
        [
          "<?php",
          "return new class () {",
          "    public function up(\\PDO $database): void",
          "    {",
          "        $database->exec(\"INSERT INTO greetings (text) VALUES ('hola')\");",
          "        sleep(1);",
          "    }",
          "};",
          "",
        ].join("\n"),
      );
    });
    // A second web node of the same site: its own tree, the same database and Redis, no workers.
    const node2 = scratchRoot("deploy-node2");
    try {
      const facts2 = { ...facts, name: "web-test-2", root: node2 };
      const stack = parseStack({ sites: [siteInput()] });
      const resolved = resolveWebHost(stack.sites, facts2);
      materialize(renderWebHost(stack, facts2), node2);
      writeHostFile(join(resolved.sites[0]!.home, ".env"), readFileSync(join(context.home, ".env"), "utf8"), "0640", `root:${context.account.group}`);
      const script2 = renderDeployScript(resolved.host);
      const config2 = renderSiteDeploy(stack.sites[0] as Site & { code: SiteCode }, resolved.sites[0]!, resolved.host).config;
      writeHostFile(script2.path, script2.content, "0755");
      writeHostFile(config2.path, config2.content);
      const node2Deploy = run("bash", [script2.path, context.slug]);
      const [one, two] = await Promise.all([deploy(), node2Deploy]);
      expect(one.status, one.output).toBe(0);
      expect(two.status, two.output).toBe(0);
      expect([one.output, two.output].filter((output) => output.includes("ran on another node"))).toHaveLength(1);
      expect(await sql<{ count: number }[]>("SELECT COUNT(*) AS count FROM greetings WHERE text = 'hola'")).toEqual([{ count: 1 }]);
      expect((await page()).greetings).toBe(4);
      expect((await page()).version).toBe("1.2.0");
      expect(readlinkSync(join(resolved.sites[0]!.home, "current"))).toBe(live());
    } finally {
      removeRoot(node2);
    }
  });

  it("rolls back to the release live before, and a pin in the config holds a release", async () => {
    const listing = await deploy("--list");
    expect(listing.status).toBe(0);
    const plan = planRollback(0, listing.output);
    if (plan instanceof Error) throw plan;
    expect(`releases/${plan.release}`).toBe(secondRelease);

    const rollback = await deploy("--rollback");
    expect(rollback.output).toMatch(/is live again/);
    expect(rollback.status).toBe(0);
    figures.rollbackSeconds = rollback.seconds.toFixed(1);
    expect(live()).toBe(secondRelease);
    expect((await page()).version).toBe("1.1.0");

    // Rollback as a config change: the pin switches without fetching or building, unpinning deploys ref again.
    const newest = listing.output.split("\n")[0]!.slice(2, 21);
    writeDeployConfig({ release: plan.release });
    expect((await deploy()).output).toMatch(/is live already; nothing to do/);
    writeDeployConfig();
    const unpinned = await deploy();
    expect(unpinned.status).toBe(0);
    expect(unpinned.output).not.toContain("built release");
    expect(live()).toBe(`releases/${newest}`);
    expect((await page()).version).toBe("1.2.0");
  });

  it("keeps only the newest releases it is told to keep", async () => {
    for (const version of ["1.3.0", "1.4.0"]) {
      commit(version, setVersion(version));
      expect((await deploy()).status).toBe(0);
    }
    expect(releases()).toHaveLength(3);
    expect(releases()).toContain(live().split("/")[1]);
    expect((await page()).version).toBe("1.4.0");
    const listed = (await deploy("--list")).output.trim().split("\n");
    expect(listed).toHaveLength(3);
    expect(listed[0]).toMatch(/^\* /);
  });

  it("deploys an archive the same way, and the same archive only once", async () => {
    const archive = join(root, "shop.tar.gz");
    execFileSync("bash", ["-c", `git -C ${sampleRepository.work} archive --format=tar.gz --prefix=shop/ HEAD >${archive}`]);
    writeDeployConfig({ repository: undefined, archive, stripComponents: 1 });
    const first = await deploy();
    expect(first.status, first.output).toBe(0);
    expect(first.output).toMatch(/built release [0-9a-f]{12}-[0-9a-f]{6} \(archive shop\.tar\.gz/);
    expect(await page()).toMatchObject({ status: 200, version: "1.4.0" });
    expect((await deploy()).output).toMatch(/nothing to deploy/);
    writeDeployConfig();
  });
});
