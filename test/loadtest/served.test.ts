import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { LoadTestReport } from "../../lib/loadtest/report";
import { renderWebHost, type WebHostRender } from "../../lib/render/files";
import { parseStack, type StackInput } from "../../lib/schema/stack";
import { megaweb } from "../cli/megaweb";
import { freePort, materialize, readLog, removeRoot, removeUsers, scratchRoot, startFpm, startNginx, writeHostFile, type Daemon } from "../daemons/harness";

/**
 * `megaweb loadtest` against Debian's nginx and php8.2-fpm serving a rendered host on 127.0.0.1,
 * the address the stack file lists as its existing web host. Runs are short and at low
 * concurrency (the machine is shared); nginx's access logs are the independent count.
 */

// gamma closes every connection after five requests, as nginx does after 1000 (keepalive_requests).
const sites = [
  { domain: "alpha.megaweb.test" },
  { domain: "beta.megaweb.test", kind: "static" as const },
  { domain: "gamma.megaweb.test", kind: "static" as const, nginxDirectives: "keepalive_requests 5;" },
];
const slugs = ["alpha_megaweb_test", "beta_megaweb_test", "gamma_megaweb_test"];
const existing = { target: "existing", hosts: { web: [{ address: "127.0.0.1" }] }, sites } satisfies StackInput;

let root: string;
let render: WebHostRender;
let port: number;
let stackFile: string;
const daemons: Daemon[] = [];
let createdUsers: string[] = [];

/** A stack file as `pulumi config` writes them: every key under `megaweb:`. */
function writeStackFile(name: string, input: Record<string, unknown>): string {
  const path = join(root, "stacks", `Pulumi.${name}.yaml`);
  mkdirSync(join(root, "stacks"), { recursive: true });
  writeFileSync(path, stringify({ config: Object.fromEntries(Object.entries(input).map(([key, value]) => [`megaweb:${key}`, value])) }));
  return path;
}

async function loadtest(...flags: string[]): Promise<{ code: number; report: LoadTestReport }> {
  const result = await megaweb("loadtest", stackFile, "--target", `127.0.0.1:${port}`, "--json", ...flags);
  expect(result.err).toEqual([]);
  return { code: result.code, report: JSON.parse(result.out.join("\n")) as LoadTestReport };
}

const accessLog = (slug: string) => join(root, `var/log/nginx/${slug}.access.log`);

/**
 * Requests nginx answered for a site, per `path status`. Requests still in flight when the run
 * stopped and closed its connections are logged as 499 (client closed) and left out.
 */
function logged(slug: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [, path, status] of readLog(accessLog(slug)).matchAll(/"GET (\S+) HTTP\/1\.1" (\d{3})/g)) {
    if (status !== "499") counts[`${path} ${status}`] = (counts[`${path} ${status}`] ?? 0) + 1;
  }
  return counts;
}
const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, count) => sum + count, 0);

beforeAll(async () => {
  root = scratchRoot("loadtest");
  port = await freePort();
  render = renderWebHost(parseStack(existing), {
    name: "web-1",
    memoryMb: 2048,
    roles: ["web"],
    phpVersions: ["8.2"],
    listenAddress: "127.0.0.1",
    ports: { http: port, https: await freePort() },
    root,
  });
  createdUsers = materialize(render, root);
  for (const site of render.sites) {
    const docroot = site.directories[1]!.path;
    const owner = `${site.account.user}:${site.account.group}`;
    if (site.domain === "alpha.megaweb.test") writeHostFile(join(docroot, "index.php"), `<?php echo "alpha ", $_SERVER["HTTP_HOST"], "\\n";`, "0644", owner);
    else {
      writeHostFile(join(docroot, "index.html"), "<h1>beta</h1>\n", "0644", owner);
      writeHostFile(join(docroot, "about.html"), "<p>about beta</p>\n", "0644", owner);
    }
  }
  daemons.push(await startFpm(root, "8.2"), await startNginx(root));
  stackFile = writeStackFile("loadtest", existing);
});

afterAll(async () => {
  for (const daemon of daemons.reverse()) await daemon.stop();
  removeUsers(createdUsers);
  removeRoot(root);
});

// nginx appends to its logs (O_APPEND), so emptying them gives each run its own count.
beforeEach(() => {
  for (const slug of slugs) writeFileSync(accessLog(slug), "");
});

