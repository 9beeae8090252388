import { mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveWebHost } from "../../lib/render/context";
import { renderWebHost } from "../../lib/render/files";
import { renderExporters, renderMonitoringServer } from "../../lib/render/monitoring";
import { mysqldExporterGrants } from "../../lib/render/mysqld-exporter";
import { monitoredSites, type MonitoredHost } from "../../lib/render/scrape-targets";
import { parseStack } from "../../lib/schema/stack";
import { replicate, startMariaDb, type MariaDbServer } from "../../app/test/support/backends";
import { selfSignedCertificate } from "../daemons/certificates";
import { freePort, materialize, removeRoot, removeUsers, scratchRoot, startFpm, startNginx, writeHostFile, type Daemon } from "../daemons/harness";
import {
  defaultsArgs,
  defaultsValues,
  httpGet,
  httpsStatus,
  portsBelowEphemeral,
  RestartableRedis,
  startNodeExporterWithDisk,
  startServing,
  WebhookReceiver,
} from "./loopback";

/**
 * Alerts made to fire for real and to resolve: Prometheus, Alertmanager and the exporters from
 * Debian, each started from its rendered files on loopback, watch a web host (nginx, PHP-FPM, a
 * TLS site), Redis and MariaDB primaries with replicas, and a small disk; faults are caused one at
 * a time and each notice is timed at a webhook receiver. The windows are the stack schema's,
 * shortened to seconds (scrape and evaluate every second, 3 s `for`, 1 s Alertmanager batching).
 */

const monitoring = parseStack({
  monitoring: {
    // Above Redis's 10 s ping to its replicas, which makes an idle replica up to 10 s "behind".
    thresholds: { replicationLagSeconds: { warning: 12, critical: 300 } },
    windows: {
      scrapeInterval: "1s",
      evaluationInterval: "1s",
      rateWindow: "5s",
      resources: "3s",
      services: "3s",
      replication: "3s",
      errors: "3s",
      certificates: "3s",
    },
    notifications: { groupWait: "1s", groupInterval: "1s", repeatInterval: "1h" },
  },
}).monitoring;

const domain = "shop.megaweb.test";
const arrivals: Record<string, { fired: number; resolved: number }> = {};
const daemons = new Map<string, Daemon>();
const redis: RestartableRedis[] = [];
let sentinel: RestartableRedis;
const mariadb: MariaDbServer[] = [];
let root: string;
let webRoot: string;
let createdUsers: string[] = [];
let webhook: WebhookReceiver;
let disk: { path: string };
let ports: Record<string, number>;
let hosts: MonitoredHost[];
/** When Prometheus came up: the expiring certificate is there from the start. */
let prometheusStarted: number;

/** Puts a certificate where certbot would, as a renewal does. */
function installCertificate(days: number): void {
  const pair = selfSignedCertificate(domain, { days });
  const live = join(webRoot, `etc/letsencrypt/live/${domain}`);
  writeHostFile(join(live, "fullchain.pem"), pair.certificate);
  writeHostFile(join(live, "privkey.pem"), pair.key, "0600");
}

async function start(name: string, command: string, args: string[], readyUrl: string): Promise<void> {
  daemons.set(name, await startServing(command, args, readyUrl));
}

async function stop(name: string): Promise<void> {
  await daemons.get(name)?.stop();
  daemons.delete(name);
}

/** The rendered ARGS of one of a host's /etc/default files. */
function argsOf(host: MonitoredHost, file: string): string[] {
  return defaultsArgs(readFileSync(join(host.root!, "etc/default", file), "utf8"));
}

const host = (name: string) => hosts.find((candidate) => candidate.name === name)!;

async function startNodeExporter(name: string): Promise<void> {
  await start(`node ${name}`, "prometheus-node-exporter", argsOf(host(name), "prometheus-node-exporter"), `http://127.0.0.1:${ports[`node ${name}`]}/metrics`);
}

