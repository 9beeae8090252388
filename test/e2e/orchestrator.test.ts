import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLoad, summarize } from "../faults/measure";
import { buildApp, deployFromOwnBuild, editApp, rebuilt } from "./app-build";
import { LocalStack, type Machine, repo, Timings } from "./local-stack";

/**
 * The orchestrator end to end: the real engine deploys the single box with the app enabled (and no
 * other site) onto a fresh local machine, then the app is used through nginx as a client would.
 * Then, on a second set of machines, a single box with sessions grows to four servers under a load
 * of new ones: the app's database and Redis move to their hosts (lib/render/DEPLOY.md, "Growth that
 * keeps the data") and no session made before or acknowledged during is lost.
 */

const domain = "orchestrator.megaweb.test";
const units = ["orchestrator-web.service", "orchestrator-worker.service"];
const local = new LocalStack("orch", "orchestrator", join(repo, "test", "app-deploy", "fixtures", "Pulumi.orchestrator.yaml"));
const apiToken = randomBytes(24).toString("hex");
const timings = new Timings("e2e-orchestrator-timings.json");
const timed = timings.time;
let machine: Machine;

/** A call to the API through the web host's nginx; `token: null` sends none. */
async function callApi(web: Machine, method: string, path: string, body?: unknown, token: string | null = apiToken) {
  const answer = await web.request(method, domain, path, { body, headers: token === null ? {} : { Authorization: `Bearer ${token}` } });
  return { status: answer.status, body: answer.body === "" ? undefined : JSON.parse(answer.body) };
}
const api = (method: string, path: string, body?: unknown, token: string | null = apiToken) => callApi(machine, method, path, body, token);

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, seconds = 60): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds}s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The release directory each unit runs from. */
const runningReleases = () =>
  machine
    .ssh(units.map((unit) => `systemctl show -p ExecStart --value ${unit} | grep -o '/opt/megaweb/orchestrator/[^/ ]*'`).join("; "))
    .trim()
    .split("\n");

/** Main PID and start time of each unit: both change on a restart. */
const unitIdentity = () => machine.ssh(units.map((unit) => `systemctl show -p MainPID -p ActiveEnterTimestampMonotonic ${unit}`).join("; "));

/** Steps the engine would touch, as `op name`, from `pulumi preview --json`. */
function changedSteps(previewJson: string): string[] {
  const preview = JSON.parse(previewJson) as { steps?: { op: string; urn: string }[] };
  return (preview.steps ?? []).filter((step) => step.op !== "same").map((step) => `${step.op} ${step.urn.split("::").pop()}`);
}

