import type { Monitoring } from "../schema/monitoring";
import { fpmModule, tlsModule } from "./blackbox-exporter";
import type { HostFile } from "./files";
import { siteLogPattern } from "./mtail";
import { backupUnits } from "./node-exporter";
import { redisTargets } from "./redis-exporter";
import { exportersOf, hostPort, type ResolvedHost, type ResolvedServer } from "./scrape-targets";
import { renderTemplate } from "./template";

/**
 * Prometheus on the monitoring host: what it scrapes (every exporter of every host, by private
 * address), the recording rules the control panel charts from, and the alert rules with the
 * stack's thresholds and windows.
 */
export function renderPrometheus(monitoring: Monitoring, server: ResolvedServer, hosts: readonly ResolvedHost[]): HostFile[] {
  const configFile = server.path("/etc/prometheus/prometheus.yml");
  const recordingRules = server.path("/etc/prometheus/rules/megaweb-records.yml");
  const alertRules = server.path("/etc/prometheus/rules/megaweb-alerts.yml");
  const view = { windows: monitoring.windows };
  return [
    { path: configFile, content: renderTemplate("prometheus/prometheus.yml", { ...view, ...scrapeView(server, hosts), recordingRules, alertRules }) },
    { path: recordingRules, content: renderTemplate("prometheus/megaweb-records.yml", view) },
    { path: alertRules, content: renderAlertRules(monitoring) },
    {
      path: server.path("/etc/default/prometheus"),
      content: renderTemplate("prometheus/prometheus.default", {
        server: server.name,
        configFile,
        dataDir: server.path("/var/lib/prometheus/metrics2/"),
        retention: monitoring.retention,
        listen: server.prometheus,
      }),
    },
  ];
}

export function renderAlertRules(monitoring: Monitoring): string {
  const { thresholds } = monitoring;
  const level = (severity: "warning" | "critical") => ({
    severity,
    cpu: ratio(thresholds.cpu[severity]),
    memory: ratio(thresholds.memory[severity]),
    disk: ratio(thresholds.disk[severity]),
    errorRate: ratio(thresholds.errorRate[severity]),
    replicationLagSeconds: thresholds.replicationLagSeconds[severity],
    certificateDays: thresholds.certificateDays[severity],
  });
  return renderTemplate("prometheus/megaweb-alerts.yml", {
    windows: monitoring.windows,
    levels: [level("warning"), level("critical")],
    oneShotUnits: `${backupUnits}[.]service`,
    backupUnits: `${backupUnits}[.]service`,
  });
}

/** Percent → the ratio PromQL compares with, without float noise (85 → 0.85, not 0.8500000000000001). */
function ratio(percent: number): number {
  return Number((percent / 100).toPrecision(6));
}

function scrapeView(server: ResolvedServer, hosts: readonly ResolvedHost[]) {
  const per = (wanted: keyof ReturnType<typeof exportersOf>, port: (host: ResolvedHost) => number) =>
    hosts.filter((host) => exportersOf(host)[wanted]).map((host) => ({ host: host.name, target: hostPort(host.address, port(host)) }));
  const blackbox = (host: ResolvedHost) => hostPort(host.address, host.ports.blackbox);
  const redisExporter = (host: ResolvedHost) => hostPort(host.address, host.ports.redis);
  const sites = hosts.flatMap((host) => host.sites.map((site) => ({ host, site })));
  return {
    server: server.name,
    prometheus: server.prometheus,
    alertmanager: server.alertmanager,
    node: hosts.map((host) => ({ host: host.name, target: hostPort(host.address, host.ports.node) })),
    nginx: per("nginx", (host) => host.ports.nginx),
    mtail: per("mtail", (host) => host.ports.mtail),
    siteLogs: sites.map(({ site }) => ({ domain: site.domain, logPattern: siteLogPattern(site.metricsLog) })),
    probeJobs: [
      {
        job: "site-fpm",
        comment: "Each site's pool answers its ping through nginx on the web host, probed there by blackbox.",
        probes: sites.flatMap(({ host, site }) =>
          site.fpmPingUrl === undefined
            ? []
            : [{ host: host.name, domain: site.domain, target: site.fpmPingUrl, module: fpmModule(site), blackbox: blackbox(host) }],
        ),
      },
      {
        job: "site-tls",
        comment:
          "The certificate each site serves, read over TLS with the site's name (what visitors get, even when a renewed one waits on disk for a reload).",
        probes: sites.flatMap(({ host, site }) =>
          site.tlsEndpoint === undefined
            ? []
            : [{ host: host.name, domain: site.domain, target: site.tlsEndpoint, module: tlsModule(site), blackbox: blackbox(host) }],
        ),
      },
    ].filter((job) => job.probes.length > 0),
    mysqld: per("mysqld", (host) => host.ports.mysqld),
    redisJobs: (["redis", "sentinel"] as const)
      .map((job) => ({
        job,
        servers: hosts.flatMap((host) => {
          const service = redisTargets(host)[job];
          return service === undefined ? [] : [{ host: host.name, service, target: redisExporter(host) }];
        }),
      }))
      .filter((job) => job.servers.length > 0),
  };
}
