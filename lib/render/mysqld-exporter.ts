import type { HostFile } from "./files";
import { hostPort, type ResolvedHost } from "./scrape-targets";
import { renderTemplate } from "./template";

/** The MariaDB account the exporter logs in with, from this host only. */
export const mysqldExporterUser = "megaweb_exporter";

/**
 * mysqld_exporter's arguments and its login file. The login holds the password, so it is a
 * secret file of its own, left out when the password is not at hand.
 */
export function renderMysqldExporter(host: ResolvedHost, password: string | undefined): HostFile[] {
  const myCnf = host.path("/etc/prometheus/mysqld-exporter.cnf");
  const endpoint = host.endpoints.mysql;
  const socket = endpoint.startsWith("unix:") ? endpoint.slice("unix:".length) : undefined;
  const [hostAddress, port] = socket === undefined ? splitHostPort(endpoint) : [undefined, undefined];
  const files: HostFile[] = [
    {
      path: host.path("/etc/default/prometheus-mysqld-exporter"),
      content: renderTemplate("mysqld-exporter/prometheus-mysqld-exporter.default", {
        host: host.name,
        listen: hostPort(host.address, host.ports.mysqld),
        myCnf,
      }),
    },
  ];
  if (password !== undefined) {
    files.push({
      path: myCnf,
      content: renderTemplate("mysqld-exporter/mysqld-exporter.cnf", { host: host.name, user: mysqldExporterUser, password, socket, hostAddress, port }),
      mode: "0640",
      owner: "root:prometheus",
      secret: true,
    });
  }
  return files;
}

/**
 * The SQL that makes the exporter's account; run by the MySQL step with `@exporter_password` set
 * from stdin. `from` is where the exporter connects from: `localhost` over the socket.
 */
export function mysqldExporterGrants(from = "localhost"): string {
  return renderTemplate("mysqld-exporter/grants.sql", { user: mysqldExporterUser, from });
}

function splitHostPort(endpoint: string): [string, string] {
  const index = endpoint.lastIndexOf(":");
  return [endpoint.slice(0, index).replace(/^\[|\]$/g, ""), endpoint.slice(index + 1)];
}
