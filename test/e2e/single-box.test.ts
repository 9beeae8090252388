import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { HeadlessChromium } from "../../app/test/support/chromium";
import { WebhookReceiver } from "../monitoring/loopback";
import { planRollback } from "../../lib/render/deploy";
import { eventually, startLoad, summarize } from "../faults/measure";
import { gradeHost } from "./hardening-grade";
import { LocalStack, type Machine, probePage, repo, Timings } from "./local-stack";
import { readSamplePage, SampleAppRepository, type SamplePage } from "../daemons/sample-app-repository";

/**
 * The single box end to end: the real engine runs stacks/ against a fresh local machine
 * (`target: existing`) with the committed local stack's three sites: two PHP sites on nginx with
 * different PHP settings, one behind Apache. The two nginx sites deploy the sample app
 * (examples/sample-php-app) from a git repository this test serves with `git daemon` on the
 * host's address on the machines' bridge, with a queue worker and a scheduled command. The box
 * monitors itself (windows of seconds, a webhook receiver in this process on the bridge) and is
 * hardened; Lynis and ssh-audit grade it.
 */

const sites = {
  shop: { domain: "shop.megaweb.test", user: "shop_megaweb_test", memoryLimit: "192M", maxExecutionTime: "30" },
  blog: { domain: "blog.megaweb.test", user: "blog_megaweb_test", memoryLimit: "96M", maxExecutionTime: "20" },
  legacy: { domain: "legacy.megaweb.test", user: "legacy_megaweb_test", memoryLimit: "128M", maxExecutionTime: "60" },
};
const fpmUnit = (user: string) => `php8.2-fpm-site@${user}.service`;

const codeSites = [sites.shop, sites.blog];

const local = new LocalStack("e2e", "e2e");
const timings = new Timings("e2e-timings.json");
const timed = timings.time;
let machine: Machine;
let webhook: WebhookReceiver;

/** The schema's monitoring with windows of seconds, so an alert arrives within a test's patience; thresholds stay the defaults. */
const monitoring = (webhookUrl: string) => ({
  windows: { scrapeInterval: "2s", evaluationInterval: "2s", rateWindow: "10s", resources: "4s", services: "4s" },
  notifications: { groupWait: "1s", groupInterval: "2s", repeatInterval: "1h" },
  receivers: { webhooks: [{ url: webhookUrl }] },
});
/** Seconds from each cause to its notice at the webhook, and from its removal to the resolved one. */
const arrivals: Record<string, { fired: number; resolved: number }> = {};

async function fireAndResolve(label: string, labels: Record<string, string>, cause: () => unknown, cure: () => unknown): Promise<void> {
  const caused = Date.now();
  cause();
  const fired = await webhook.arrival(labels, "firing", caused, 60_000);
  const cured = Date.now();
  cure();
  const resolved = await webhook.arrival(labels, "resolved", cured, 60_000);
  arrivals[label] = { fired, resolved };
}