describe.sequential("the orchestrator on the single box, with the real engine", () => {
  beforeAll(async () => {
    local.destroy();
    await timed("app build (s)", buildApp);
    await timed("machine boot and stack setup (s)", () => local.prepare());
    deployFromOwnBuild(local, apiToken);
    await timed("first pulumi up (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview"], 1200));
    machine = local.machine();
  }, 1_500_000);

  afterAll(() => {
    timings.save();
    local.destroyOk();
  }, 300_000);

  it("answers healthy through nginx, with MySQL and Redis reached, on the distribution's Node.js 18", async () => {
    const health = await api("GET", "/api/health", undefined, null);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: "healthy", database: "healthy", redis: "healthy", version: "0.1.0" });
    expect(health.body.runtime).toMatch(/^v18\./);
    expect(machine.ssh("systemctl is-active orchestrator-web orchestrator-worker nginx mariadb redis-server").trim().split("\n")).toEqual(
      Array(5).fill("active"),
    );
    // The app listens on loopback only; nginx is the way in.
    expect(await machine.answers(3000)).toBe(false);
  });

  it("refuses a write without the token, creates a session with it, and the worker reconciles its replicas", async () => {
    expect((await api("POST", "/api/sessions", { url: "https://e2e.example" }, null)).status).toBe(401);
    const created = await api("POST", "/api/sessions", { url: "https://e2e.example", target_replica_count: 4 });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await eventually("4 active replicas", async () => ((await api("GET", `/api/sessions/${id}`)).body.active_replica_count === 4 ? true : undefined));
    expect((await api("POST", `/api/sessions/${id}/scale`, { target_replicas: 9 })).status).toBe(200);
    const session = await eventually("9 active replicas", async () => {
      const { body } = await api("GET", `/api/sessions/${id}`);
      return body.active_replica_count === 9 ? body : undefined;
    });
    expect(session).toMatchObject({ id, target_replica_count: 9, active_replica_count: 9 });
  }, 180_000);

  it("reports no changes on a second preview, and a no-change up restarts nothing", async () => {
    const before = unitIdentity();
    await timed("no-change preview (s)", () => local.pulumiOk(["preview", "--expect-no-changes"]));
    await timed("no-change up (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview", "--expect-no-changes"]));
    expect(unitIdentity()).toBe(before);
  }, 300_000);

  it("an app setting updates only the hosts' environment step, which restarts the units with it", async () => {
    const before = unitIdentity();
    editApp(local, (app) => app.set("workerConcurrency", 3));

    expect(changedSteps(local.pulumiOk(["preview", "--json"]).stdout)).toEqual(["update megaweb-orchestrator-orchestrator-web-1-environment"]);
    await timed("environment change up (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview"]));
    expect(unitIdentity()).not.toBe(before);
    expect(machine.ssh("journalctl -u orchestrator-worker -o cat | grep '^worker started' | tail -n 1").trim()).toBe("worker started, concurrency 3");
    expect((await api("GET", "/api/health", undefined, null)).body.status).toBe("healthy");
  }, 300_000);

  it("a new build becomes a new release: only the uploads and the install step update, the units restart on it, the previous release stays", async () => {
    const before = { units: unitIdentity(), releases: runningReleases() };
    editApp(local, (app) =>
      app.set(
        "artifact",
        rebuilt(local, "second-build", (root) => writeFileSync(join(root, "BUILD"), "second\n")),
      ),
    );
    expect(changedSteps(local.pulumiOk(["preview", "--json"]).stdout).sort()).toEqual([
      "update megaweb-orchestrator-orchestrator-web-1-artifact",
      "update megaweb-orchestrator-orchestrator-web-1-install",
    ]);
    await timed("new release up (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview"]));
    const after = runningReleases();
    expect(new Set(after).size).toBe(1);
    expect(after[0]).not.toBe(before.releases[0]);
    expect(unitIdentity()).not.toBe(before.units);
    expect(machine.ssh("ls /opt/megaweb/orchestrator").trim().split("\n").sort()).toEqual(
      [...new Set([...before.releases, ...after])].map((path) => path.split("/").pop()).sort(),
    );
    expect((await api("GET", "/api/health", undefined, null)).body.status).toBe("healthy");
  }, 300_000);

  it("a release whose web process does not start fails its step, and the previous release keeps serving", async () => {
    const serving = runningReleases();
    editApp(local, (app) =>
      app.set(
        "artifact",
        rebuilt(local, "broken-build", (root) => writeFileSync(join(root, "web.js"), "process.exit(1);\n")),
      ),
    );
    const up = await timed("failed release up (s)", () => local.pulumi(["up", "--yes", "--skip-preview"]));
    expect(up.status).not.toBe(0);
    expect(up.stdout + up.stderr).toContain("the previous units were put back");
    expect(runningReleases()).toEqual(serving);
    expect(machine.ssh("systemctl is-active orchestrator-web orchestrator-worker").trim().split("\n")).toEqual(["active", "active"]);
    expect((await api("GET", "/api/health", undefined, null)).body.status).toBe("healthy");
  }, 300_000);

  it("keeps the token and the generated passwords out of the state, command strings and the CLI's output", () => {
    const environment = machine.ssh("cat /etc/megaweb/orchestrator.env");
    expect(machine.ssh("stat -c '%a %U:%G' /etc/megaweb/orchestrator.env").trim()).toBe("600 root:root");
    const databasePassword = /^MEGAWEB_DB_URL=mysql:\/\/megaweb:([^@]+)@/m.exec(environment)![1]!;
    const redisPassword = /^MEGAWEB_REDIS_URL=redis:\/\/:([^@]+)@/m.exec(environment)![1]!;
    expect(environment).toContain(`MEGAWEB_API_TOKEN=${apiToken}\n`);

    const exported = local.pulumiOk(["stack", "export"]).stdout;
    const resources = (JSON.parse(exported) as { deployment: { resources: { inputs?: Record<string, unknown> }[] } }).deployment.resources;
    const commandStrings = resources.flatMap((resource) =>
      [resource.inputs?.create, resource.inputs?.delete].filter((text): text is string => typeof text === "string"),
    );
    expect(commandStrings.some((text) => text.includes("orchestrator-web.service"))).toBe(true);
    for (const secret of [apiToken, databasePassword, redisPassword]) {
      expect(exported).not.toContain(secret);
      for (const text of commandStrings) expect(text).not.toContain(secret);
      for (const output of local.transcript) expect(output).not.toContain(secret);
    }
  }, 120_000);
  it("removes the units, releases, account, environment, site and database user when the app is disabled, and keeps the data", async () => {
    const mariadb = () => machine.ssh("systemctl show -p MainPID --value mariadb").trim();
    const mariadbBefore = mariadb();
    editApp(local, (app) => app.set("enabled", false));
    expect(changedSteps(local.pulumiOk(["preview", "--json"]).stdout).sort()).toEqual([
      "delete megaweb-orchestrator-orchestrator",
      "delete megaweb-orchestrator-orchestrator-web-1-artifact",
      "delete megaweb-orchestrator-orchestrator-web-1-database",
      "delete megaweb-orchestrator-orchestrator-web-1-environment",
      "delete megaweb-orchestrator-orchestrator-web-1-install",
      "delete megaweb-orchestrator-provisioning-web-1-site-orchestrator_megaweb_test",
      // The app's site is no longer watched: the log exporter drops its access log, Prometheus its site.
      "update megaweb-orchestrator-provisioning-web-1-exporters",
      "update megaweb-orchestrator-provisioning-web-1-monitoring",
      // The app's connection pools no longer count towards MariaDB's max_connections.
      "update megaweb-orchestrator-provisioning-web-1-mysql",
    ]);
    await timed("disable app up (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview"]));
    // The smaller size is applied to the running server, not by a restart.
    expect(mariadb()).toBe(mariadbBefore);
    const left = machine.ssh(
      [
        "systemctl list-unit-files --no-legend 'orchestrator-*' | wc -l",
        "ls /opt/megaweb/orchestrator /etc/megaweb/orchestrator.env /etc/nginx/sites-enabled/orchestrator_megaweb_test.conf 2>&1 | grep -c 'No such file'",
        "id _orchestrator 2>&1 | grep -c 'no such user'",
        "mariadb -N -e \"SELECT COUNT(*) FROM mysql.user WHERE user = 'megaweb'\"",
        'mariadb -N -e "SELECT COUNT(*) FROM megaweb.sessions"',
      ].join("; "),
    );
    const [unitFiles, missing, noUser, users, sessions] = left.trim().split("\n");
    expect({ unitFiles, missing, noUser, users }).toEqual({ unitFiles: "0", missing: "3", noUser: "1", users: "0" });
    expect(Number(sessions)).toBeGreaterThan(0);
    // nginx's default server now takes the name, and closes such connections without an answer (444).
    await expect(machine.get(domain, "/api/health")).rejects.toThrow(/socket hang up|ECONNRESET/);
  }, 300_000);
});

