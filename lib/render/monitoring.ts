import type { Monitoring } from "../schema/monitoring";
import { renderAlertmanager } from "./alertmanager";
import { renderBlackboxExporter } from "./blackbox-exporter";
import type { HostFile } from "./files";
import { renderMtail } from "./mtail";
import { renderMysqldExporter } from "./mysqld-exporter";
import { renderNginxExporter } from "./nginx-exporter";
import { renderNodeExporter } from "./node-exporter";
import { renderPrometheus } from "./prometheus";
import { renderRedisExporter } from "./redis-exporter";
import { exportersOf, resolveHost, resolveServer, type MonitoredHost, type MonitoringServer } from "./scrape-targets";

/**
 * Every monitoring file of a stack: the monitoring host's Prometheus and Alertmanager, and each
 * host's exporters. Input is the plan's hosts by name, roles and private address, so the step
 * plan can hand each host its files and packages.
 */

/** Passwords the exporters log in with; absent where the caller cannot decrypt (the CLI). */
export interface ExporterSecrets {
  readonly redis?: string;
  readonly sentinel?: string;
  readonly mysqlExporter?: string;
}

export interface HostMonitoringRender {
  readonly files: readonly HostFile[];
  /** Debian packages the files configure. */
  readonly packages: readonly string[];
}

export function renderMonitoringServer(monitoring: Monitoring, server: MonitoringServer, hosts: readonly MonitoredHost[]): HostMonitoringRender {
  const resolved = resolveServer(server);
  return {
    files: [...renderPrometheus(monitoring, resolved, hosts.map(resolveHost)), ...renderAlertmanager(monitoring, resolved)],
    packages: ["prometheus", "prometheus-alertmanager"],
  };
}

/** One exporter of a host: its Debian package, whose systemd unit has the package's name, and its files. */
export interface ExporterRender {
  readonly package: string;
  readonly files: readonly HostFile[];
}

/** The exporters a host runs, each with its files, in the order they are installed. */
export function exporterRenders(host: MonitoredHost, secrets: ExporterSecrets = {}): ExporterRender[] {
  const resolved = resolveHost(host);
  const wanted = exportersOf(resolved);
  return [
    { package: "prometheus-node-exporter", files: [renderNodeExporter(resolved)] },
    ...(wanted.nginx ? [{ package: "prometheus-nginx-exporter", files: renderNginxExporter(resolved) }] : []),
    ...(wanted.mtail ? [{ package: "mtail", files: renderMtail(resolved) }] : []),
    ...(wanted.blackbox ? [{ package: "prometheus-blackbox-exporter", files: renderBlackboxExporter(resolved) }] : []),
    ...(wanted.mysqld ? [{ package: "prometheus-mysqld-exporter", files: renderMysqldExporter(resolved, secrets.mysqlExporter) }] : []),
    ...(wanted.redis
      ? [{ package: "prometheus-redis-exporter", files: renderRedisExporter(resolved, { redis: secrets.redis, sentinel: secrets.sentinel }) }]
      : []),
  ];
}

export function renderExporters(host: MonitoredHost, secrets: ExporterSecrets = {}): HostMonitoringRender {
  const exporters = exporterRenders(host, secrets);
  return { files: exporters.flatMap((exporter) => exporter.files), packages: exporters.map((exporter) => exporter.package) };
}
