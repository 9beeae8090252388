import type { HostFile } from "./files";
import { renderTemplate } from "./template";

export interface HaproxyBackend {
  /** The plan's host name, e.g. `web-2`. */
  readonly name: string;
  /** The address HAProxy reaches it on: the private IP inside the VPC. */
  readonly address: string;
}

export interface HaproxyConfigInput {
  readonly backends: readonly HaproxyBackend[];
  /** Validated by the schema as a plain URL path, so it cannot break out of the config line. */
  readonly healthPath: string;
}

/** `/etc/haproxy/haproxy.cfg` for the HAProxy nodes, from `templates/haproxy/haproxy.cfg`. */
export function renderHaproxyConfig(input: HaproxyConfigInput): HostFile {
  return { path: "/etc/haproxy/haproxy.cfg", content: renderTemplate("haproxy/haproxy.cfg", input) };
}
