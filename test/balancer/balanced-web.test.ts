import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBackends, startOrchestrator, type Backends, type RunningOrchestrator } from "../../app/test/support/orchestrator";
import { sizeHaproxyLimits } from "../../lib/plan/haproxy-limits";
import { renderBalancedWeb } from "../../lib/render/balanced-web";
import { renderBalancerAgent } from "../../lib/render/balancer-agent";
import { resolveWebHost } from "../../lib/render/context";
import { renderWebHost } from "../../lib/render/files";
import { checkWindowMs, renderWebBackends } from "../../lib/render/haproxy-backends";
import { parseStack } from "../../lib/schema/stack";
import {
  fetchFrom,
  freePort,
  materialize,
  removeRoot,
  removeUsers,
  scratchRoot,
  startDaemon,
  startFpm,
  startNginx,
  writeHostFile,
  type Daemon,
} from "../daemons/harness";
import { eventually, startLoad, summarize } from "../faults/measure";

/**
 * Two web nodes behind HAProxy on loopback, served for real: nginx and PHP-FPM from the rendered
 * host files plus the rendered balancer snippet, the real orchestrator app behind each, and HAProxy
 * with the rendered web backends, started under the local machines' open-files cap (20000) with a
 * maxconn sized from it.
 */

const deniedClient = "127.0.0.7";
const allowedClient = "127.0.0.8";
const otherClient = "127.0.0.9";
const openFilesCap = 20_000;
const nodes = [
  { name: "web-1", address: "127.0.0.1" },
  { name: "web-2", address: "127.0.0.2" },
] as const;

let backends: Backends;
let app: RunningOrchestrator;
let ports: { http: number; https: number; balancer: number; balancerTls: number; agent: number };
/** Each node's `megaweb-drain`, as rendered for it. */
const drainScripts: string[] = [];
const roots: string[] = [];
const daemons: Daemon[] = [];
const fpm: Daemon[] = [];
let createdUsers: string[] = [];
let haproxyRoot: string;
let webBackends: string;

/** global/defaults/frontends as the HAProxy renderer will write them (see the report), then the rendered backends. */
function haproxyConfig(maxconn: number, frontend: { http: number; https: number }, backendsPart: string): string {
  return [
    "global",
    `    maxconn ${maxconn}`,
    `    stats socket ${haproxyRoot}/admin.sock mode 600 level admin`,
    "",
    "defaults",
    "    timeout connect 5s",
    "    timeout client 60s",
    "    timeout server 60s",
    "",
    "frontend http",
    "    mode http",
    `    bind 127.0.0.1:${frontend.http}`,
    "    default_backend web_http",
    "",
    "frontend https",
    "    mode tcp",
    `    bind 127.0.0.1:${frontend.https}`,
    "    default_backend web_https",
    "",
    backendsPart,
  ].join("\n");
}

