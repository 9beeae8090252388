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

export function renderExporters(host: MonitoredHost, secrets: ExporterSecrets = {}): HostMonitoringRender {
  const resolved = resolveHost(host);
  const wanted = exportersOf(resolved);
  return {
    files: [
      renderNodeExporter(resolved),
      ...(wanted.nginx ? renderNginxExporter(resolved) : []),
      ...(wanted.mtail ? renderMtail(resolved) : []),
      ...(wanted.blackbox ? renderBlackboxExporter(resolved) : []),
      ...(wanted.mysqld ? renderMysqldExporter(resolved, secrets.mysqlExporter) : []),
      ...(wanted.redis ? renderRedisExporter(resolved, { redis: secrets.redis, sentinel: secrets.sentinel }) : []),
    ],
    packages: [
      "prometheus-node-exporter",
      ...(wanted.nginx ? ["prometheus-nginx-exporter"] : []),
      ...(wanted.mtail ? ["mtail"] : []),
      ...(wanted.blackbox ? ["prometheus-blackbox-exporter"] : []),
      ...(wanted.mysqld ? ["prometheus-mysqld-exporter"] : []),
      ...(wanted.redis ? ["prometheus-redis-exporter"] : []),
    ],
  };
}
