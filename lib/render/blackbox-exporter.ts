import type { HostFile } from "./files";
import { hostPort, type MonitoredSite, type ResolvedHost } from "./scrape-targets";
import { renderTemplate } from "./template";

/**
 * A blackbox exporter on each web host probes that host's own sites through nginx on loopback:
 * the pool's ping (`fpm_<slug>`) and the certificate served (`tls_<slug>`). Probing from the host
 * itself reaches every site behind any load balancer and needs no extra firewall opening; the
 * module per site carries the site's name for Host and SNI.
 */
export const fpmModule = (site: MonitoredSite) => `fpm_${site.slug}`;
export const tlsModule = (site: MonitoredSite) => `tls_${site.slug}`;

export function renderBlackboxExporter(host: ResolvedHost): HostFile[] {
  const configFile = host.path("/etc/prometheus/blackbox.yml");
  return [
    {
      path: configFile,
      content: renderTemplate("blackbox-exporter/blackbox.yml", {
        host: host.name,
        fpm: host.sites.filter((site) => site.fpmPingUrl !== undefined).map((site) => ({ module: fpmModule(site), domain: site.domain })),
        tls: host.sites.filter((site) => site.tlsEndpoint !== undefined).map((site) => ({ module: tlsModule(site), domain: site.domain })),
      }),
    },
    {
      path: host.path("/etc/default/prometheus-blackbox-exporter"),
      content: renderTemplate("blackbox-exporter/prometheus-blackbox-exporter.default", {
        host: host.name,
        configFile,
        listen: hostPort(host.address, host.ports.blackbox),
      }),
    },
  ];
}
