import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { HostFile } from "../../lib/render/files";
import { renderExporters, renderMonitoringServer } from "../../lib/render/monitoring";
import { mysqldExporterGrants } from "../../lib/render/mysqld-exporter";
import type { MonitoredHost } from "../../lib/render/scrape-targets";
import { parseStack } from "../../lib/schema/stack";
import { removeRoot, scratchRoot } from "../daemons/harness";

/**
 * Every monitoring file of an HA-sized stack, rendered into a scratch root and held to the real
 * tools: promtool (config, rules, and unit tests of each alert with series), amtool, the
 * blackbox exporter's and mtail's own checks.
 */

const root = scratchRoot("monitoring-configs");
afterAll(() => removeRoot(root));

const site = (domain: string, tls: boolean, php: boolean) => {
  const slug = domain.replace(/\./g, "_");
  return {
    domain,
    slug,
    metricsLog: `/var/log/nginx/${slug}.metrics.log`,
    ...(php && { fpmPingUrl: `${tls ? "https" : "http"}://127.0.0.1:${tls ? 443 : 80}/fpm-ping` }),
    ...(tls && { tlsEndpoint: "127.0.0.1:443" }),
  };
};

const hosts: MonitoredHost[] = [
  { name: "loadbalancer-1", roles: ["loadbalancer"], address: "10.10.0.2" },
  { name: "web-1", roles: ["web"], address: "10.10.0.3", sites: [site("shop.example.com", true, true), site("static.example.com", false, false)] },
  { name: "web-2", roles: ["web"], address: "10.10.0.4", sites: [site("shop.example.com", true, true), site("static.example.com", false, false)] },
  { name: "redis-1", roles: ["redis"], address: "10.10.0.5" },
  { name: "redis-2", roles: ["redis"], address: "10.10.0.6" },
  { name: "sentinel-1", roles: ["sentinel"], address: "10.10.0.7" },
  { name: "mysql-1", roles: ["mysql"], address: "10.10.0.8" },
  { name: "mysql-2", roles: ["mysql"], address: "10.10.0.9" },
  { name: "worker-1", roles: ["worker"], address: "10.10.0.10", monitoring: true },
].map((host) => ({ ...host, root: join(root, host.name) }) as MonitoredHost);

const stack = parseStack({
  monitoring: {
    receivers: {
      email: { to: ["ops@example.com"], from: "alerts@example.com", smarthost: "smtp.example.com:587", username: "alerts", password: "relay-password" },
      webhooks: [{ url: "https://hooks.example.com/megaweb", bearerToken: "hook-token" }],
    },
  },
});
const server = renderMonitoringServer(stack.monitoring, { name: "worker-1", address: "10.10.0.10", root: join(root, "worker-1") }, hosts);
const exporters = hosts.map((host) => renderExporters(host, { redis: "redis-password", mysqlExporter: "exporter-password" }));
for (const file of [...server.files, ...exporters.flatMap((render) => render.files)]) {
  mkdirSync(dirname(file.path), { recursive: true });
  writeFileSync(file.path, file.content);
}
const prometheusDir = join(root, "worker-1/etc/prometheus");

