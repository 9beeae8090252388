import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * keepalived on the two HAProxy nodes: VRRP over unicast on the private network elects the node
 * that serves the shared address. On existing hosts keepalived moves a virtual address on the
 * private interface; on DigitalOcean, where the address is a reserved IP routed by the cloud, a
 * notify hook asks the DigitalOcean API to assign it to the new master.
 */

export interface LoadBalancerNode {
  readonly name: string;
  /** Where the other node's adverts arrive from and go to. */
  readonly privateAddress: string;
}

export interface ReservedIpAssignment {
  readonly address: string;
  /** This node's droplet, in decimal. */
  readonly dropletId: number | string;
  /** A token with the scope reserved_ip:update (and the read scopes it requires), or its placeholder. */
  readonly token: string;
  /** @default "https://api.digitalocean.com" */
  readonly api?: string;
}

export interface KeepalivedInput {
  /** The plan's load balancers in order; the first wins the first election. */
  readonly nodes: readonly LoadBalancerNode[];
  readonly index: number;
  /** The private interface: eth1 on a DigitalOcean droplet, host0 on a local machine. */
  readonly interface: string;
  /** Existing hosts: the address keepalived moves, with the private network's prefix length, like 198.18.0.50/24. */
  readonly virtualAddress?: string;
  /** DigitalOcean: the reserved IP the notify hook moves. */
  readonly reservedIp?: ReservedIpAssignment;
  /** One VRRP group per network segment; the pair must agree. @default 51 */
  readonly virtualRouterId?: number;
  /** HAProxy's HTTP frontend, which the check connects to. @default 80 */
  readonly httpPort?: number;
  /** @default "" */
  readonly root?: string;
}

export interface KeepalivedFiles {
  readonly config: HostFile;
  readonly check: HostFile;
  /** DigitalOcean only: the hook, its settings and the token. */
  readonly reservedIp?: { readonly hook: HostFile; readonly settings: HostFile; readonly token: HostFile };
}

export const defaultApi = "https://api.digitalocean.com";

export function renderKeepalived(input: KeepalivedInput): KeepalivedFiles {
  const root = input.root ?? "";
  const self = input.nodes[input.index];
  if (self === undefined) throw new Error(`load balancer ${input.index} is not among the ${input.nodes.length} load balancers`);
  if ((input.virtualAddress === undefined) === (input.reservedIp === undefined)) {
    throw new Error("keepalived moves either a virtual address (existing hosts) or a reserved IP (DigitalOcean)");
  }
  const libexec = `${root}/usr/local/libexec/megaweb`;
  const check: HostFile = {
    path: `${libexec}/haproxy-alive`,
    content: renderTemplate("keepalived/haproxy-alive", { port: input.httpPort ?? 80 }),
    mode: "0755",
  };
  const reservedIp = input.reservedIp && renderReservedIp(input.reservedIp, root, libexec);
  const config: HostFile = {
    path: `${root}/etc/keepalived/keepalived.conf`,
    content: renderTemplate("keepalived/keepalived.conf", {
      sharedAddress: input.virtualAddress ?? `the reserved IP ${input.reservedIp!.address}`,
      routerId: self.name,
      checkScript: check.path,
      interface: input.interface,
      virtualRouterId: input.virtualRouterId ?? 51,
      // 150, 100, …: the first node wins the first election.
      priority: 150 - 50 * input.index,
      privateAddress: self.privateAddress,
      peers: input.nodes.filter((_, index) => index !== input.index).map((node) => node.privateAddress),
      virtualAddress: input.virtualAddress ?? false,
      notifyMaster: reservedIp?.hook.path ?? false,
    }),
  };
  return { config, check, ...(reservedIp && { reservedIp }) };
}

/** The token the hook reads: root only, written by a secret-only step of its own. */
export function renderReservedIpToken(token: string, root = ""): HostFile {
  return { path: `${root}/etc/megaweb/digitalocean-reserved-ip-token`, content: `${token}\n`, mode: "0600", secret: true };
}

function renderReservedIp(assignment: ReservedIpAssignment, root: string, libexec: string) {
  const token = renderReservedIpToken(assignment.token, root);
  const tokenFile = token.path;
  const settings: HostFile = {
    path: `${root}/etc/megaweb/reserved-ip.conf`,
    content: renderTemplate("keepalived/reserved-ip.conf", {
      reservedIp: assignment.address,
      dropletId: assignment.dropletId,
      api: assignment.api ?? defaultApi,
      tokenFile,
    }),
  };
  return {
    hook: { path: `${libexec}/reserved-ip-assign`, content: renderTemplate("keepalived/reserved-ip-assign", { settingsFile: settings.path }), mode: "0755" },
    settings,
    token,
  };
}
