import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planRollback } from "../../lib/render/deploy";
import { eventually, startLoad, summarize, type LoadSummary } from "../faults/measure";
import { buildApp, deployFromOwnBuild, rebuilt } from "./app-build";
import { gradeHost } from "./hardening-grade";
import { killProcessesNamed, LocalStack, type Machine, memoryOf, restartAfterKill, Timings } from "./local-stack";
import { readSamplePage, SampleAppRepository } from "../daemons/sample-app-repository";
import { installNmap, openPorts, portsOf } from "./port-scan";

/**
 * The horizontal phase on local machines through the real engine: an HAProxy load balancer, three
 * web nodes, MySQL, Redis and a worker, from bare machines to serving with one `pulumi up`. Then
 * the balancer's promises under faults caused while a bounded load runs, a site's releases rolled
 * node by node under load, growth to a fourth web node, and the firewall matrix as nmap sees it
 * from outside the cluster and from each role.
 */

/**
 * A role per machine. The `none` machine stays out of the stack at first: a client outside the
 * cluster (denied by shop, scanning the firewalls), then the fourth web node the cluster grows into.
 */
const roles = ["loadbalancer", "web", "web", "web", "mysql", "redis", "worker", "none"] as const;
const local = new LocalStack("horiz", "horizontal", join(__dirname, "fixtures", "Pulumi.horizontal.yaml"), roles);
const timings = new Timings("e2e-horizontal-timings.json");
const figures: Record<string, unknown> = {};

let lb: Machine;
let webs: Machine[];
let mysql: Machine;
let redis: Machine;
let worker: Machine;
/** Outside the cluster until the growth test makes it web-4. */
let outside: Machine;
let gateway: string;

const shop = "shop.megaweb.test";
const account = "account.megaweb.test";
const sites = [shop, account] as const;
/** Deploys the sample app from a repository this test serves. */
const app = "app.megaweb.test";
let sampleApp: SampleAppRepository;
const orchestrator = "orchestrator.megaweb.test";
const docroot = (domain: string) => `/var/www/${domain.replaceAll(".", "_")}/public`;
const siteUser = (domain: string) => domain.replaceAll(".", "_");

/** What each site's probe answers: the node, the client address nginx saw, and the session. */
const probe = `<?php
header("Content-Type: application/json");
if (isset($_GET["session"])) {
    if (isset($_GET["id"])) session_id($_GET["id"]);
    session_start();
    if (isset($_GET["set"])) $_SESSION["value"] = $_GET["set"];
}
echo json_encode(["node" => gethostname(), "client" => $_SERVER["REMOTE_ADDR"], "id" => session_id(), "value" => $_SESSION["value"] ?? null]);
`;

interface ProbeAnswer {
  node: string;
  client: string;
  id: string;
  value: string | null;
}

async function throughBalancer(domain: string, path: string): Promise<ProbeAnswer> {
  const answer = await lb.get(domain, path);
  if (answer.status !== 200) throw new Error(`${domain}${path} answered ${answer.status}`);
  return JSON.parse(answer.body) as ProbeAnswer;
}

/** The web_http servers' states, from HAProxy's stats socket. */
async function serverStates(): Promise<Record<string, string>> {
  return parseServerStates(await lb.sshAsync(`echo 'show stat' | ${socatAdmin}`));
}

const socatAdmin = "socat stdio /run/haproxy/admin.sock";