describe("megaweb loadtest against nginx on the stack's own address", () => {
  it("reports answers, ordered percentiles and a 404 path's failures as nginx logged them", async () => {
    const { code, report } = await loadtest(
      "--site",
      "alpha.megaweb.test",
      "--path",
      "3=/",
      "--path",
      "/missing.php",
      "--connections",
      "4",
      "--duration",
      "3s",
    );
    expect(code).toBe(0);
    const { answered, failed, perSecond } = report.requests;
    expect(answered).toBeGreaterThan(100);
    expect(Object.keys(report.statusCodes).sort()).toEqual(["200", "404"]);
    expect(report.statusClasses["2xx"] + report.statusClasses["4xx"]).toBe(answered);
    expect(report.statusClasses["4xx"]).toBe(report.statusCodes["404"]);
    expect(report.errors).toEqual({});
    expect(failed).toBe(report.statusClasses["4xx"]);
    // One path in four 404s; the shared cycle keeps the split exact but for requests in flight at the stop.
    expect(Math.abs(failed - answered / 4)).toBeLessThanOrEqual(4);
    expect(report.errorRatePercent).toBeCloseTo((failed / answered) * 100, 6);
    expect(report.elapsedSeconds).toBeGreaterThanOrEqual(3);
    expect(report.elapsedSeconds).toBeLessThan(5);
    expect(perSecond).toBeCloseTo(answered / report.elapsedSeconds, 6);
    const { p50, p95, p99, max, mean } = report.latencyMs;
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThanOrEqual(p95);
    expect(p95).toBeLessThanOrEqual(p99);
    expect(p99).toBeLessThanOrEqual(max);
    expect(mean).toBeLessThanOrEqual(max);

    const alpha = logged("alpha_megaweb_test");
    expect(Object.keys(alpha).sort()).toEqual(["/ 200", "/missing.php 404"]);
    // nginx may log the few requests that were in flight when the run stopped, never fewer than were answered.
    expect(alpha["/ 200"]! - report.statusCodes["200"]!).toBeGreaterThanOrEqual(0);
    expect(alpha["/missing.php 404"]! - report.statusCodes["404"]!).toBeGreaterThanOrEqual(0);
    expect(total(alpha) - answered).toBeLessThanOrEqual(4);
    expect(total(logged("beta_megaweb_test")) + total(logged("gamma_megaweb_test"))).toBe(0);
  });

  it("sends every site's name as Host in turn and each path by its weight, as nginx's logs count them", async () => {
    const { report } = await loadtest("--path", "3=/", "--path", "/about.html", "--connections", "4", "--duration", "2s");
    expect(report.hosts).toEqual(["alpha.megaweb.test", "beta.megaweb.test", "gamma.megaweb.test"]);
    const perSite = slugs.map(logged);
    // alpha is PHP: /about.html is no file there, so its front controller answers it.
    for (const site of perSite) expect(Object.keys(site).sort()).toEqual(["/ 200", "/about.html 200"]);
    const totals = perSite.map(total);
    expect(Math.max(...totals) - Math.min(...totals)).toBeLessThanOrEqual(4);
    for (const site of perSite) expect(Math.abs(site["/ 200"]! - 3 * site["/about.html 200"]!)).toBeLessThanOrEqual(3 * 4);
    expect(totals.reduce((sum, count) => sum + count, 0) - report.requests.answered).toBeLessThanOrEqual(4);
  });

  it("opens a new connection when nginx closes one, so no request is lost, reset or mistimed", async () => {
    const { report } = await loadtest("--site", "gamma.megaweb.test", "--connections", "2", "--duration", "2s");
    const gamma = logged("gamma_megaweb_test");
    expect(report.requests.answered).toBeGreaterThan(2 * 5 * 10);
    expect(report.errors).toEqual({});
    expect(Object.keys(gamma)).toEqual(["/ 200"]);
    expect(gamma["/ 200"]! - report.requests.answered).toBeGreaterThanOrEqual(0);
    expect(gamma["/ 200"]! - report.requests.answered).toBeLessThanOrEqual(2);
    // Little's law: with every connection busy, requests in flight (rate × mean latency) stay at most the
    // connection count; a request timed from a lost predecessor's start would push it far above.
    expect(report.requests.perSecond * (report.latencyMs.mean / 1000)).toBeLessThanOrEqual(2 * 1.05);
  });

  it("exits 3 when a threshold breaks and 0 when all hold, naming the broken one", async () => {
    expect((await loadtest("--duration", "1s", "--connections", "2", "--max-p95", "5s", "--max-error-rate", "0%")).code).toBe(0);

    const slow = await megaweb("loadtest", stackFile, "--target", `127.0.0.1:${port}`, "--duration", "1s", "--connections", "2", "--max-p50", "0.001ms");
    expect(slow.code).toBe(3);
    expect(slow.out.find((line) => line.includes("--max-p50"))).toMatch(/^ {2}FAIL {8}--max-p50 0\.001 ms: \d+\.\d+ ms$/);
    expect(slow.out.at(-1)).toBe("  result      FAIL (1 of 1 thresholds broken)");

    const broken = await loadtest(
      "--site",
      "beta.megaweb.test",
      "--path",
      "/",
      "--path",
      "/gone.html",
      "--duration",
      "1s",
      "--connections",
      "2",
      "--max-error-rate",
      "1%",
    );
    expect(broken.code).toBe(3);
    expect(broken.report.thresholds).toEqual([{ flag: "--max-error-rate", limit: 1, actual: broken.report.errorRatePercent, unit: "%", passed: false }]);
    expect(broken.report.errorRatePercent).toBeGreaterThan(45);
  });

  it("refuses an address that is not the stack's before sending a request, and counts refused connections when told to go ahead", async () => {
    const foreign = `127.0.0.2:${port}`;
    const refused = await megaweb("loadtest", stackFile, "--target", foreign, "--duration", "1s");
    expect(refused.code).toBe(2);
    expect(refused.err[0]!.split("\n")[0]).toBe(
      "megaweb loadtest: --target: 127.0.0.2 is not one of the stack's addresses: 127.0.0.1 (endpoint, web-1); pass --allow-any-target to load-test it anyway",
    );
    expect(refused.out).toEqual([]);

    // nginx listens on 127.0.0.1 only, so every connection to 127.0.0.2 is refused.
    const allowed = await megaweb(
      "loadtest",
      stackFile,
      "--target",
      foreign,
      "--allow-any-target",
      "--duration",
      "1s",
      "--connections",
      "1",
      "--json",
      "--max-error-rate",
      "1%",
    );
    expect(allowed.code).toBe(3);
    expect(allowed.err).toEqual(["megaweb loadtest: 127.0.0.2 is not one of the stack's addresses; sending anyway (--allow-any-target)"]);
    const report = JSON.parse(allowed.out.join("\n")) as LoadTestReport;
    expect(report.requests.answered).toBe(0);
    expect(report.errors.ECONNREFUSED).toBeGreaterThan(0);
    expect(report.errorRatePercent).toBe(100);
    expect(total(logged("alpha_megaweb_test")) + total(logged("beta_megaweb_test"))).toBe(0);
  });

  it("takes a DigitalOcean stack's addresses from saved stack outputs", async () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMegawebTestKeyOnly ci";
    const onDigitalOcean = writeStackFile("deployed", { sshPublicKeys: [key], adminCidrs: ["198.51.100.0/24"], sites });
    const outputs = join(root, "outputs.json");
    writeFileSync(outputs, JSON.stringify({ endpoint: "127.0.0.1", addresses: { "web-1": { publicIp: "127.0.0.1", privateIp: "127.0.0.1" } } }));
    const run = await megaweb(
      "loadtest",
      onDigitalOcean,
      "--outputs",
      outputs,
      "--target",
      `127.0.0.1:${port}`,
      "--site",
      "beta.megaweb.test",
      "--duration",
      "1s",
      "--connections",
      "2",
    );
    expect(run.code).toBe(0);
    expect(run.out[3]).toMatch(/^ {2}requests {4}[\d,]+ answered in /);
    expect(total(logged("beta_megaweb_test"))).toBeGreaterThan(0);

    writeFileSync(outputs, JSON.stringify({ addresses: {} }));
    const undeployed = await megaweb("loadtest", onDigitalOcean, "--outputs", outputs, "--duration", "1s");
    expect(undeployed).toEqual({ code: 1, out: [], err: ["outputs of stack deployed: endpoint: is required"] });
  });
});