const fourRoles = ["web", "redis", "mysql", "worker"] as const;
/** Only the box is in the stack at first; the other three join when it grows to four servers. */
const four = new LocalStack("orchfour", "orchfour", join(repo, "test", "app-deploy", "fixtures", "Pulumi.orchestrator-four.yaml"), [
  "web",
  "none",
  "none",
  "none",
]);
const hosts = {} as Record<(typeof fourRoles)[number], Machine>;
/** The sessions made on the single box, before the growth. */
const madeOnTheBox: string[] = [];

/** A session made through the web host's nginx, resolved with its id only once the app answered 201. */
async function createSession(url: string, replicas = 2): Promise<string> {
  const created = await callApi(hosts.web, "POST", "/api/sessions", { url, target_replica_count: replicas });
  if (created.status !== 201) throw new Error(`HTTP ${created.status}: ${JSON.stringify(created.body).slice(0, 160)}`);
  return created.body.id as string;
}

describe.sequential("the orchestrator grown from the single box to four servers: web and worker on their own hosts", () => {
  beforeAll(async () => {
    four.destroy();
    await timed("four-server: machines and stack setup (s)", () => four.prepare());
    deployFromOwnBuild(four, apiToken);
    fourRoles.forEach((role, index) => (hosts[role] = four.machine(index)));
    four.pulumiOk(["config", "set", "megaweb:phase", "single"]);
    await timed("four-server: the single box first (pulumi up) (s)", () => four.pulumiOk(["up", "--yes", "--skip-preview"], 1200));
    for (let n = 0; n < 20; n++) madeOnTheBox.push(await createSession(`https://box-${n}.example`));
  }, 1_500_000);

  afterAll(() => {
    timings.save();
    four.destroyOk();
  }, 300_000);

  it("grows under a load of new sessions: every session made before and every one acknowledged during is on the MySQL host after", async () => {
    four.pulumiOk(["config", "set", "megaweb:phase", "four-server"]);
    for (const role of ["redis", "mysql", "worker"] as const)
      four.pulumiOk(["config", "set", "--path", `megaweb:hosts.${role}[0].address`, hosts[role].address]);
    // Two clients keep making sessions until the growth's `up` is over: the refused ones are the app's
    // window. About 8 a second, under the app's rate limit of 1,000 a minute from one address.
    const load = startLoad((n) => createSession(`https://growth-${n}.example`, 1), {
      maxOperations: 100_000,
      maxSeconds: 1200,
      concurrency: 2,
      pauseMs: 200,
      timeoutMs: 10_000,
    });
    await timed("four-server: growth from the single box (pulumi up) (s)", () => four.pulumiAsync(["up", "--yes", "--skip-preview"], 1200).finally(load.stop));
    const record = await load.done;
    const acknowledged = record.outcomes.filter((outcome) => outcome.ok).map((outcome) => outcome.value!);
    const onMysql = new Set(hosts.mysql.ssh("mariadb -N -B -e 'SELECT id FROM megaweb.sessions'").split("\n").filter(Boolean));
    const lost = [...madeOnTheBox, ...acknowledged].filter((id) => !onMysql.has(id));
    const figures = { ...summarize(record), sessionsBefore: madeOnTheBox.length, sessionsLost: lost.length };
    mkdirSync(join(repo, "test-output"), { recursive: true });
    writeFileSync(join(repo, "test-output", "e2e-orchestrator-growth.json"), `${JSON.stringify(figures, null, 2)}\n`);
    console.log("orchestrator growth figures:", figures);
    expect(lost).toEqual([]);
    expect(figures.acknowledged).toBeGreaterThan(0);
    // The app reads them there: the box's sessions keep their replicas.
    for (const id of madeOnTheBox.slice(0, 3)) {
      expect((await callApi(hosts.web, "GET", `/api/sessions/${id}`)).body).toMatchObject({ id, target_replica_count: 2 });
    }
  }, 1_500_000);

  it("runs the web process only on the web host and the worker only on the worker host, both on the remote MySQL and Redis", async () => {
    const unitsOn = (host: Machine) => host.ssh("systemctl list-units --no-legend --plain 'orchestrator-*' | awk '{print $1 \" \" $3}'").trim();
    expect(unitsOn(hosts.web)).toBe("orchestrator-web.service active");
    expect(unitsOn(hosts.worker)).toBe("orchestrator-worker.service active");
    expect(unitsOn(hosts.mysql)).toBe("");
    expect(unitsOn(hosts.redis)).toBe("");
    for (const host of [hosts.web, hosts.worker]) {
      const environment = host.ssh("grep -E '^MEGAWEB_(DB|REDIS)_URL=' /etc/megaweb/orchestrator.env");
      expect(environment).toContain(`@${hosts.mysql.address}:3306/megaweb`);
      expect(environment).toContain(`@${hosts.redis.address}:6379`);
    }
    const health = await callApi(hosts.web, "GET", "/api/health", undefined, null);
    expect(health).toMatchObject({ status: 200, body: { status: "healthy", database: "healthy", redis: "healthy" } });
  });

  it("lets the app's database user in from the web and worker hosts only", () => {
    const allowed = hosts.mysql.ssh("mariadb -N -e \"SELECT host FROM mysql.user WHERE user = 'megaweb'\"").trim().split("\n").sort();
    expect(allowed).toEqual([hosts.web.address, hosts.worker.address].sort());
  });

  it("has the worker host reconcile a session created through the web host", async () => {
    const created = await callApi(hosts.web, "POST", "/api/sessions", { url: "https://four.example", target_replica_count: 5 });
    expect(created.status).toBe(201);
    await eventually("5 active replicas", async () =>
      (await callApi(hosts.web, "GET", `/api/sessions/${created.body.id}`)).body.active_replica_count === 5 ? true : undefined,
    );
  }, 120_000);

  it("reports no changes on a second preview", async () => {
    await timed("four-server: no-change preview (s)", () => four.pulumiOk(["preview", "--expect-no-changes"]));
  }, 300_000);
});
