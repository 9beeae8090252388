import type { Role } from "../schema/infrastructure";

/** Who may open a connection: anyone, the operators' CIDRs, the hosts of a role, or the managed load balancer. */
export type Source =
  { readonly kind: "internet" } | { readonly kind: "admin" } | { readonly kind: "role"; readonly role: Role } | { readonly kind: "loadBalancer" };

/** One row of the firewall matrix: hosts of `role` accept TCP on `port` from `sources`. */
export interface FirewallRule {
  /** `all` applies to every host the plan makes. */
  readonly role: Role | "all";
  readonly port: number;
  readonly sources: readonly Source[];
  /** Why the port is open; printed by `megaweb plan`. */
  readonly purpose: string;
}

/** Ports reached only inside the cluster; the property tests assert none of them faces the internet. */
export const privatePorts = {
  mysql: 3306,
  redis: 6379,
  sentinel: 26379,
  balancerAgent: 9777,
  nodeExporter: 9100,
  nginxExporter: 9113,
  mtail: 3903,
  blackboxExporter: 9115,
  mysqldExporter: 9104,
  redisExporter: 9121,
  prometheus: 9090,
  alertmanager: 9093,
  acmeIssuer: 8402,
} as const;

const internet: Source = { kind: "internet" };
const admin: Source = { kind: "admin" };
const from = (...roles: Role[]): Source[] => roles.map((role) => ({ kind: "role", role }));

/**
 * The whole firewall matrix, the one place it is written. `webSources` is who reaches the web
 * nodes: the internet when nothing sits in front of them, else the load balancer.
 * `certificateIssuer`: Let's Encrypt sites on several web nodes, one of which issues for all.
 * Workers take no inbound traffic but SSH.
 */
function matrix(webSources: readonly Source[], agentSources: readonly Source[], certificateIssuer: boolean): FirewallRule[] {
  const issuing: FirewallRule[] = [
    { role: "web", port: 22, sources: from("web"), purpose: "the issuing web node pushing certificates to the others (a forced command)" },
    { role: "web", port: privatePorts.acmeIssuer, sources: from("web"), purpose: "ACME challenges a web node does not hold, asked of the issuing node" },
  ];
  return [
    { role: "all", port: 22, sources: [admin], purpose: "SSH for operators and the provisioning steps" },
    { role: "loadbalancer", port: 80, sources: [internet], purpose: "HTTP to the load balancer" },
    { role: "loadbalancer", port: 443, sources: [internet], purpose: "HTTPS to the load balancer" },
    { role: "web", port: 80, sources: webSources, purpose: "HTTP and the load balancer's health check" },
    { role: "web", port: 443, sources: webSources, purpose: "HTTPS (TLS ends on the web nodes)" },
    { role: "web", port: privatePorts.balancerAgent, sources: agentSources, purpose: "HAProxy's agent check, through which a deploy drains the node" },
    ...(certificateIssuer ? issuing : []),
    { role: "mysql", port: privatePorts.mysql, sources: from("web", "worker", "mysql"), purpose: "MySQL clients and replication" },
    { role: "redis", port: privatePorts.redis, sources: from("web", "worker", "redis", "sentinel"), purpose: "Redis clients, replication and Sentinel probes" },
    {
      role: "sentinel",
      port: privatePorts.sentinel,
      sources: from("web", "worker", "redis", "sentinel"),
      purpose: "Sentinel discovery of the Redis primary (also by the Redis servers' replication step), and Sentinel gossip",
    },
    { role: "backup", port: 22, sources: from("web", "mysql", "redis"), purpose: "restic over SFTP from the hosts that hold data" },
    // Exporters answer to Prometheus only; the control panel on the web hosts reads Prometheus.
    { role: "all", port: privatePorts.nodeExporter, sources: from("monitoring"), purpose: "node_exporter, scraped by Prometheus" },
    { role: "web", port: privatePorts.nginxExporter, sources: from("monitoring"), purpose: "nginx exporter, scraped by Prometheus" },
    { role: "web", port: privatePorts.mtail, sources: from("monitoring"), purpose: "mtail's per-site request counts, scraped by Prometheus" },
    { role: "web", port: privatePorts.blackboxExporter, sources: from("monitoring"), purpose: "blackbox probes of the sites, asked by Prometheus" },
    { role: "mysql", port: privatePorts.mysqldExporter, sources: from("monitoring"), purpose: "MariaDB exporter, scraped by Prometheus" },
    { role: "redis", port: privatePorts.redisExporter, sources: from("monitoring"), purpose: "Redis exporter, scraped by Prometheus" },
    { role: "sentinel", port: privatePorts.redisExporter, sources: from("monitoring"), purpose: "Sentinel exporter, scraped by Prometheus" },
    { role: "monitoring", port: privatePorts.prometheus, sources: from("web"), purpose: "Prometheus, queried by the control panel's charts" },
    { role: "monitoring", port: privatePorts.alertmanager, sources: from("monitoring"), purpose: "Alertmanager, sent alerts by Prometheus" },
  ];
}

/**
 * The matrix for a topology: rows for roles no host has are dropped, as are sources naming such
 * roles, so every rule can be rendered (DigitalOcean refuses a rule without sources).
 */
export function firewallMatrix(
  presentRoles: ReadonlySet<Role>,
  loadBalancer: "digitalocean" | "haproxy" | undefined,
  certificateIssuer = false,
): FirewallRule[] {
  const webSources: Source[] = loadBalancer === undefined ? [internet] : loadBalancer === "digitalocean" ? [{ kind: "loadBalancer" }] : from("loadbalancer");
  return matrix(webSources, loadBalancer === "haproxy" ? from("loadbalancer") : [], certificateIssuer)
    .filter((rule) => rule.role === "all" || presentRoles.has(rule.role))
    .map((rule) => ({ ...rule, sources: rule.sources.filter((source) => source.kind !== "role" || presentRoles.has(source.role)) }))
    .filter((rule) => rule.sources.length > 0);
}

export function describeSource(source: Source): string {
  switch (source.kind) {
    case "internet":
      return "internet";
    case "admin":
      return "admin CIDRs";
    case "loadBalancer":
      return "DigitalOcean load balancer";
    case "role":
      return source.role;
  }
}
