import { localSockets } from "../plan/cluster";
import type { Role } from "../schema/infrastructure";
import type { Site } from "../schema/site";
import type { HostContext, SiteContext } from "./context";

/**
 * What the monitoring renderers know about the hosts they watch: the plan's name, roles and
 * private address of each, and the sites a web host serves. The step plan feeds this; tests build
 * it by hand with every exporter on its own loopback port.
 */

/** Where each exporter listens on its host; Prometheus scrapes `address:port`. */
export interface ExporterPorts {
  /** @default 9100 */
  readonly node: number;
  /** @default 9113 */
  readonly nginx: number;
  /** nginx's stub_status, on loopback only, for the nginx exporter. @default 8079 */
  readonly nginxStatus: number;
  /** mtail's per-site request counts from nginx's access logs. @default 3903 */
  readonly mtail: number;
  /** The blackbox exporter that probes the host's own sites (FPM ping, served certificate). @default 9115 */
  readonly blackbox: number;
  /** @default 9104 */
  readonly mysqld: number;
  /** One redis_exporter per host serves both Redis and Sentinel through its `/scrape` endpoint. @default 9121 */
  readonly redis: number;
}

export const defaultExporterPorts: ExporterPorts = { node: 9100, nginx: 9113, nginxStatus: 8079, mtail: 3903, blackbox: 9115, mysqld: 9104, redis: 9121 };

/** Where the exporters reach the services on their own host. */
export interface ServiceEndpoints {
  /** `unix:/path` or `host:port`. @default "unix:/run/mysqld/mysqld.sock" (MariaDB may listen on the private address only) */
  readonly mysql: string;
  /** @default "redis://127.0.0.1:6379" */
  readonly redis: string;
  /** @default "redis://127.0.0.1:26379" */
  readonly sentinel: string;
}

export const defaultServiceEndpoints: ServiceEndpoints = {
  mysql: `unix:${localSockets.mysql}`,
  redis: "redis://127.0.0.1:6379",
  sentinel: "redis://127.0.0.1:26379",
};

/** A site as the monitoring sees it: its logs, and what the host's blackbox probes of it. */
export interface MonitoredSite {
  readonly domain: string;
  readonly slug: string;
  /** nginx's sampled log of the site's responses (templates/nginx/nginx.conf), which mtail counts. */
  readonly metricsLog: string;
  /** The pool's ping through nginx on the host (`http(s)://<loopback>/fpm-ping`); absent for sites without a pool. */
  readonly fpmPingUrl?: string;
  /** `address:port` of the TLS listener whose certificate is checked; absent without TLS. */
  readonly tlsEndpoint?: string;
}

export interface MonitoredHost {
  /** The plan's name, e.g. `web-1`: every series carries it as `host`. */
  readonly name: string;
  readonly roles: readonly Role[];
  /** The private address its exporters listen on and Prometheus scrapes. */
  readonly address: string;
  readonly ports?: Partial<ExporterPorts>;
  readonly endpoints?: Partial<ServiceEndpoints>;
  /** Sites served here (web hosts). */
  readonly sites?: readonly MonitoredSite[];
  /** Units a host runs besides its roles' own (node_exporter's unit-include syntax, without `.service`). */
  readonly extraUnits?: readonly string[];
  /** The host runs Prometheus and Alertmanager. @default false */
  readonly monitoring?: boolean;
  /**
   * Directory the host's file tree hangs from: empty on a server, a scratch directory in tests.
   * @default ""
   */
  readonly root?: string;
}

/** A host with its defaults applied, as every renderer reads it. */
export interface ResolvedHost {
  readonly name: string;
  readonly roles: readonly Role[];
  readonly address: string;
  readonly ports: ExporterPorts;
  readonly endpoints: ServiceEndpoints;
  readonly sites: readonly MonitoredSite[];
  readonly extraUnits: readonly string[];
  readonly monitoring: boolean;
  readonly path: (absolute: string) => string;
}

export function resolveHost(host: MonitoredHost): ResolvedHost {
  const root = (host.root ?? "").replace(/\/$/, "");
  return {
    name: host.name,
    roles: host.roles,
    address: host.address,
    ports: { ...defaultExporterPorts, ...host.ports },
    endpoints: { ...defaultServiceEndpoints, ...host.endpoints },
    sites: host.sites ?? [],
    extraUnits: host.extraUnits ?? [],
    monitoring: host.monitoring ?? false,
    path: (absolute) => `${root}${absolute}`,
  };
}

/** `address:port`, with IPv6 addresses bracketed. */
export function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Which exporters a host runs follows from its roles. */
export function exportersOf(host: Pick<ResolvedHost, "roles" | "sites">) {
  const web = host.roles.includes("web");
  return {
    nginx: web,
    mtail: web && host.sites.length > 0,
    blackbox: host.sites.some((site) => site.fpmPingUrl !== undefined || site.tlsEndpoint !== undefined),
    mysqld: host.roles.includes("mysql"),
    redis: host.roles.includes("redis") || host.roles.includes("sentinel"),
  };
}

/** The sites of a rendered web host as the monitoring sees them: probes go to nginx on loopback (or the address it listens on). */
export function monitoredSites(sites: readonly Site[], contexts: readonly SiteContext[], host: HostContext): MonitoredSite[] {
  const probeAddress = host.listenAddress ?? "127.0.0.1";
  return sites.map((site, index) => {
    const context = contexts[index]!;
    const tls = context.tls !== undefined;
    const port = tls ? host.ports.https : host.ports.http;
    return {
      domain: site.domain,
      slug: context.slug,
      metricsLog: context.nginxLogs.metrics,
      ...(context.pool !== undefined &&
        site.webServer === "nginx" && { fpmPingUrl: `${tls ? "https" : "http"}://${hostPort(probeAddress, port)}${context.pool.pingPath}` }),
      ...(tls && { tlsEndpoint: hostPort(probeAddress, host.ports.https) }),
    };
  });
}

/** The host that runs Prometheus and Alertmanager. */
export interface MonitoringServer {
  /** The plan's name, e.g. `monitoring-1`, or the single box's `web-1`. */
  readonly name: string;
  /** The private address both listen on; the control panel queries Prometheus there. */
  readonly address: string;
  /** @default { prometheus: 9090, alertmanager: 9093 } */
  readonly ports?: Partial<{ readonly prometheus: number; readonly alertmanager: number }>;
  /** @default "" */
  readonly root?: string;
}

export function resolveServer(server: MonitoringServer) {
  const root = (server.root ?? "").replace(/\/$/, "");
  const ports = { prometheus: 9090, alertmanager: 9093, ...server.ports };
  return {
    name: server.name,
    prometheus: hostPort(server.address, ports.prometheus),
    alertmanager: hostPort(server.address, ports.alertmanager),
    path: (absolute: string) => `${root}${absolute}`,
  };
}
export type ResolvedServer = ReturnType<typeof resolveServer>;
