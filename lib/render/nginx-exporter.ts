import type { HostFile } from "./files";
import { hostPort, type ResolvedHost } from "./scrape-targets";
import { renderTemplate } from "./template";

/**
 * nginx's stub_status on a loopback-only server of its own, and the exporter that reads it.
 * stub_status counts connections and requests for the whole server; per-site answers come from
 * mtail (`mtail.ts`).
 */
export function renderNginxExporter(host: ResolvedHost): HostFile[] {
  const view = { host: host.name, port: host.ports.nginxStatus };
  return [
    { path: host.path("/etc/nginx/conf.d/megaweb-stub-status.conf"), content: renderTemplate("nginx-exporter/megaweb-stub-status.conf", view) },
    {
      path: host.path("/etc/default/prometheus-nginx-exporter"),
      content: renderTemplate("nginx-exporter/prometheus-nginx-exporter.default", {
        ...view,
        listen: hostPort(host.address, host.ports.nginx),
        statusUrl: `http://127.0.0.1:${host.ports.nginxStatus}/stub_status`,
      }),
    },
  ];
}
