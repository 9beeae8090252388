import type { HostFile } from "./files";
import type { ResolvedHost } from "./scrape-targets";
import { renderTemplate } from "./template";

/**
 * mtail counts every site's answers by status class from a log nginx writes for it alone: stub_status
 * has no per-site counts, and Debian's nginx has no module that keeps them (VTS) or a shared dict
 * cheaper than mtail (Lua cost more, bench/README.md).
 */
export function renderMtail(host: ResolvedHost): HostFile[] {
  return [
    { path: host.path("/etc/mtail/megaweb-nginx.mtail"), content: renderTemplate("mtail/megaweb-nginx.mtail", {}) },
    {
      path: host.path("/etc/default/mtail"),
      content: renderTemplate("mtail/mtail.default", {
        host: host.name,
        logs: host.sites.map((site) => site.metricsLog).join(","),
        address: host.address,
        port: host.ports.mtail,
      }),
    },
  ];
}

/** mtail's `log` label is the log's path; this regex matches one site's, for Prometheus to name the site. */
export function siteLogPattern(metricsLog: string): string {
  return `.*/${metricsLog.split("/").pop()!.replace(/[.]/g, "[.]")}`;
}