beforeAll(async () => {
  backends = await startBackends();
  app = await startOrchestrator(backends, { env: { MEGAWEB_RATE_LIMIT_PER_MINUTE: "5" } });
  const appPort = Number(new URL(app.baseUrl).port);
  ports = { http: await freePort(), https: await freePort(), balancer: await freePort(), balancerTls: await freePort(), agent: await freePort() };
  const stack = parseStack({
    sites: [
      { domain: "shop.megaweb.test", php: { memoryLimit: "64M" }, pool: { maxChildren: 3 }, access: { deny: [deniedClient] } },
      { domain: "orchestrator.megaweb.test", kind: "proxy", proxy: { port: appPort } },
    ],
  });
  let checks: ReturnType<typeof renderBalancedWeb>["checks"] = [];
  for (const node of nodes) {
    const root = scratchRoot(`balanced-${node.name}`);
    roots.push(root);
    const facts = { name: node.name, memoryMb: 2048, roles: ["web"] as const, phpVersions: ["8.2"] as const, listenAddress: node.address, ports, root };
    const render = renderWebHost(stack, { ...facts, roles: [...facts.roles], phpVersions: [...facts.phpVersions] });
    createdUsers.push(...materialize(render, root));
    const { host, sites } = resolveWebHost(stack.sites, { ...facts, roles: [...facts.roles], phpVersions: [...facts.phpVersions] });
    const balanced = renderBalancedWeb({ host, sites, balancers: ["127.0.0.1"], appPort });
    for (const file of balanced.files) writeHostFile(file.path, file.content, file.mode, file.owner);
    checks = balanced.checks;
    // The agent as its socket unit runs it, one process per connection with the peer in REMOTE_ADDR.
    const agent = renderBalancerAgent({ host, balancers: ["127.0.0.1"], checks });
    for (const file of agent.files) writeHostFile(file.path, file.content, file.mode, file.owner);
    mkdirSync(join(root, "run/megaweb/balancer-seen"), { recursive: true });
    drainScripts.push(agent.drainScript);
    const agentScript = agent.files.find((file) => file.path.endsWith("/megaweb-balancer-agent"))!.path;
    daemons.push(
      await startDaemon(
        "socat",
        [`TCP-LISTEN:${ports.agent},bind=${node.address},reuseaddr,fork`, `SYSTEM:REMOTE_ADDR=$SOCAT_PEERADDR exec bash ${agentScript}`],
        {
          check: () =>
            spawnSync("bash", ["-c", `exec 3<>/dev/tcp/${node.address}/${ports.agent} && head -n 1 <&3`], { encoding: "utf8" }).stdout === "ready 100%\n",
          awaited: "the agent answering ready",
        },
      ),
    );
    const shop = render.sites.find((site) => site.domain === "shop.megaweb.test")!;
    writeHostFile(
      join(shop.directories[1]!.path, "index.php"),
      `<?php header("Content-Type: text/plain"); echo "${node.name} ", $_SERVER["REMOTE_ADDR"], "\\n";`,
      "0644",
      `${shop.account.user}:${shop.account.group}`,
    );
    fpm.push(await startFpm(root, "8.2"));
    daemons.push(await startNginx(root));
  }
  createdUsers = [...new Set(createdUsers)];

  haproxyRoot = scratchRoot("haproxy");
  const limits = sizeHaproxyLimits({ openFilesLimit: openFilesCap, memoryMb: 1024, servers: nodes.length });
  const config = join(haproxyRoot, "haproxy.cfg");
  writeFileSync(
    config,
    haproxyConfig(limits.maxconn, { http: ports.balancer, https: ports.balancerTls }, (webBackends = renderWebBackends({ servers: nodes, checks, ports }))),
  );
  daemons.push(
    await startDaemon("prlimit", [`--nofile=${openFilesCap}:${openFilesCap}`, "haproxy", "-db", "-f", config], {
      check: () =>
        serverStates().then(
          (servers) => servers.length === nodes.length,
          () => false,
        ),
      awaited: "HAProxy's stats socket",
    }),
  );
  await eventually("both nodes up", async () => (await serverStates()).every((server) => server.status === "UP") || undefined);
}, 180_000);

afterAll(async () => {
  for (const daemon of [...daemons, ...fpm].reverse()) await daemon.stop().catch(() => undefined);
  await app?.stop().catch(() => undefined);
  await backends?.stop();
  removeUsers(createdUsers);
  for (const root of [...roots, haproxyRoot]) if (root) removeRoot(root);
});

/** The web_http servers' states from HAProxy's stats socket. */
function serverStates(): Promise<{ name: string; status: string }[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(join(haproxyRoot, "admin.sock"));
    let csv = "";
    socket.on("connect", () => socket.write("show stat\n"));
    socket.on("data", (chunk) => (csv += chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      const rows = csv.split("\n").map((line) => line.split(","));
      const header = rows[0]!.map((cell) => cell.replace(/^# /, ""));
      const column = (name: string) => header.indexOf(name);
      resolve(
        rows
          .filter((row) => row[column("pxname")] === "web_http" && nodes.some((node) => node.name === row[column("svname")]))
          .map((row) => ({ name: row[column("svname")]!, status: row[column("status")]! })),
      );
    });
  });
}

