import { isIP } from "node:net";
import type { FirewallRule } from "../plan/firewall";
import type { Role } from "../schema/infrastructure";
import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * The host firewall (nftables): the plan's firewall matrix for one host, so an existing host
 * without a cloud firewall is shut the same way a droplet is.
 */

export interface FirewallPeer {
  readonly roles: readonly Role[];
  readonly privateIp: string;
}

/**
 * The plan's firewall matrix as nftables rules for one host: the same rows the cloud firewall
 * gets, with role sources resolved to the other hosts' (`peers`) private addresses; a port
 * only its own host uses stays shut. Admin SSH with no admin CIDRs, and traffic from
 * DigitalOcean's load balancer, are open here: on droplets the cloud firewall narrows them, and
 * on existing hosts the operator's own network does.
 */
export function hostFirewallRules(
  roles: readonly Role[],
  matrix: readonly FirewallRule[],
  peers: readonly FirewallPeer[],
  adminCidrs: readonly string[],
): string[] {
  const rows = matrix.filter((rule) => rule.role === "all" || roles.includes(rule.role));
  const byPort = new Map<number, Set<string> | "anywhere">();
  for (const rule of rows) {
    for (const source of rule.sources) {
      const addresses =
        source.kind === "internet" || source.kind === "loadBalancer" || (source.kind === "admin" && adminCidrs.length === 0)
          ? "anywhere"
          : source.kind === "admin"
            ? adminCidrs
            : peers.filter((peer) => peer.roles.includes(source.role)).map((peer) => peer.privateIp);
      const known = byPort.get(rule.port);
      if (addresses === "anywhere" || known === "anywhere") byPort.set(rule.port, "anywhere");
      else byPort.set(rule.port, new Set([...(known ?? []), ...addresses]));
    }
  }
  const ports = [...byPort.entries()]
    .sort(([a], [b]) => a - b)
    .flatMap(([port, sources]) => (sources === "anywhere" ? [`tcp dport ${port} accept`] : fromSources([...sources].sort(), `tcp dport ${port} accept`)));
  // keepalived's adverts (VRRP, IP protocol 112, by number: a minimal host has no /etc/protocols): a node that cannot hear its peer takes the shared address too.
  const balancers = roles.includes("loadbalancer") ? peers.filter((peer) => peer.roles.includes("loadbalancer")).map((peer) => peer.privateIp) : [];
  return [...ports, ...fromSources(balancers.sort(), "meta l4proto 112 accept")];
}

/** `/etc/nftables.conf` of one host. */
export function renderNftables(hostName: string, roles: readonly Role[], rules: readonly string[]): HostFile {
  return { path: "/etc/nftables.conf", content: renderTemplate("nftables/nftables.conf", { host: hostName, roles: roles.join(", "), rules }), mode: "0755" };
}

/**
 * One rule per address family; a port whose sources are all absent is not opened at all. What is
 * not IPv6 is IPv4: a VPC's private addresses are, and `megaweb render` stands in for them by name.
 */
function fromSources(sources: readonly string[], rule: string): string[] {
  const v6 = sources.filter((source) => isIP(source.split("/")[0] ?? "") === 6);
  const v4 = sources.filter((source) => !v6.includes(source));
  return [...(v4.length > 0 ? [`ip saddr { ${v4.join(", ")} } ${rule}`] : []), ...(v6.length > 0 ? [`ip6 saddr { ${v6.join(", ")} } ${rule}`] : [])];
}