async function startWebHost(): Promise<void> {
  const stack = parseStack({ sites: [{ domain, tls: { mode: "letsencrypt" }, pool: { pm: "static", maxChildren: 2 } }] });
  const facts = {
    name: "web-1",
    memoryMb: 2048,
    roles: ["web"] as const,
    phpVersions: ["8.2"] as const,
    listenAddress: "127.0.0.1",
    ports: { http: ports.http!, https: ports.https! },
    root: webRoot,
  };
  const render = renderWebHost(stack, { ...facts, roles: [...facts.roles], phpVersions: [...facts.phpVersions] });
  createdUsers = materialize(render, webRoot);
  installCertificate(10);
  const site = render.sites[0]!;
  const owner = `${site.account.user}:${site.account.group}`;
  writeHostFile(join(site.directories[1]!.path, "index.php"), "<?php echo 'ok';", "0644", owner);
  writeHostFile(join(site.directories[1]!.path, "fail.php"), "<?php http_response_code(500); echo 'failed';", "0644", owner);
  const context = resolveWebHost(stack.sites, { ...facts, roles: [...facts.roles], phpVersions: [...facts.phpVersions] });
  return void hosts.push({
    name: "web-1",
    roles: ["web"],
    address: "127.0.0.1",
    ports: { node: ports["node web-1"], nginx: ports.nginxExporter, nginxStatus: ports.nginxStatus, mtail: ports.mtail, blackbox: ports.blackbox },
    sites: monitoredSites(stack.sites, context.sites, context.host),
    root: webRoot,
  });
}

async function startDataHosts(): Promise<void> {
  const password = "redis-test-password";
  const primary = RestartableRedis.server(ports["redis redis-1"]!, password, join(root, "redis-1/data"));
  const replica = RestartableRedis.server(ports["redis redis-2"]!, password, join(root, "redis-2/data"), primary.port);
  sentinel = RestartableRedis.watching(ports["redis sentinel-1"]!, join(root, "sentinel-1/data"), primary);
  redis.push(primary, replica);
  await primary.start();
  await replica.start();
  await sentinel.start();
  for (const [index, server] of redis.entries()) {
    const name = `redis-${index + 1}`;
    hosts.push({
      name,
      roles: ["redis"],
      address: "127.0.0.1",
      ports: { node: ports[`node ${name}`], redis: ports[`exporter ${name}`] },
      endpoints: { redis: `redis://127.0.0.1:${server.port}` },
      root: join(root, name),
    });
  }
  hosts.push({
    name: "sentinel-1",
    roles: ["sentinel"],
    address: "127.0.0.1",
    ports: { node: ports["node sentinel-1"], redis: ports["exporter sentinel-1"] },
    endpoints: { sentinel: `redis://127.0.0.1:${sentinel.port}` },
    root: join(root, "sentinel-1"),
  });
  mariadb.push(await startMariaDb({ serverId: 1 }), await startMariaDb({ serverId: 2 }));
  await replicate(mariadb[0]!, mariadb[1]!);
  // The exporter's account, made by the rendered SQL on the primary and replicated like any other.
  const connection = await mysql.createConnection({ uri: mariadb[0]!.rootUrl, multipleStatements: true });
  await connection.query("SET @exporter_password = ?", ["exporter-test-password"]);
  await connection.query(mysqldExporterGrants("127.0.0.1"));
  await connection.end();
  for (const [index, server] of mariadb.entries()) {
    const name = `mysql-${index + 1}`;
    hosts.push({
      name,
      roles: ["mysql"],
      address: "127.0.0.1",
      ports: { node: ports[`node ${name}`], mysqld: ports[`exporter ${name}`] },
      endpoints: { mysql: `127.0.0.1:${server.port}` },
      root: join(root, name),
    });
  }
}

/** Every host's exporter files; nginx must read its stub_status server before it starts. */
function writeExporterFiles(): void {
  for (const monitored of hosts) {
    const secrets = { redis: "redis-test-password", mysqlExporter: "exporter-test-password" };
    for (const file of renderExporters(monitored, secrets).files) writeHostFile(file.path, file.content, file.mode, "root:root");
    mkdirSync(join(monitored.root!, "var/lib/prometheus/node-exporter"), { recursive: true });
  }
}

