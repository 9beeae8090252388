import type { Role } from "../schema/infrastructure";
import type { HostFile } from "./files";
import { hostPort, type ResolvedHost } from "./scrape-targets";
import { renderTemplate } from "./template";

/**
 * The systemd units each role runs, as node_exporter's unit-include regex reads them (the unit
 * name without `.service`). Only these are watched, so ServiceUnitDown pages for a unit megaweb
 * put there and never for one a package added. `[.]` instead of `\.`: the regex passes through
 * systemd's EnvironmentFile and `$ARGS` splitting, which would eat a backslash.
 */
const roleUnits: Readonly<Record<Role, readonly string[]>> = {
  web: [
    "nginx",
    "php[0-9][.][0-9]-fpm-site@.+",
    "apache2",
    "lshttpd",
    "prometheus-nginx-exporter",
    "mtail",
    "prometheus-blackbox-exporter",
    "orchestrator-web",
  ],
  worker: ["orchestrator-worker"],
  mysql: ["mariadb", "prometheus-mysqld-exporter"],
  redis: ["redis-server", "prometheus-redis-exporter"],
  sentinel: ["redis-sentinel", "prometheus-redis-exporter"],
  loadbalancer: ["haproxy", "keepalived"],
  backup: ["ssh"],
  monitoring: ["prometheus", "prometheus-alertmanager"],
};
/** Backup units run once and stop, so they alert on `failed`, never on not being active. */
export const backupUnits = "megaweb-backup.*";
const everyHostUnits = ["ssh", "nftables", "fail2ban", "prometheus-node-exporter", backupUnits];

export function watchedUnits(host: Pick<ResolvedHost, "roles" | "extraUnits" | "monitoring">): string {
  const units = new Set([
    ...everyHostUnits,
    ...host.roles.flatMap((role) => roleUnits[role]),
    ...(host.monitoring ? roleUnits.monitoring : []),
    ...host.extraUnits,
  ]);
  return `(${[...units].join("|")})[.]service`;
}

export function renderNodeExporter(host: ResolvedHost): HostFile {
  return {
    path: host.path("/etc/default/prometheus-node-exporter"),
    content: renderTemplate("node-exporter/prometheus-node-exporter.default", {
      host: host.name,
      listen: hostPort(host.address, host.ports.node),
      units: watchedUnits(host),
      textfileDir: host.path("/var/lib/prometheus/node-exporter"),
    }),
  };
}