const throughBalancer = (host: string, from: string, path = "/", headers: Record<string, string> = {}) =>
  fetchFrom({ port: ports.balancer, host, path, localAddress: from, headers });

/** A bounded load on shop through the balancer from an allowed client; each answer's value is the node that served it. */
const shopLoad = () =>
  startLoad(
    async () => {
      const answer = await throughBalancer("shop.megaweb.test", allowedClient);
      if (answer.status !== 200) throw new Error(`HTTP ${answer.status}`);
      return answer.body.split(" ")[0];
    },
    { maxOperations: 5000, maxSeconds: 20, concurrency: 2, pauseMs: 10, timeoutMs: 5000 },
  );

describe("web nodes behind HAProxy, from the rendered files", () => {
  it("starts HAProxy under a 20000 open-files cap with maxconn sized from it, where maxconn 20000 is refused", async () => {
    const limits = sizeHaproxyLimits({ openFilesLimit: openFilesCap, memoryMb: 1024, servers: nodes.length });
    expect(limits.openFilesNeeded).toBeLessThanOrEqual(openFilesCap);
    const fixed = join(haproxyRoot, "fixed.cfg");
    writeFileSync(fixed, haproxyConfig(20_000, { http: await freePort(), https: await freePort() }, webBackends).replace(/^ {4}stats socket .*$/m, ""));
    const refused = spawnSync("prlimit", [`--nofile=${openFilesCap}:${openFilesCap}`, "haproxy", "-db", "-f", fixed], { encoding: "utf8", timeout: 10_000 });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr, refused.stderr).toMatch(/Cannot raise FD limit to \d+, limit is 20000/);
  });

  it("serves from both nodes, each seeing the client's own address", async () => {
    const answers = await Promise.all([1, 2, 3, 4].map(() => throughBalancer("shop.megaweb.test", allowedClient)));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(answers.map((answer) => answer.body.split(" ")[0]))).toEqual(new Set(["web-1", "web-2"]));
    for (const answer of answers) expect(answer.body.trim().split(" ")[1]).toBe(allowedClient);
  });

  it("keeps a denied client denied through the balancer, whatever X-Forwarded-For it sends", async () => {
    expect((await throughBalancer("shop.megaweb.test", deniedClient)).status).toBe(403);
    expect((await throughBalancer("shop.megaweb.test", deniedClient, "/", { "X-Forwarded-For": allowedClient })).status).toBe(403);
  });

  it("answers nothing to a connection that bypasses the balancer", async () => {
    await expect(fetchFrom({ port: ports.http, host: "shop.megaweb.test", localAddress: allowedClient })).rejects.toThrow();
  });

  it("lets the app's rate limit count each client, not the balancer", async () => {
    const statuses = [];
    for (let request = 0; request < 6; request++) statuses.push((await throughBalancer("orchestrator.megaweb.test", allowedClient, "/api/sessions")).status);
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses[5]).toBe(429);
    expect((await throughBalancer("orchestrator.megaweb.test", otherClient, "/api/sessions")).status).toBe(200);
    // The balancers' own checks are rate limited too, and still count the node as up.
    expect((await serverStates()).map((server) => server.status)).toEqual(["UP", "UP"]);
  });

  it("drains a node through its agent under load: HAProxy holds it in DRAIN, sends it nothing new, fails nothing, and takes it back", async () => {
    const drain = (...args: string[]) =>
      new Promise<number>((resolve) => execFile("bash", [drainScripts[0]!, ...args], (error) => resolve(error ? Number(error.code ?? 1) : 0)));
    const load = shopLoad();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const beganAt = load.now();
    expect(await drain("begin", "deploy-test")).toBe(0);
    const drainedAt = load.now();
    expect((await serverStates()).find((server) => server.name === "web-1")?.status).toBe("DRAIN (agent)");
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await drain("healthy", "5")).toBe(0);
    const endedAt = load.now();
    expect(await drain("end", "deploy-test")).toBe(0);
    expect((await serverStates()).map((server) => server.status)).toEqual(["UP", "UP"]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    load.stop();
    const record = await load.done;
    const summary = summarize(record);
    const whileDrained = record.outcomes.filter((outcome) => outcome.startedMs > drainedAt + 100 && outcome.startedMs < endedAt);
    const figures = {
      secondsToDrain: (drainedAt - beganAt) / 1000,
      requests: summary.operations,
      failedRequests: summary.failed,
      answeredByWeb1WhileDrained: whileDrained.filter((outcome) => outcome.value === "web-1").length,
      answeredWhileDrained: whileDrained.length,
    };
    console.log(`drain figures: ${JSON.stringify(figures)}`);
    expect(figures.secondsToDrain).toBeLessThanOrEqual(3);
    expect(figures.answeredWhileDrained).toBeGreaterThan(10);
    expect(figures.answeredByWeb1WhileDrained).toBe(0);
    expect(summary.failed).toBe(0);
    expect(record.outcomes.filter((outcome) => outcome.startedMs > endedAt + 1000).some((outcome) => outcome.value === "web-1")).toBe(true);
  });

  it("takes a node whose PHP-FPM stopped out of the pool within the check window, failing almost no requests", async () => {
    const load = shopLoad();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const stoppedAt = load.now();
    await fpm[0]!.stop();
    // From the moment PHP-FPM was told to stop, on the load's clock.
    const outAfterMs =
      (await eventually("web-1 to leave the pool", async () =>
        (await serverStates()).find((server) => server.name === "web-1")?.status.startsWith("DOWN") ? load.now() : undefined,
      )) - stoppedAt;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    load.stop();
    const record = await load.done;
    const summary = summarize(record);
    const afterOut = record.outcomes.filter((outcome) => outcome.startedMs > stoppedAt + outAfterMs + 500);
    const figures = {
      secondsUntilOutOfPool: outAfterMs / 1000,
      checkWindowSeconds: checkWindowMs / 1000,
      requests: summary.operations,
      failedRequests: summary.failed,
      failureRate: summary.failureRate,
      answeredByWeb1AfterOut: afterOut.filter((outcome) => outcome.value === "web-1").length,
    };
    console.log(`PHP-FPM stopped figures: ${JSON.stringify(figures)}`);
    expect(outAfterMs).toBeLessThanOrEqual(checkWindowMs + 1000);
    expect(figures.answeredByWeb1AfterOut).toBe(0);
    expect(summary.failureRate).toBeLessThanOrEqual(0.01);
  });

  it("tells the balancers a node is down once its app stops answering, and up while the app answers 503", async () => {
    const health = (path: string) => rawHealthRequest(ports.http, nodes[1].address, path);
    expect(await health("/megaweb-health/app")).toMatch(/^HTTP\/1\.1 200 /);
    expect(await health("/megaweb-health/php/shop_megaweb_test")).toMatch(/^HTTP\/1\.1 200 [\s\S]*php ok/);
    await app.stop();
    expect(await health("/megaweb-health/app")).toMatch(/^HTTP\/1\.1 502 /);
  });
});

/** A health check as HAProxy sends it: a PROXY protocol line from the balancer's address, then the request. */
function rawHealthRequest(port: number, address: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: address });
    let answer = "";
    socket.on("connect", () =>
      socket.write(`PROXY TCP4 127.0.0.1 ${address} 40000 ${port}\r\nGET ${path} HTTP/1.1\r\nHost: megaweb-health\r\nConnection: close\r\n\r\n`),
    );
    socket.on("data", (chunk) => (answer += chunk));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
  });
}
