import { isIP } from "node:net";
import type { FirewallRule } from "../../lib/plan/firewall";
import { renderTemplate } from "../../lib/render/template";
import type { Role } from "../../lib/schema/infrastructure";
import { stepCommand } from "./script";

/** The sudo user created on every host for people; automation keeps using the connection's user. */
export const deployUser = "deploy";

/**
 * Waits for cloud-init where present, then prints the facts rendering needs, as JSON. It reads
 * only, so it runs without the shared helpers: every later step renders from its output, and it
 * must not change (and hide those steps' diffs behind unknowns) when the helpers do.
 */
export function factsCommand(): string {
  return renderTemplate("provision/facts.sh", {});
}

export interface ServerFacts {
  readonly os: string;
  readonly codename: string;
  readonly memoryMb: number;
}

export function parseFacts(stdout: string): ServerFacts {
  const facts = JSON.parse(stdout.trim().split("\n").pop() ?? "") as ServerFacts;
  if (typeof facts.memoryMb !== "number" || typeof facts.os !== "string") throw new Error(`unexpected host facts: ${stdout}`);
  return facts;
}

/** Packages, deploy user with the stack's SSH keys, keys-only sshd, unattended upgrades, time sync. */
export function baseCommand(sshPublicKeys: readonly string[]): string {
  const body = renderTemplate("provision/base.sh", {
    sshd: renderTemplate("sshd/50-megaweb.conf", {}).trimEnd(),
    autoUpgrades: renderTemplate("base/20auto-upgrades", {}).trimEnd(),
  });
  return stepCommand(body, { deploy_user: deployUser, deploy_keys: sshPublicKeys.map((key) => `${key}\n`).join("") });
}

export interface FirewallPeer {
  readonly roles: readonly Role[];
  readonly privateIp: string;
}

/**
 * The plan's firewall matrix as nftables rules for one host: the same rows the cloud firewall
 * gets, with role sources resolved to the other hosts' (`peers`) private addresses; a port
 * only its own host uses stays shut. Admin SSH with no admin
 * CIDRs, and traffic from DigitalOcean's load balancer, are open here: on droplets the cloud
 * firewall narrows them, and on existing hosts the operator's own network does.
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
  return [...byPort.entries()]
    .sort(([a], [b]) => a - b)
    .flatMap(([port, sources]) => (sources === "anywhere" ? [`tcp dport ${port} accept`] : fromSources([...sources].sort(), `tcp dport ${port} accept`)));
}

export function nftablesConfig(hostName: string, roles: readonly Role[], rules: readonly string[]): string {
  return renderTemplate("nftables/nftables.conf", { host: hostName, roles: roles.join(", "), rules });
}

export function firewallCommand(nftables: string): string {
  return stepCommand(renderTemplate("provision/firewall.sh", { nftables: nftables.trimEnd() }));
}

/** One rule per address family; a port whose sources are all absent is not opened at all. */
function fromSources(sources: readonly string[], rule: string): string[] {
  const family = (version: number) => sources.filter((source) => isIP(source.split("/")[0] ?? "") === version);
  const v4 = family(4);
  const v6 = family(6);
  return [...(v4.length > 0 ? [`ip saddr { ${v4.join(", ")} } ${rule}`] : []), ...(v6.length > 0 ? [`ip6 saddr { ${v6.join(", ")} } ${rule}`] : [])];
}