async function startExporters(): Promise<void> {
  const web = host("web-1");
  const nodeWeb = await startNodeExporterWithDisk(
    argsOf(web, "prometheus-node-exporter"),
    join(root, "disk.img"),
    join(root, "disk"),
    `http://127.0.0.1:${ports["node web-1"]}/metrics`,
  );
  daemons.set("node web-1", nodeWeb.daemon);
  disk = { path: nodeWeb.diskPath };
  for (const name of ["redis-1", "redis-2", "sentinel-1", "mysql-1", "mysql-2"]) await startNodeExporter(name);
  await start("nginx-exporter", "prometheus-nginx-exporter", argsOf(web, "prometheus-nginx-exporter"), `http://127.0.0.1:${ports.nginxExporter}/metrics`);
  await start("blackbox", "prometheus-blackbox-exporter", argsOf(web, "prometheus-blackbox-exporter"), `http://127.0.0.1:${ports.blackbox}/metrics`);
  // Debian's mtail.service builds its command line from these settings and reads /etc/mtail.
  const mtail = defaultsValues(readFileSync(join(webRoot, "etc/default/mtail"), "utf8"));
  await start(
    "mtail",
    "mtail",
    ["--progs", join(webRoot, "etc/mtail"), "--logtostderr", "--address", mtail.HOST!, "--port", mtail.PORT!, "--logs", mtail.LOGS!],
    `http://127.0.0.1:${ports.mtail}/metrics`,
  );
  for (const name of ["redis-1", "redis-2", "sentinel-1"]) {
    await start(name, "prometheus-redis-exporter", argsOf(host(name), "prometheus-redis-exporter"), `http://127.0.0.1:${ports[`exporter ${name}`]}/`);
  }
  for (const name of ["mysql-1", "mysql-2"]) {
    await start(name, "prometheus-mysqld-exporter", argsOf(host(name), "prometheus-mysqld-exporter"), `http://127.0.0.1:${ports[`exporter ${name}`]}/metrics`);
  }
}

beforeAll(async () => {
  root = scratchRoot("alerts");
  webRoot = join(root, "web-1");
  hosts = [];
  const names = ["http", "https", "nginxExporter", "nginxStatus", "mtail", "blackbox", "prometheus", "alertmanager"];
  for (const name of ["web-1", "redis-1", "redis-2", "sentinel-1", "mysql-1", "mysql-2"]) names.push(`node ${name}`);
  for (const name of ["redis-1", "redis-2", "sentinel-1", "mysql-1", "mysql-2"]) names.push(`exporter ${name}`, `redis ${name}`);
  const free = await portsBelowEphemeral(names.length);
  ports = Object.fromEntries(names.map((name, index) => [name, free[index]!]));
  webhook = await WebhookReceiver.start();

  await startWebHost();
  await startDataHosts();
  writeExporterFiles();
  daemons.set("fpm", await startFpm(webRoot, "8.2"));
  daemons.set("nginx", await startNginx(webRoot));
  await startExporters();

  const monitoringRoot = join(root, "monitoring-1");
  const server = renderMonitoringServer(
    { ...monitoring, receivers: { webhooks: [{ url: webhook.url }] } },
    { name: "monitoring-1", address: "127.0.0.1", ports: { prometheus: ports.prometheus, alertmanager: ports.alertmanager }, root: monitoringRoot },
    hosts,
  );
  for (const file of server.files) writeHostFile(file.path, file.content, file.mode, "root:root");
  const args = (file: string) => defaultsArgs(readFileSync(join(monitoringRoot, "etc/default", file), "utf8"));
  await start("alertmanager", "prometheus-alertmanager", args("prometheus-alertmanager"), `http://127.0.0.1:${ports.alertmanager}/-/ready`);
  prometheusStarted = Date.now();
  await start("prometheus", "prometheus", args("prometheus"), `http://127.0.0.1:${ports.prometheus}/-/ready`);
}, 180_000);