function check(command: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], cwd });
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} refused it:\n${failure.stdout ?? ""}${failure.stderr ?? ""}`);
  }
}

describe("the monitoring host's files", () => {
  it("pass promtool check config, with both rule files found", () => {
    expect(check("promtool", ["check", "config", join(prometheusDir, "prometheus.yml")])).toContain("SUCCESS: 2 rule files found");
  });

  it("pass promtool check rules", () => {
    const output = check("promtool", ["check", "rules", join(prometheusDir, "rules/megaweb-records.yml"), join(prometheusDir, "rules/megaweb-alerts.yml")]);
    expect(output).toContain("SUCCESS: 10 rules found");
    expect(output).toContain("SUCCESS: 24 rules found");
  });

  it("make every alert fire on its series at the default thresholds and windows, and no sooner (promtool test rules)", () => {
    copyFileSync(join(__dirname, "fixtures/alerts.promtool.yml"), join(prometheusDir, "rules/alerts.promtool.yml"));
    expect(check("promtool", ["test", "rules", "alerts.promtool.yml"], join(prometheusDir, "rules"))).toContain("SUCCESS");
  });

  it("pass amtool check-config, and keep the relay password and webhook token out of alertmanager.yml", () => {
    expect(check("amtool", ["check-config", join(prometheusDir, "alertmanager.yml")])).toContain("SUCCESS");
    const config = readFileSync(join(prometheusDir, "alertmanager.yml"), "utf8");
    expect(config).not.toContain("relay-password");
    expect(config).not.toContain("hook-token");
    const secrets = server.files.filter((file) => file.secret);
    expect(secrets.map((file) => [file.path.slice(root.length), file.mode, file.owner])).toEqual([
      ["/worker-1/etc/prometheus/alertmanager-smtp-password", "0640", "root:prometheus"],
      ["/worker-1/etc/prometheus/alertmanager-webhook-1-token", "0640", "root:prometheus"],
    ]);
  });

  it("scrape every host's node_exporter and each exporter its roles run, labelled with the host", () => {
    const config = parse(readFileSync(join(prometheusDir, "prometheus.yml"), "utf8")) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[]; labels: Record<string, string> }[] }[];
    };
    const jobs = Object.fromEntries(
      config.scrape_configs.map((job) => [job.job_name, job.static_configs.map((target) => `${target.labels.host} ${target.targets.join(",")}`)]),
    );
    expect(jobs.node).toHaveLength(hosts.length);
    expect(jobs).toMatchObject({
      nginx: ["web-1 10.10.0.3:9113", "web-2 10.10.0.4:9113"],
      mysqld: ["mysql-1 10.10.0.8:9104", "mysql-2 10.10.0.9:9104"],
      redis: ["redis-1 redis://127.0.0.1:6379", "redis-2 redis://127.0.0.1:6379"],
      sentinel: ["sentinel-1 redis://127.0.0.1:26379"],
      "site-fpm": ["web-1 https://127.0.0.1:443/fpm-ping", "web-2 https://127.0.0.1:443/fpm-ping"],
      "site-tls": ["web-1 127.0.0.1:443", "web-2 127.0.0.1:443"],
    });
  });

  it("keep samples for the stack's retention and listen on the private address only", () => {
    const args = readFileSync(join(root, "worker-1/etc/default/prometheus"), "utf8");
    expect(args).toContain("--storage.tsdb.retention.time=15d");
    expect(args).toContain("--web.listen-address=10.10.0.10:9090");
    expect(readFileSync(join(root, "worker-1/etc/default/prometheus-alertmanager"), "utf8")).toContain('--cluster.listen-address="');
  });
});

describe("the alert rules follow the stack's thresholds and windows", () => {
  const rules = (monitoring: unknown) => {
    const render = renderMonitoringServer(parseStack({ monitoring }).monitoring, { name: "web-1", address: "127.0.0.1" }, []);
    const file = render.files.find((candidate) => candidate.path.endsWith("megaweb-alerts.yml"))!;
    const groups = (parse(file.content) as { groups: { rules: { alert: string; expr: string; for?: string; labels: { severity: string } }[] }[] }).groups;
    return groups.flatMap((group) => group.rules);
  };

  it("uses an overridden disk threshold and resource window", () => {
    const disk = rules({ thresholds: { disk: { warning: 70, critical: 90 } }, windows: { resources: "15m" } }).filter((rule) => rule.alert === "HostDiskFull");
    expect(disk.map((rule) => [rule.labels.severity, rule.expr, rule.for])).toEqual([
      ["warning", "host:filesystem_usage:ratio > 0.7", "15m"],
      ["critical", "host:filesystem_usage:ratio > 0.9", "15m"],
    ]);
  });

  it("alerts on certificates at the stack's days", () => {
    const certificates = rules({ thresholds: { certificateDays: { warning: 21, critical: 7 } } }).filter((rule) => rule.alert === "CertificateExpiring");
    expect(certificates.map((rule) => rule.expr)).toEqual(["site:certificate_expiry:days < 21", "site:certificate_expiry:days < 7"]);
  });
});

describe("each host's exporter files", () => {
  const filesOf = (name: string): readonly HostFile[] => exporters[hosts.findIndex((host) => host.name === name)]!.files;

  it("give a web host nginx's stub_status, mtail, and a blackbox exporter whose config it accepts", () => {
    const web = renderExporters(hosts[1]!);
    expect(web.packages).toEqual(["prometheus-node-exporter", "prometheus-nginx-exporter", "mtail", "prometheus-blackbox-exporter"]);
    check("prometheus-blackbox-exporter", ["--config.check", `--config.file=${join(root, "web-1/etc/prometheus/blackbox.yml")}`]);
    check("mtail", ["--compile_only", "--logtostderr", "--progs", join(root, "web-1/etc/mtail")]);
    expect(readFileSync(join(root, "web-1/etc/default/mtail"), "utf8")).toContain(
      "LOGS=/var/log/nginx/shop_example_com.metrics.log,/var/log/nginx/static_example_com.metrics.log",
    );
  });

  it("watch only the systemd units each host's roles run", () => {
    const units = (name: string) => /unit-include=(\S+)/.exec(filesOf(name)[0]!.content)![1];
    expect(units("loadbalancer-1")).toBe("(ssh|nftables|fail2ban|prometheus-node-exporter|megaweb-backup.*|haproxy|keepalived)[.]service");
    expect(units("worker-1")).toBe(
      "(ssh|nftables|fail2ban|prometheus-node-exporter|megaweb-backup.*|orchestrator-worker|prometheus|prometheus-alertmanager)[.]service",
    );
  });

  it("keep exporter passwords in secret files of their own, and leave them out when not at hand", () => {
    const secretPaths = (files: readonly HostFile[]) => files.filter((file) => file.secret).map((file) => file.path.slice(root.length));
    expect(secretPaths(filesOf("redis-1"))).toEqual(["/redis-1/etc/prometheus/redis-exporter-passwords.json"]);
    expect(secretPaths(filesOf("mysql-1"))).toEqual(["/mysql-1/etc/prometheus/mysqld-exporter.cnf"]);
    expect(
      filesOf("mysql-1")
        .filter((file) => !file.secret)
        .map((file) => file.content)
        .join(""),
    ).not.toContain("exporter-password");
    expect(renderExporters(hosts[6]!).files.filter((file) => file.secret)).toEqual([]);
    // redis_exporter refuses to start on a password file that is not there; a Sentinel without a password names none.
    expect(filesOf("sentinel-1").find((file) => file.path.endsWith("prometheus-redis-exporter"))!.content).not.toContain("--redis.password-file");
  });

  it("grant the MariaDB exporter account status and replication state, and no SELECT", () => {
    const grants = mysqldExporterGrants();
    expect(grants).toContain("GRANT PROCESS, BINLOG MONITOR, REPLICA MONITOR ON *.* TO 'megaweb_exporter'@'localhost';");
    expect(grants).not.toContain("SELECT ON");
  });
});

describe("rendering is pure", () => {
  it("gives the same bytes for the same single box (snapshot)", () => {
    const box: MonitoredHost = {
      name: "web-1",
      roles: ["web", "mysql", "redis", "worker"],
      address: "127.0.0.1",
      monitoring: true,
      sites: [site("example.com", true, true)],
    };
    const files = [...renderMonitoringServer(parseStack({}).monitoring, { name: "web-1", address: "127.0.0.1" }, [box]).files, ...renderExporters(box).files];
    expect(Object.fromEntries(files.map((file) => [file.path, file.content]))).toMatchSnapshot();
  });
});