/** Prometheus's answer to a query, asked on the box (its port answers to the monitoring role's hosts only). */
function promQuery(query: string): { metric: Record<string, string>; value: [number, string] }[] {
  const body = machine.ssh(`curl -fsS --get --data-urlencode ${JSON.stringify(`query=${query}`)} http://${machine.address}:9090/api/v1/query`);
  return (JSON.parse(body) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
}

/**
 * Prometheus's UI as an operator reaches it: its port answers the monitoring role's hosts only and
 * sshd forwards no ports, so each request the browser makes is asked on the box over SSH.
 */
async function viaSsh(page: Page, origin: string): Promise<void> {
  await page.route(`${origin}/**`, async (route) => {
    const request = route.request();
    const asked = `curl -sS -o "$body" -w '%{http_code}\t%{content_type}\t%{redirect_url}' -X ${request.method()} ${
      request.postData() === null ? "" : `-H 'Content-Type: ${request.headers()["content-type"]}' --data-binary @-`
    } ${JSON.stringify(request.url())}`;
    const answer = machine.ssh(`body=$(mktemp); ${asked}; echo; base64 -w0 "$body"; rm -f "$body"`, request.postData() ?? undefined);
    const [status, ...rest] = answer.split("\n");
    const [code, contentType, location] = status!.split("\t");
    await route.fulfill({
      status: Number(code),
      ...(contentType && { contentType }),
      ...(location && { headers: { location } }),
      body: Buffer.from(rest.join(""), "base64"),
    });
  });
}

/**
 * A Prometheus graph page of `expressions`, each over the last 24 hours; Debian builds only the
 * classic UI. At its default resolution for a day (one point per 345 s) a box minutes old has no
 * evaluation inside its data, and the page says "No datapoints found"; 10 s draws what there is.
 */
function graphUrl(origin: string, expressions: readonly string[]): string {
  const panels = expressions.flatMap((expression, index): [string, string][] => [
    [`g${index}.expr`, expression],
    [`g${index}.tab`, "0"],
    [`g${index}.range_input`, "1d"],
    [`g${index}.step_input`, "10"],
  ]);
  return `${origin}/classic/graph?${new URLSearchParams(panels).toString()}`;
}

let sampleApp: SampleAppRepository;

/** The demo's nginx sites with the sample app as their code, its queue worker and its scheduler. */
function deploySampleApp(): void {
  local.editSites((all) => {
    for (const site of all.filter((candidate) => codeSites.some((code) => code.domain === candidate.domain))) {
      site.code = { repository: sampleApp.url, migrate: "php bin/console migrate" };
      site.workers = [{ name: "queue", command: "php bin/console queue:work" }];
      site.schedule = [{ name: "scheduler", cron: "* * * * *", command: "php bin/console schedule:run" }];
    }
  });
}

/** The document root the probe goes in: a code site's live release, or the plain webroot. */
const documentRoot = (user: string) => (codeSites.some((site) => site.user === user) ? `/var/www/${user}/current/public` : `/var/www/${user}/public`);

function installProbe(user: string): void {
  machine.placePage(user, documentRoot(user), "probe.php", probePage);
}

interface AppPage extends SamplePage {
  readonly status: number;
}

async function appPage(domain: string): Promise<AppPage> {
  const answer = await machine.get(domain, "/");
  return { status: answer.status, ...readSamplePage(answer.body) };
}

async function probe(domain: string): Promise<Record<string, string>> {
  const response = await machine.get(domain, "/probe.php");
  expect(response.status, `${domain}/probe.php answered ${response.status}: ${response.body}`).toBe(200);
  return JSON.parse(response.body) as Record<string, string>;
}

/** Steps the engine would touch, as `type::name`, from `pulumi preview --json`. */
function changedSteps(previewJson: string): string[] {
  const preview = JSON.parse(previewJson) as { steps?: { op: string; urn: string }[] };
  return (preview.steps ?? []).filter((step) => step.op !== "same").map((step) => `${step.op} ${step.urn.split("::").pop()}`);
}

/** Main PID and start time of each unit: a restart changes both, a reload of the FPM master logs "Reloading". */
function unitIdentity(units: readonly string[]): string {
  return machine.ssh(units.map((unit) => `systemctl show -p MainPID -p ActiveEnterTimestampMonotonic ${unit}`).join("; "));
}

describe.sequential("the single box on a local machine, with the real engine", () => {
  beforeAll(async () => {
    local.destroy();
    await timed("bare machine to serving (s)", async () => {
      await timed("machine boot and stack setup (s)", () => local.prepare());
      const gateway = local.gateway();
      webhook = await WebhookReceiver.start(gateway);
      // The test host is the operators' network: SSH answers it alone, and fail2ban never bans it.
      local.setConfig("megaweb:adminCidrs", [`${gateway}/32`]);
      local.setConfig("megaweb:monitoring", monitoring(webhook.url));
      machine = local.machine();
      sampleApp = await SampleAppRepository.serve(gateway);
      deploySampleApp();
      await timed("first pulumi up (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview"], 1200));
    });
    for (const site of Object.values(sites)) installProbe(site.user);
  }, 1_500_000);

  afterAll(async () => {
    timings.save();
    mkdirSync(join(repo, "test-output"), { recursive: true });
    writeFileSync(join(repo, "test-output", "e2e-alert-arrivals.json"), `${JSON.stringify(arrivals, null, 2)}\n`);
    console.log("alert arrivals on the local machine (s from cause to webhook):", arrivals);
    await webhook?.stop();
    await sampleApp?.stop();
    local.destroyOk();
  }, 300_000);

  it("serves each site through its own pool with its own PHP settings, and MySQL and Redis work from PHP", async () => {
    for (const site of Object.values(sites)) {
      const seen = await probe(site.domain);
      expect(seen).toMatchObject({
        user: site.user,
        memory_limit: site.memoryLimit,
        max_execution_time: site.maxExecutionTime,
        mysql: "written by PHP",
        redis: "written by PHP",
      });
    }
    // The Apache site really went through Apache, behind nginx.
    expect(machine.ssh(`grep -c 'GET /probe.php' /var/log/apache2/${sites.legacy.user}.access.log`).trim()).not.toBe("0");
    expect(machine.ssh("systemctl is-active nginx apache2 mariadb redis-server").trim().split("\n")).toEqual(["active", "active", "active", "active"]);
  });

  it("brings back a site's PHP-FPM master killed as by a crash, and the site answers again", async () => {
    const unit = fpmUnit(sites.blog.user);
    const mainPid = () => machine.ssh(`systemctl show -p MainPID --value ${unit}`).trim();
    const killed = mainPid();
    await timed("site PHP-FPM master SIGKILL to serving again (s)", async () => {
      machine.ssh(`kill -KILL ${killed}`);
      // A worker of the killed master may still answer a moment: served again means a new master's.
      await eventually("the blog served by a new PHP-FPM master", async () => {
        const now = mainPid();
        if (now === killed || now === "0") return undefined;
        return (await machine.get(sites.blog.domain, "/probe.php")).status === 200 ? true : undefined;
      });
    });
    expect(machine.ssh(`systemctl is-active ${unit}`).trim()).toBe("active");
  });

  it("reports no changes on a second preview, and a no-change up changes nothing", async () => {
    await timed("no-change preview (s)", () => local.pulumiOk(["preview", "--expect-no-changes"]));
    const up = await timed("no-change up (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview", "--expect-no-changes"]));
    expect(up.stdout).not.toMatch(/updated|created|deleted|replaced/);
  }, 300_000);

  it("scrapes every exporter of the box over its private address", async () => {
    const expected = ["alertmanager", "mtail", "mysqld", "nginx", "node", "prometheus", "redis", "site-fpm"];
    let up: { metric: Record<string, string>; value: [number, string] }[] = [];
    for (let tries = 0; tries < 30; tries++) {
      up = promQuery("up");
      if (up.length > 0 && up.every((sample) => sample.value[1] === "1") && expected.every((job) => up.some((sample) => sample.metric.job === job))) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const seen = up.map((sample) => `${sample.metric.job} ${sample.metric.instance} ${sample.value[1]}`).sort();
    console.log("Prometheus targets:", seen);
    expect([...new Set(up.map((sample) => sample.metric.job))].sort()).toEqual(expect.arrayContaining(expected));
    expect(
      up.filter((sample) => sample.value[1] !== "1"),
      seen.join("\n"),
    ).toEqual([]);
    // Exporters are scraped on the private address; the blackbox probes the sites' pools through nginx on loopback.
    const exporters = up.filter((sample) => sample.metric.job !== "site-fpm");
    expect(exporters.filter((sample) => !sample.metric.instance!.startsWith(`${machine.address}:`))).toEqual([]);
  }, 60_000);

  it("sends an alert to the webhook when Redis stops, a site's pool stops or a disk fills, and resolves each when the cause is gone", async () => {
    await fireAndResolve(
      "RedisDown",
      { alertname: "RedisDown", host: "web-1" },
      () => machine.ssh("systemctl stop redis-server"),
      () => machine.ssh("systemctl start redis-server"),
    );
    await fireAndResolve(
      "PhpPoolDown",
      { alertname: "PhpPoolDown", site: sites.blog.domain },
      () => machine.ssh(`systemctl stop ${fpmUnit(sites.blog.user)}`),
      () => machine.ssh(`systemctl start ${fpmUnit(sites.blog.user)}`),
    );
    // A small ext4 of its own, so filling it fills nothing else: a loop device of this host,
    // mounted in the machine's mount namespace (the machine has no loop devices itself).
    const image = join(repo, "test-output", `${local.machineSet}-disk.img`);
    execFileSync("truncate", ["-s", "32M", image]);
    execFileSync("mkfs.ext4", ["-q", "-F", image]);
    const loop = execFileSync("losetup", ["-f", "--show", image], { encoding: "utf8" }).trim();
    const [major, minor] = execFileSync("stat", ["-c", "%t %T", loop], { encoding: "utf8" })
      .trim()
      .split(" ")
      .map((hex) => parseInt(hex, 16));
    const machinePid = local.machinePid();
    const inMachine = (script: string) => execFileSync("nsenter", ["-t", String(machinePid), "-m", "sh", "-c", script], { encoding: "utf8" });
    // /run is nodev in the machine; node_exporter leaves out mounts under /mnt, so it goes under /srv.
    inMachine(`mknod /dev/megaweb-fill b ${major} ${minor} && mkdir -p /srv/megaweb-fill && mount /dev/megaweb-fill /srv/megaweb-fill`);
    try {
      await fireAndResolve(
        "HostDiskFull (warning)",
        { alertname: "HostDiskFull", severity: "warning", host: "web-1", mountpoint: "/srv/megaweb-fill" },
        // 90 % of the filesystem as the rule counts it (root's reserved blocks as used): past the
        // warning (85 %), short of the critical (95 %), which would inhibit the warning.
        () =>
          machine.ssh(
            "fallocate -l $(( ($(stat -f -c '%a - %b * 10 / 100' /srv/megaweb-fill)) * $(stat -f -c %S /srv/megaweb-fill) )) /srv/megaweb-fill/ballast",
          ),
        () => machine.ssh("rm /srv/megaweb-fill/ballast"),
      );
    } finally {
      inMachine("umount /srv/megaweb-fill; rm -f /dev/megaweb-fill");
      execFileSync("losetup", ["-d", loop]);
      rmSync(image, { force: true });
    }
  }, 420_000);

  it("charts the last 24 hours per host and per site in Prometheus's UI, kept as screenshots", async () => {
    const origin = `http://${machine.address}:9090`;
    const browser = await HeadlessChromium.launch({ width: 1400, height: 900 });
    try {
      await viaSsh(browser.page, origin);
      const pages = {
        "monitoring-hosts-24h.png": ["host:cpu_utilisation:ratio", "host:memory_utilisation:ratio", 'host:filesystem_usage:ratio{mountpoint="/"}'],
        "monitoring-sites-24h.png": ["site:http_requests:rate", 'sum by (site, status_class) (rate(megaweb_http_responses_total{job="mtail"}[5m]))'],
      };
      for (const [name, expressions] of Object.entries(pages)) {
        // The classic UI loads its scripts through the SSH tunnel: on a loaded host past playwright's 30 s.
        await browser.page.goto(graphUrl(origin, expressions), { timeout: 120_000 });
        // Every panel drew a chart with a legend naming the series it charts.
        await expect.poll(() => browser.page.locator(".legend:has(.line)").count(), { timeout: 60_000 }).toBe(expressions.length);
        const legends = await browser.page.locator(".legend").allTextContents();
        console.log(`${name}: ${await browser.screenshot(name)}`);
        if (name.includes("hosts")) for (const legend of legends) expect(legend).toContain('host="web-1"');
        else expect(legends[0]).toEqual(expect.stringContaining(`site="${sites.shop.domain}"`));
      }
    } finally {
      await browser.close();
    }
  }, 420_000);

  it("grades the box: Lynis hardening index at least 75 without warnings, ssh-audit without failures or warnings", async () => {
    const grade = await gradeHost(machine, "single box (web, mysql, redis, worker, monitoring)");
    console.log("hardening of the single box:", JSON.stringify(grade));
    expect(grade.sshAudit).toEqual({ fail: [], warn: [] });
    expect(grade.lynis.warnings).toEqual([]);
    expect(grade.lynis.hardeningIndex).toBeGreaterThanOrEqual(75);
  }, 1_600_000);

  it("updates only the changed site's step for a memory_limit change, shows the changed line, and leaves other pools running", async () => {
    const others = [fpmUnit(sites.shop.user), fpmUnit(sites.legacy.user)];
    const before = unitIdentity(others);
    const reloadsBefore = machine.ssh(
      `cat /var/log/php8.2-fpm-${sites.shop.user}.log /var/log/php8.2-fpm-${sites.legacy.user}.log | grep -c Reloading || true`,
    );
    local.editSites((all) => {
      const blog = all.find((site) => site.domain === sites.blog.domain)!;
      (blog.php as Record<string, unknown>).memoryLimit = "160M";
    });

    const plan = local.pulumiOk(["preview", "--json"]);
    expect(changedSteps(plan.stdout)).toEqual(["update megaweb-e2e-provisioning-web-1-site-blog_megaweb_test"]);
    const diff = local.pulumiOk(["preview", "--diff"]);
    expect(diff.stdout).toMatch(/-\s+php_admin_value\[memory_limit\] = 96M/);
    expect(diff.stdout).toMatch(/\+\s+php_admin_value\[memory_limit\] = 160M/);

    local.pulumiOk(["up", "--yes", "--skip-preview"]);
    expect((await probe(sites.blog.domain)).memory_limit).toBe("160M");
    expect((await probe(sites.shop.domain)).memory_limit).toBe(sites.shop.memoryLimit);
    expect(unitIdentity(others)).toBe(before);
    expect(machine.ssh(`cat /var/log/php8.2-fpm-${sites.shop.user}.log /var/log/php8.2-fpm-${sites.legacy.user}.log | grep -c Reloading || true`)).toBe(
      reloadsBefore,
    );
  }, 600_000);

  it("fails the step of a site whose nginxDirectives nginx refuses, the previous config keeps serving, and a good snippet then serves", async () => {
    const served = (await probe(sites.blog.domain)).memory_limit;
    const vhost = `/etc/nginx/sites-enabled/${sites.blog.user}.conf`;
    const vhostBefore = machine.ssh(`cat ${vhost}`);
    // The memory_limit change rides along, so a served old value shows the whole step was rolled back, pool included.
    const editBlog = (nginxDirectives: string) =>
      local.editSites((all) => {
        const blog = all.find((site) => site.domain === sites.blog.domain)!;
        blog.nginxDirectives = nginxDirectives;
        (blog.php as Record<string, unknown>).memoryLimit = "112M";
      });
    editBlog("megaweb_no_such_directive on;");

    const failed = local.pulumi(["up", "--yes", "--skip-preview"]);
    expect(failed.status).not.toBe(0);
    const output = failed.stdout + failed.stderr;
    expect(output).toMatch(/\(megaweb-e2e-provisioning-web-1-site-blog_megaweb_test\):\s+error:/);
    expect(output).toContain(`unknown directive "megaweb_no_such_directive"`);
    expect(output).toContain("check failed: nginx -t; the previous configuration was restored and keeps serving");
    expect(machine.ssh(`cat ${vhost}`)).toBe(vhostBefore);
    expect((await probe(sites.blog.domain)).memory_limit).toBe(served);
    expect((await probe(sites.shop.domain)).user).toBe(sites.shop.user);

    editBlog('location = /megaweb-directive {\n    default_type text/plain;\n    return 200 "from nginxDirectives\\n";\n}');
    local.pulumiOk(["up", "--yes", "--skip-preview"]);
    expect(await machine.get(sites.blog.domain, "/megaweb-directive")).toMatchObject({ status: 200, body: "from nginxDirectives\n" });
    expect((await probe(sites.blog.domain)).memory_limit).toBe("112M");
  }, 600_000);

  it("keeps every generated password out of the stack export, command strings and the CLI's output", () => {
    const secrets = machine
      .ssh("cat /var/www/*/.env")
      .split("\n")
      .filter((line) => /^(DB|REDIS)_PASSWORD=/.test(line))
      .map((line) => line.slice(line.indexOf("=") + 1));
    expect(new Set(secrets).size).toBe(4); // three database users and Redis
    const privateKeyLine = readFileSync(`/var/lib/megaweb/machines/${local.machineSet}/id_ed25519`, "utf8").split("\n")[1]!;

    const exported = local.pulumiOk(["stack", "export"]).stdout;
    const resources = (JSON.parse(exported) as { deployment: { resources: { inputs?: Record<string, unknown> }[] } }).deployment.resources;
    const commandStrings = resources.flatMap((resource) =>
      [resource.inputs?.create, resource.inputs?.delete].filter((text): text is string => typeof text === "string"),
    );
    expect(commandStrings.length).toBeGreaterThan(10);
    for (const secret of [...secrets, privateKeyLine]) {
      expect(exported).not.toContain(secret);
      for (const text of commandStrings) expect(text).not.toContain(secret);
      for (const output of local.transcript) expect(output).not.toContain(secret);
    }
  }, 120_000);

  it("answers from outside the machine only on 22, 80 and 443", async () => {
    const listening = machine
      .ssh("ss -Hltn")
      .split("\n")
      .flatMap((line) => /:(\d+)\s/.exec(line.split(/\s+/)[3] + " ")?.[1] ?? [])
      .map(Number);
    // Loopback-only daemons are included on purpose: the firewall must hold even if one rebinds.
    const exporters = [3903, 9090, 9093, 9100, 9104, 9113, 9115, 9121];
    const candidates = [...new Set([...listening, 21, 25, 3306, 6379, 8080, 8088, 9000, 11211, ...exporters])].sort((a, b) => a - b);
    expect(listening).toEqual(expect.arrayContaining([22, 80, 3306, 6379, 8080, ...exporters]));
    const open = (await Promise.all(candidates.map(async (port) => ((await machine.answers(port)) ? port : undefined)))).filter((port) => port !== undefined);
    expect(open).toEqual([22, 80, 443].filter((port) => listening.includes(port)));
  });

  it("fails the step of a site whose certificate does not match its key, and the previous config keeps serving", async () => {
    const scratch = mkdtempSync(join(tmpdir(), "megaweb-tls-"));
    const openssl = (...args: string[]) => expect(spawnSync("openssl", args, { cwd: scratch, encoding: "utf8" }).status).toBe(0);
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${sites.shop.domain}`, "-days", "1", "-keyout", "right.key", "-out", "site.crt");
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "wrong.key");
    const shopIndex = 0;
    local.editSites((all) => {
      all[shopIndex]!.tls = { mode: "custom", certificate: readFileSync(join(scratch, "site.crt"), "utf8") };
    });
    const wrongKey = readFileSync(join(scratch, "wrong.key"), "utf8");
    local.setSecret(`megaweb:sites[${shopIndex}].tls.key`, wrongKey);

    const failed = local.pulumi(["up", "--yes", "--skip-preview"]);
    expect(failed.status).not.toBe(0);
    expect(failed.stdout + failed.stderr).toContain("check failed: nginx -t; the previous configuration was restored and keeps serving");
    expect((await probe(sites.shop.domain)).user).toBe(sites.shop.user);
    expect(machine.ssh(`grep -c ssl_certificate /etc/nginx/sites-enabled/${sites.shop.user}.conf || true`).trim()).toBe("0");
    const keyLine = wrongKey.split("\n")[1]!;
    expect(local.pulumiOk(["stack", "export"]).stdout).not.toContain(keyLine);
    for (const output of local.transcript) expect(output).not.toContain(keyLine);

    local.editSites((all) => {
      delete all[shopIndex]!.tls;
    });
    local.pulumiOk(["up", "--yes", "--skip-preview"]);
    expect((await probe(sites.shop.domain)).user).toBe(sites.shop.user);
  }, 600_000);

  it("removes a site's vhost, pool and user when it leaves the config, and the others keep serving", async () => {
    const mariadb = () => machine.ssh("systemctl show -p MainPID --value mariadb; mariadb -N -e 'SELECT @@GLOBAL.max_connections'").trim().split("\n");
    const [mariadbBefore, connectionsBefore] = mariadb();
    local.editSites((all) =>
      all.splice(
        all.findIndex((site) => site.domain === sites.legacy.domain),
        1,
      ),
    );
    const plan = local.pulumiOk(["preview", "--json"]);
    expect(changedSteps(plan.stdout).sort()).toEqual([
      "delete megaweb-e2e-provisioning-web-1-db-legacy_megaweb_test",
      "delete megaweb-e2e-provisioning-web-1-site-legacy_megaweb_test",
      "delete megaweb-e2e-provisioning-web-1-site-legacy_megaweb_test-env",
      // Its database's PHP workers no longer count towards MariaDB's max_connections.
      // Its access log and its pool's probe leave the exporters and Prometheus's targets.
      "update megaweb-e2e-provisioning-web-1-exporters",
      "update megaweb-e2e-provisioning-web-1-monitoring",
      "update megaweb-e2e-provisioning-web-1-mysql",
      // It was the only Apache site, so the host-wide Apache listener leaves the web tier's step.
      "update megaweb-e2e-provisioning-web-1-web",
    ]);
    local.pulumiOk(["up", "--yes", "--skip-preview"]);
    // The smaller size is applied to the running server: no restart cut the other sites' connections.
    const [mariadbAfter, connectionsAfter] = mariadb();
    expect(mariadbAfter).toBe(mariadbBefore);
    expect(Number(connectionsAfter)).toBe(Number(connectionsBefore) - 3);

    const left = machine.ssh(
      [
        `ls /etc/nginx/sites-enabled /etc/php/8.2/fpm/pool.d /etc/php/8.2/fpm/sites /etc/apache2/sites-enabled /var/www`,
        `id ${sites.legacy.user} 2>&1 || true`,
        `systemctl is-active ${fpmUnit(sites.legacy.user)} || true`,
      ].join("; "),
    );
    expect(left).not.toMatch(new RegExp(`${sites.legacy.user}\\.conf`));
    expect(left).toMatch(/no such user/);
    expect(left).toMatch(/inactive/);
    // nginx's default server closes the connection without an answer (444) for a name it does not serve.
    await expect(machine.get(sites.legacy.domain, "/probe.php")).rejects.toThrow("socket hang up");
    expect((await probe(sites.shop.domain)).user).toBe(sites.shop.user);
    expect((await probe(sites.blog.domain)).user).toBe(sites.blog.user);
  }, 600_000);
  it("serves the sample app on each code site: 200 with a page from the site's own database and Redis", async () => {
    const shop = [await appPage(sites.shop.domain), await appPage(sites.shop.domain)];
    const blog = await appPage(sites.blog.domain);
    expect(shop.map((page) => [page.status, page.version, page.greetings])).toEqual([
      [200, "1.0.0", 3],
      [200, "1.0.0", 3],
    ]);
    // Page views count per site in the one Redis: each site's keys carry its own prefix.
    expect(shop[1]!.views).toBe(shop[0]!.views! + 1);
    expect(blog).toMatchObject({ status: 200, version: "1.0.0", greetings: 3, views: 1 });
    // The migration ran once per site, into each site's own database.
    const migrated = machine.ssh("mariadb -N -e \"SELECT table_schema FROM information_schema.tables WHERE table_name = 'greetings' ORDER BY 1\"");
    expect(migrated.trim().split("\n")).toHaveLength(2);
  });

  it("runs a job the site pushed on the site's queue worker, and the scheduled command leaves its mark", async () => {
    const worker = `megaweb-worker-${sites.shop.user}_queue@1.service`;
    const timer = `megaweb-schedule-${sites.shop.user}_scheduler.timer`;
    expect(machine.ssh(`systemctl is-active ${worker}`).trim()).toBe("active");
    const jobsBefore = (await appPage(sites.shop.domain)).jobs!;
    expect((await machine.request("POST", sites.shop.domain, "/jobs")).status).toBeLessThan(300);
    await eventually("the worker to run the pushed job", async () => ((await appPage(sites.shop.domain)).jobs === jobsBefore + 1 ? true : undefined), 30);
    expect(machine.ssh(`systemctl is-active ${timer}`).trim()).toBe("active");
    // The timer fires each minute; the first up took longer than that, so a run has happened or is due.
    const mark = await eventually("the scheduled command's mark", async () => (await appPage(sites.shop.domain)).schedule || undefined, 90);
    expect(mark).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }, 180_000);

  it("deploys a new commit through pulumi up under a bounded load with no failed request, and only that site's deploy runs", async () => {
    const commit = sampleApp.commitVersion("1.1.0");
    local.editSites((all) => {
      const shop = all.find((site) => site.domain === sites.shop.domain)! as { code: Record<string, unknown> };
      shop.code.ref = commit;
    });
    const load = startLoad(
      async () => {
        const answer = await machine.get(sites.shop.domain, "/");
        if (answer.status !== 200) throw new Error(`HTTP ${answer.status}`);
        return /<span id="version">([^<]*)<\/span>/.exec(answer.body)?.[1];
      },
      { maxOperations: 50_000, maxSeconds: 300, concurrency: 4, pauseMs: 20, timeoutMs: 10_000 },
    );
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const up = await timings.time("deploy of a new commit, pulumi up (s)", () => local.pulumiAsync(["up", "--yes", "--skip-preview"]));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    load.stop();
    const record = await load.done;
    const summary = summarize(record);
    Object.assign(timings.seconds, {
      "requests during the deploy": summary.operations,
      "failed requests during the deploy": summary.failed,
    });
    expect(summary.errors).toEqual({});
    expect(summary.failed).toBe(0);
    expect(summary.operations).toBeGreaterThan(100);
    expect(new Set(record.outcomes.map((outcome) => outcome.value))).toEqual(new Set(["1.0.0", "1.1.0"]));
    expect(up.stdout).toMatch(/site-shop_megaweb_test-deploy/);
    expect(up.stdout).not.toMatch(/site-blog_megaweb_test-deploy/);
    expect((await appPage(sites.shop.domain)).version).toBe("1.1.0");
    expect((await appPage(sites.blog.domain)).version).toBe("1.0.0");
  }, 600_000);

  it("rolls back with a config change: the release megaweb-deploy --list shows before the live one, pinned in code.release", async () => {
    const shopIndex = 0;
    const rollback = planRollback(shopIndex, machine.ssh(`megaweb-deploy ${sites.shop.user} --list`));
    if (rollback instanceof Error) throw rollback;
    expect(rollback.configPath).toBe(`sites[${shopIndex}].code.release`);
    local.editSites((all) => {
      (all[shopIndex] as { code: Record<string, unknown> }).code.release = rollback.release;
    });
    await timings.time("rollback, pulumi up (s)", () => local.pulumiAsync(["up", "--yes", "--skip-preview"]));
    expect((await appPage(sites.shop.domain)).version).toBe("1.0.0");
    expect(machine.ssh(`readlink /var/www/${sites.shop.user}/current`).trim()).toBe(`releases/${rollback.release}`);
  }, 600_000);
});