function parseServerStates(csv: string): Record<string, string> {
  const rows = csv.split("\n").map((line) => line.split(","));
  const header = rows[0]!.map((cell) => cell.replace(/^# /, ""));
  const column = (name: string) => header.indexOf(name);
  return Object.fromEntries(
    rows
      .filter((row) => row[column("pxname")] === "web_http" && /^web-\d+$/.test(row[column("svname")] ?? ""))
      .map((row) => [row[column("svname")], row[column("status")]]),
  );
}

/**
 * Causes `fault` on web-2 three seconds into a bounded load through the balancer, and measures
 * the failed requests and how long web-2 stayed in the pool after the fault.
 */
async function underLoad(fault: string): Promise<LoadSummary & { secondsToLeavePool: number }> {
  const load = startLoad(() => throughBalancer(shop, "/probe.php"), { maxOperations: 3000, maxSeconds: 25, concurrency: 4, pauseMs: 20, timeoutMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const faultAt = Date.now();
  await webs[1]!.sshAsync(fault);
  await eventually("web-2 leaves the pool", async () => ((await serverStates())["web-2"]?.startsWith("DOWN") ? true : undefined), 30);
  const secondsToLeavePool = Math.round((Date.now() - faultAt) / 100) / 10;
  const summary = summarize(await load.done);
  return { ...summary, secondsToLeavePool };
}

async function allUp(count: number): Promise<void> {
  await eventually(`${count} web nodes up`, async () => {
    const states = Object.values(await serverStates());
    return states.length === count && states.every((state) => state === "UP") ? true : undefined;
  });
}

function installProbes(machine: Machine): void {
  for (const domain of sites) {
    machine.placePage(siteUser(domain), docroot(domain), "probe.php", probe);
  }
}

/** Steps the engine would touch, as `op name`, from `pulumi preview --json`. */
function plannedChanges(previewJson: string): string[] {
  const preview = JSON.parse(previewJson) as { steps?: { op: string; urn: string }[] };
  return (preview.steps ?? []).filter((step) => step.op !== "same").map((step) => `${step.op} ${step.urn.split("::").pop()}`);
}

/** The sample app's version, through the balancer. */
async function appVersion(): Promise<string | undefined> {
  const answer = await lb.get(app, "/");
  if (answer.status !== 200) throw new Error(`${app}/ answered ${answer.status}`);
  return readSamplePage(answer.body).version;
}

const liveRelease = (web: Machine) => web.ssh(`readlink /var/www/${siteUser(app)}/current`).trim();

/** Edits the app site's `code` in the stack file. */
function editCode(edit: (code: Record<string, unknown>) => void): void {
  local.editSites((config) => edit(config.find((site) => site.domain === app)!.code as Record<string, unknown>));
}

/** Nine answers through the balancer (three rounds of the three nodes) at `version`, and one live release on every node. */
async function expectVersionEverywhere(version: string): Promise<void> {
  expect(await Promise.all(Array.from({ length: 9 }, () => appVersion()))).toEqual(Array.from({ length: 9 }, () => version));
  expect(new Set(webs.map((web) => liveRelease(web))).size).toBe(1);
}

/**
 * Makes a change with `change`, then runs `pulumi up` under a bounded load of `request` through
 * the balancer while HAProxy's server states are sampled every 200 ms: the `up`'s time, failed
 * requests, how long each node was drained, and the most drained at once.
 */
async function rollUnderLoad(change: () => void, request: () => Promise<unknown>) {
  change();
  const load = startLoad(request, { maxOperations: 100_000, maxSeconds: 600, concurrency: 4, pauseMs: 20, timeoutMs: 10_000 });
  // HAProxy's states are sampled on the balancer itself: over SSH from a loaded host one sample
  // took seconds, and a node drained for less than that went unseen.
  const samples = "/run/megaweb-drain-samples";
  const sampler = (
    await lb.sshAsync(
      `nohup sh -c 'while :; do echo "@$(date +%s%3N)"; echo "show stat" | ${socatAdmin}; sleep 0.2; done' >${samples} 2>&1 </dev/null & echo $!`,
    )
  ).trim();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const startedAt = Date.now();
  try {
    await local.pulumiAsync(["up", "--yes", "--skip-preview"], 900);
  } finally {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    load.stop();
    await lb.sshAsync(`kill ${sampler}`);
  }
  const drainedSamples = (await lb.sshAsync(`cat ${samples}; rm -f ${samples}`))
    .split(/^@/m)
    .filter((sample) => sample.trim() !== "")
    .map((sample) => {
      const [at, ...csv] = sample.split("\n");
      const states = parseServerStates(csv.join("\n"));
      return { at: Number(at), drained: Object.entries(states).flatMap(([name, state]) => (state.startsWith("DRAIN") ? [name] : [])) };
    });
  const upSeconds = (Date.now() - startedAt) / 1000;
  const summary = summarize(await load.done);
  const secondsDrained: Record<string, number> = {};
  for (const [index, sample] of drainedSamples.entries()) {
    const next = drainedSamples[index + 1];
    if (next === undefined) break;
    for (const name of sample.drained) secondsDrained[name] = Math.round(((secondsDrained[name] ?? 0) + (next.at - sample.at) / 1000) * 10) / 10;
  }
  return {
    upSeconds,
    requests: summary.operations,
    failed: summary.failed,
    errors: summary.errors,
    secondsDrained,
    mostDrainedAtOnce: Math.max(...drainedSamples.map((sample) => sample.drained.length)),
  };
}

/** Resources of the engine's output that it created, updated, replaced or deleted. */
function changedResources(output: string): string[] {
  return [...output.matchAll(/^\s*[-+~]+\s+\S+\s+(\S+)\s+(created|updated|replaced|deleted)\b/gm)].map((match) => `${match[1]} ${match[2]}`);
}

describe.sequential("the horizontal phase on local machines, with the real engine", () => {
  beforeAll(async () => {
    local.destroy();
    await timings.time("app build", buildApp);
    await timings.time("machines booted (8, in parallel)", () => local.prepare());
    deployFromOwnBuild(local, randomBytes(24).toString("hex"));
    const hosts = JSON.parse(readFileSync(`/var/lib/megaweb/machines/${local.machineSet}/hosts.json`, "utf8")) as { gateway: string };
    gateway = hosts.gateway;
    [lb, ...webs] = [0, 1, 2, 3].map((index) => local.machine(index)) as [Machine, ...Machine[]];
    [mysql, redis, worker, outside] = [4, 5, 6, 7].map((index) => local.machine(index)) as [Machine, Machine, Machine, Machine];
    // SSH only from the machine running Pulumi, so a scan from elsewhere finds it shut.
    local.pulumiOk(["config", "set", "--path", "megaweb:adminCidrs[0]", `${gateway}/32`]);
    sampleApp = await SampleAppRepository.serve(gateway);
    local.editSites((config) => {
      config[0]!.access = { deny: [outside.address] };
      config.find((site) => site.domain === app)!.code = { repository: sampleApp.url, migrate: "php bin/console migrate" };
    });
    // The client outside the cluster gets its tools while the cluster comes up (its output is not read, so nothing waits on it).
    const outsideTools = outside.sshAsync("apt-get update -qq && apt-get install -y -qq --no-install-recommends nmap curl >/dev/null", 900_000);
    await timings.time("bare to serving (pulumi up)", () => local.pulumiOk(["up", "--yes", "--skip-preview"], 1500));
    for (const web of webs) installProbes(web);
    await Promise.all([outsideTools, lb.sshAsync("apt-get install -y -qq --no-install-recommends socat >/dev/null", 300_000)]);
    await allUp(3);
  }, 1_800_000);

  afterAll(async () => {
    if (lb !== undefined) figures.memory = memoryOf([...new Set([lb, ...webs, outside, mysql, redis, worker])]);
    console.log("horizontal figures:", JSON.stringify(figures, null, 2));
    timings.save();
    await sampleApp?.stop();
    local.destroyOk();
  }, 300_000);

  it("serves through HAProxy from every web node, each seeing the client's own address", async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => throughBalancer(shop, "/probe.php")));
    expect(new Set(answers.map((answer) => answer.node)).size).toBe(3);
    for (const answer of answers) expect(answer.client).toBe(gateway);
    const config = lb.ssh("cat /etc/haproxy/haproxy.cfg");
    expect(config).toMatch(/^ {4}maxconn 99\d\d$/m);
  });

  it("keeps a denied client denied through the balancer, whatever X-Forwarded-For it sends", () => {
    const status = (headers: string) =>
      outside.ssh(`curl -s -o /dev/null -w '%{http_code}' ${headers} -H 'Host: ${shop}' http://${lb.address}/probe.php`).trim();
    expect(status("")).toBe("403");
    expect(status(`-H 'X-Forwarded-For: ${gateway}'`)).toBe("403");
    expect(outside.ssh(`curl -s -o /dev/null -w '%{http_code}' -H 'Host: ${account}' http://${lb.address}/probe.php`).trim()).toBe("200");
  });

  it("reads a session written through one node from the others, and from the sibling site sharing its cookie", async () => {
    const written = await throughBalancer(shop, "/probe.php?session=1&set=written-by-shop");
    const reads = [];
    for (let read = 0; read < 6; read++) reads.push(await throughBalancer(read % 2 === 0 ? shop : account, `/probe.php?session=1&id=${written.id}`));
    expect(reads.filter((read) => read.node !== written.node).length).toBeGreaterThan(0);
    for (const read of reads) expect(read).toMatchObject({ id: written.id, value: "written-by-shop" });
    // The Redis password is in no process's command line, and its file is root's alone ([h]: the pattern does not match this command's own line).
    const passwordSeen = webs[0]!.ssh(`pgrep -fa 'aut[h]=' | wc -l; stat -c '%a %U' /etc/php/8.2/fpm/sessions/${siteUser(shop)}.conf`);
    expect(passwordSeen.trim().split("\n")).toEqual(["0", "600 root"]);
  });

  it("takes a node whose PHP-FPM stops out of the pool under load, with at most 1 % of requests failed", async () => {
    const result = await underLoad(`systemctl stop php8.2-fpm-site@${siteUser(shop)}`);
    figures.fpmStopped = result;
    expect(result.failureRate).toBeLessThanOrEqual(0.01);
    await webs[1]!.sshAsync(`systemctl start php8.2-fpm-site@${siteUser(shop)}`);
    await allUp(3);
  }, 120_000);

  it("takes a killed web node (nginx and PHP-FPM SIGKILLed) out of the pool under load, with at most 1 % of requests failed", async () => {
    const kill = killProcessesNamed(["nginx", "php-fpm8.2"]);
    try {
      const result = await underLoad(kill);
      figures.webNodeKilled = result;
      expect(result.failureRate).toBeLessThanOrEqual(0.01);
    } finally {
      // Back in the pool even when the fault's figures fail, so the growth test starts from 3 nodes up.
      await restartAfterKill(webs[1]!, ["nginx", ...[...sites, app].map((domain) => `php8.2-fpm-site@${siteUser(domain)}`)]);
    }
    await allUp(3);
  }, 120_000);

  it("answers from outside the cluster only on HTTP and HTTPS at the load balancer", async () => {
    expect(await openPorts(outside, [lb, ...webs, mysql, redis, worker])).toEqual(portsOf([lb], [80, 443]));
  }, 300_000);

  it("answers the operators' CIDR (this host) on SSH everywhere, and on HTTP only at the load balancer", async () => {
    const cluster = [lb, ...webs, mysql, redis, worker];
    expect(await openPorts("this host", cluster)).toEqual([...portsOf(cluster, [22]), ...portsOf([lb], [80, 443])].sort());
  }, 300_000);

  it("lets each role reach exactly what the firewall matrix gives it: MySQL and Redis only from their clients", async () => {
    const everyone = [lb, ...webs, mysql, redis, worker];
    await installNmap(everyone);
    const from = (machine: Machine) =>
      openPorts(
        machine,
        everyone.filter((other) => other !== machine),
      );
    const balancer = portsOf([lb], [80, 443]);
    const data = [...balancer, ...portsOf([mysql], [3306]), ...portsOf([redis], [6379])].sort();
    // The balancer alone reaches the web nodes' agents.
    expect(await from(lb)).toEqual(portsOf(webs, [80, 443, 9777]));
    expect(await from(webs[0]!)).toEqual(data);
    expect(await from(worker)).toEqual(data);
    expect(await from(mysql)).toEqual(balancer);
    expect(await from(redis)).toEqual(balancer);
  }, 600_000);

  it("serves the sample app from every node, at the release each node's deploy put live", async () => {
    const pages = await Promise.all(Array.from({ length: 6 }, () => appVersion()));
    expect(pages).toEqual(Array.from({ length: 6 }, () => "1.0.0"));
    expect(new Set(webs.map((web) => liveRelease(web))).size).toBe(1);
  });

  it("rolls a new release node by node under load: no failed request, one node drained at a time, every node on the new release", async () => {
    const rolled = await rollUnderLoad(() => editCode((code) => (code.ref = sampleApp.commitVersion("1.1.0"))), appVersion);
    await expectVersionEverywhere("1.1.0");
    figures.rollingDeploy = rolled;
    expect(rolled.failed).toBe(0);
    expect(rolled.mostDrainedAtOnce).toBe(1);
    expect(Object.keys(rolled.secondsDrained).sort()).toEqual(["web-1", "web-2", "web-3"]);
  }, 900_000);

  it("rolls back the same way, by pinning the release live before", async () => {
    const listing = await webs[0]!.sshAsync(`megaweb-deploy ${siteUser(app)} --list`);
    const rollback = planRollback(2, listing);
    if (rollback instanceof Error) throw rollback;
    const rolled = await rollUnderLoad(() => editCode((code) => (code.release = rollback.release)), appVersion);
    await expectVersionEverywhere("1.0.0");
    figures.rollingRollback = rolled;
    expect(rolled.failed).toBe(0);
    expect(rolled.mostDrainedAtOnce).toBe(1);
    for (const web of webs) expect(liveRelease(web)).toBe(`releases/${rollback.release}`);
    // The pin names a release only these nodes have built; a node added later builds from a ref.
    // Back to a ref that makes the same release: no node deploys anything.
    editCode((code) => {
      delete code.release;
      code.ref = sampleApp.commits.get("1.0.0");
    });
    await local.pulumiAsync(["up", "--yes", "--skip-preview"], 900);
    for (const web of webs) expect(liveRelease(web)).toBe(`releases/${rollback.release}`);
  }, 900_000);

  it("rolls a new build of the orchestrator node by node under load: no failed request, one node drained at a time", async () => {
    // The release each machine's unit runs from.
    const releases = () =>
      Promise.all(
        [...webs, worker].map(async (machine) =>
          (
            await machine.sshAsync(
              "systemctl show -p ExecStart --value orchestrator-web orchestrator-worker | grep -o '/opt/megaweb/orchestrator/[^/ ]*' | head -n 1",
            )
          ).trim(),
        ),
      );
    const before = await releases();
    const rolled = await rollUnderLoad(
      () => {
        const build = rebuilt(local, "second-build", (root) => writeFileSync(join(root, "BUILD"), "second\n"));
        local.pulumiOk(["config", "set", "--path", "megaweb:app.artifact", build]);
      },
      async () => {
        const answer = await lb.get(orchestrator, "/api/health");
        if (answer.status !== 200) throw new Error(`${orchestrator}/api/health answered ${answer.status}`);
        return answer.status;
      },
    );
    figures.rollingAppDeploy = rolled;
    expect(rolled.failed).toBe(0);
    expect(rolled.mostDrainedAtOnce).toBe(1);
    expect(Object.keys(rolled.secondsDrained).sort()).toEqual(["web-1", "web-2", "web-3"]);
    const after = await releases();
    for (const [index, release] of after.entries()) expect(release).not.toBe(before[index]);
    expect(new Set(after).size).toBe(1);
  }, 900_000);

  it("scrapes every host of the cluster from the worker's Prometheus, over the private network", async () => {
    type Sample = { metric: Record<string, string>; value: [number, string] };
    const hosts = [lb, ...webs, mysql, redis, worker].map((machine) => machine.address).sort();
    let up: Sample[] = [];
    const nodeHosts = () => [...new Set(up.filter((sample) => sample.metric.job === "node").map((sample) => sample.metric.instance!.split(":")[0]!))].sort();
    await eventually(
      "every target of the worker's Prometheus up",
      async () => {
        const body = await worker.sshAsync(`curl -fsS http://${worker.address}:9090/api/v1/query?query=up`);
        up = (JSON.parse(body) as { data: { result: Sample[] } }).data.result;
        return up.every((sample) => sample.value[1] === "1") && nodeHosts().join() === hosts.join() ? true : undefined;
      },
      120,
    ).catch(() => undefined);
    const jobs = [...new Set(up.map((sample) => sample.metric.job))].sort();
    figures.scraped = { targets: up.length, jobs };
    expect(up.filter((sample) => sample.value[1] !== "1").map((sample) => `${sample.metric.job} ${sample.metric.instance}`)).toEqual([]);
    expect(nodeHosts()).toEqual(hosts);
    expect(jobs).toEqual(expect.arrayContaining(["mtail", "mysqld", "nginx", "node", "redis", "site-fpm"]));
  }, 200_000);

  it("grows from 3 to 4 web nodes: one more host and backend, and no step of the other web nodes runs again", async () => {
    local.pulumiOk(["config", "set", "--path", "megaweb:nodes.web", "4"]);
    local.pulumiOk(["config", "set", "--path", "megaweb:hosts.web[3].address", outside.address]);
    // What the engine plans, then what it did: nothing of web-1..3 in either.
    const planned = plannedChanges(local.pulumiOk(["preview", "--json"]).stdout);
    figures.growthPlanned = planned;
    expect(planned.filter((change) => change.startsWith("create ") && !/-web-4-/.test(change))).toEqual([]);
    expect(planned.filter((change) => /-web-[123]-/.test(change))).toEqual([]);
    expect(planned).toContain("update megaweb-horizontal-provisioning-loadbalancer-1-haproxy");
    const result = await timings.time("grow to 4 web nodes (pulumi up)", () => local.pulumiOk(["up", "--yes", "--skip-preview"], 1200));
    const changed = changedResources(result.stdout);
    expect(changed.filter((change) => /-web-[123]-/.test(change))).toEqual([]);
    expect(changed).toContain("megaweb-horizontal-provisioning-loadbalancer-1-haproxy updated");
    webs.push(outside);
    installProbes(outside);
    await allUp(4);
    const answers = await Promise.all(Array.from({ length: 8 }, () => throughBalancer(shop, "/probe.php")));
    expect(new Set(answers.map((answer) => answer.node)).size).toBe(4);
  }, 1_300_000);

  it("grades every role's host: Lynis hardening index at least 75 without warnings, ssh-audit without failures or warnings", async () => {
    // The roles side by side: Lynis takes minutes per host, mostly waiting on its own checks.
    const grades = await Promise.all([
      gradeHost(lb, "loadbalancer"),
      gradeHost(webs[0]!, "web"),
      gradeHost(mysql, "mysql"),
      gradeHost(redis, "redis"),
      gradeHost(worker, "worker (with monitoring)"),
    ]);
    console.log(
      "hardening per role:",
      JSON.stringify(grades.map(({ role, lynis, sshAudit }) => ({ role, index: lynis.hardeningIndex, warnings: lynis.warnings, sshAudit }))),
    );
    for (const grade of grades) {
      expect(grade.sshAudit, grade.role).toEqual({ fail: [], warn: [] });
      expect(grade.lynis.warnings, grade.role).toEqual([]);
      expect(grade.lynis.hardeningIndex, grade.role).toBeGreaterThanOrEqual(75);
    }
  }, 1_600_000);

  it("changes nothing on a second up", async () => {
    await timings.time("no-change up", () => local.pulumiOk(["up", "--yes", "--skip-preview", "--expect-no-changes"], 600));
  }, 700_000);
});