afterAll(async () => {
  for (const name of [...daemons.keys()].reverse()) await stop(name);
  for (const server of [...redis, sentinel]) await server?.stop();
  for (const server of mariadb) await server.stop();
  await webhook?.stop();
  removeUsers(createdUsers);
  removeRoot(root);
  mkdirSync("test-output", { recursive: true });
  writeFileSync("test-output/alert-arrivals.json", `${JSON.stringify(arrivals, null, 2)}\n`);
  console.log("alert arrivals (s from cause to webhook):", arrivals);
});

/** Causes a fault, times its alert's notice, removes the cause and times the resolved notice. */
async function fireAndResolve(
  label: string,
  labels: Record<string, string>,
  cause: () => Promise<unknown> | unknown,
  cure: () => Promise<unknown> | unknown,
  caused = Date.now(),
): Promise<void> {
  await cause();
  const fired = await webhook.arrival(labels, "firing", caused);
  const cured = Date.now();
  await cure();
  const resolved = await webhook.arrival(labels, "resolved", cured);
  arrivals[label] = { fired, resolved };
}

async function promQuery(query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const answer = await httpGet(`http://127.0.0.1:${ports.prometheus}/api/v1/query?query=${encodeURIComponent(query)}`);
  return (JSON.parse(answer.body) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
}

// Each fault waits at most 45 s for its notice and 45 s for the resolution.
describe("alerts fire for real on loopback, reach the webhook, and resolve", { timeout: 120_000 }, () => {
  it("scrapes every exporter it was given, by the host names of the plan", async () => {
    // Bounded: every target has answered a scrape within 30 s, or the test fails on what is missing.
    const deadline = Date.now() + 30_000;
    let up: string[] = [];
    do {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      up = (await promQuery("up == 1")).map((series) => `${series.metric.job} ${series.metric.host}`).sort();
    } while (up.length < 17 && Date.now() < deadline);
    expect(up).toEqual(
      [
        "alertmanager monitoring-1",
        "mtail web-1",
        "mysqld mysql-1",
        "mysqld mysql-2",
        "nginx web-1",
        "node mysql-1",
        "node mysql-2",
        "node redis-1",
        "node redis-2",
        "node sentinel-1",
        "node web-1",
        "prometheus monitoring-1",
        "redis redis-1",
        "redis redis-2",
        "sentinel sentinel-1",
        "site-fpm web-1",
        "site-tls web-1",
      ].sort(),
    );
  });

  it("CertificateExpiring: a certificate 10 days from expiry; a renewal nginx is reloaded for resolves it", async () => {
    await fireAndResolve(
      "CertificateExpiring (warning, from Prometheus start)",
      { alertname: "CertificateExpiring", severity: "warning", site: domain },
      () => undefined,
      () => {
        installCertificate(90);
        process.kill(daemons.get("nginx")!.pid, "SIGHUP");
      },
      prometheusStarted,
    );
  });

  it("SiteErrorRate: a quarter of the site's answers are 500", async () => {
    const request = (path: string) => httpsStatus(ports.https!, domain, path).catch(() => 0);
    let failing = true;
    let running = true;
    const load = (async () => {
      // Bounded: at most 90 s of one request per 40 ms, every fourth to a page that fails while `failing`.
      for (let count = 0; running && count < 2250; count++) {
        await request(failing && count % 4 === 0 ? "/fail.php" : "/index.php");
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    })();
    try {
      await fireAndResolve(
        "SiteErrorRate (critical)",
        { alertname: "SiteErrorRate", severity: "critical", site: domain },
        () => undefined,
        () => (failing = false),
      );
    } finally {
      running = false;
      await load;
    }
  });

  it("PhpPoolDown: the site's PHP-FPM master is stopped, then started again", async () => {
    await fireAndResolve(
      "PhpPoolDown",
      { alertname: "PhpPoolDown", site: domain },
      () => stop("fpm"),
      async () => daemons.set("fpm", await startFpm(webRoot, "8.2")),
    );
  });

  it("NginxDown: nginx is stopped, then started again", async () => {
    await fireAndResolve(
      "NginxDown",
      { alertname: "NginxDown", host: "web-1" },
      () => stop("nginx"),
      async () => daemons.set("nginx", await startNginx(webRoot)),
    );
  });

  it("HostDiskFull: a disk filled past 85 %, then emptied", async () => {
    const filler = join(disk.path, "filler");
    await fireAndResolve(
      "HostDiskFull (warning)",
      { alertname: "HostDiskFull", severity: "warning", host: "web-1", mountpoint: join(root, "disk") },
      () => {
        const stats = statfsSync(disk.path);
        const size = stats.blocks * stats.bsize;
        const available = stats.bavail * stats.bsize;
        // To 90 % used: past the warning, short of the critical 95 %.
        writeFileSync(filler, Buffer.alloc(Math.floor(available - 0.1 * size)));
      },
      () => rmSync(filler),
    );
  });

  it("RedisDown: a Redis server killed, then started again", async () => {
    await fireAndResolve(
      "RedisDown",
      { alertname: "RedisDown", host: "redis-2" },
      () => redis[1]!.kill(),
      () => redis[1]!.start(),
    );
  });

  it("SentinelDown: the Sentinel killed, then started again", async () => {
    await fireAndResolve(
      "SentinelDown",
      { alertname: "SentinelDown", host: "sentinel-1" },
      () => sentinel.kill(),
      () => sentinel.start(),
    );
  });

  it("RedisReplicationBroken: the replica loses its primary (pointed at a dead port), then finds it again", async () => {
    const deadPort = await freePort();
    await fireAndResolve(
      "RedisReplicationBroken",
      { alertname: "RedisReplicationBroken", host: "redis-2" },
      () => redis[1]!.cli("REPLICAOF", "127.0.0.1", String(deadPort)),
      () => redis[1]!.cli("REPLICAOF", "127.0.0.1", String(redis[0]!.port)),
    );
  });

  it("MysqlReplicationBroken: the replica's I/O thread stopped, then started", async () => {
    const onReplica = async (statement: string) => {
      const connection = await mysql.createConnection({ uri: mariadb[1]!.rootUrl });
      await connection.query(statement);
      await connection.end();
    };
    await fireAndResolve(
      "MysqlReplicationBroken",
      { alertname: "MysqlReplicationBroken", host: "mysql-2" },
      () => onReplica("STOP SLAVE IO_THREAD"),
      () => onReplica("START SLAVE IO_THREAD"),
    );
  });

  it("MysqlReplicationLag: the replica held 20 s behind while the primary takes writes, then caught up", async () => {
    const primary = await mysql.createConnection({ uri: mariadb[0]!.rootUrl, multipleStatements: true });
    await primary.query("CREATE DATABASE IF NOT EXISTS lag; CREATE TABLE IF NOT EXISTS lag.ticks (at TIMESTAMP(3))");
    let writing = true;
    const writes = (async () => {
      // Bounded: at most 180 writes, one every 500 ms.
      for (let count = 0; writing && count < 180; count++) {
        await primary.query("INSERT INTO lag.ticks VALUES (NOW(3))");
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    const delay = async (seconds: number) => {
      const replica = await mysql.createConnection({ uri: mariadb[1]!.rootUrl });
      await replica.query("STOP SLAVE");
      await replica.query(`CHANGE MASTER TO MASTER_DELAY = ${seconds}`);
      await replica.query("START SLAVE");
      await replica.end();
    };
    try {
      await fireAndResolve(
        "MysqlReplicationLag (warning, lag building from 0 past 12 s)",
        { alertname: "MysqlReplicationLag", severity: "warning", host: "mysql-2" },
        () => delay(20),
        () => delay(0),
      );
    } finally {
      writing = false;
      await writes;
      await primary.end();
    }
  });

  it("TargetDown: a host's node_exporter killed, then started again", async () => {
    await fireAndResolve(
      "TargetDown",
      { alertname: "TargetDown", host: "redis-1", job: "node" },
      () => stop("node redis-1"),
      () => startNodeExporter("redis-1"),
    );
  });
});
