import type { HaproxyHostFacts } from "../plan/haproxy-limits";
import { sizeHaproxyLimits } from "../plan/haproxy-limits";
import type { HealthCheck } from "./balanced-web";
import type { HostFile } from "./files";
import { renderWebBackends, type WebBackendServer } from "./haproxy-backends";
import { renderTemplate } from "./template";

export interface HaproxyConfigInput {
  /** The web nodes, by the plan's host name and private address. */
  readonly servers: readonly WebBackendServer[];
  /** The web nodes' health checks (`balancerHealthChecks`), the same for every node of a stack. */
  readonly checks: readonly HealthCheck[];
  /** What the load balancer host allows, from its facts step. */
  readonly host: Omit<HaproxyHostFacts, "servers">;
}

/**
 * `/etc/haproxy/haproxy.cfg` for the HAProxy nodes, from `templates/haproxy/haproxy.cfg`: the
 * frontends, `maxconn` sized from what the host allows, and the web backends of
 * `haproxy-backends.ts`. A droplet and a local machine get the same file but for that number.
 */
export function renderHaproxyConfig(input: HaproxyConfigInput): HostFile {
  const limits = sizeHaproxyLimits({ ...input.host, servers: input.servers.length });
  return {
    path: "/etc/haproxy/haproxy.cfg",
    content: renderTemplate("haproxy/haproxy.cfg", {
      ...input.host,
      maxconn: limits.maxconn,
      boundBy: limits.boundBy,
      webBackends: renderWebBackends({ servers: input.servers, checks: input.checks }).trimEnd(),
    }),
  };
}
