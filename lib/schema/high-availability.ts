import { isIP } from "node:net";
import { z } from "zod";
import type { Problem } from "./errors";

/**
 * What the ha phase's redundancy adds to the infrastructure schema: the Sentinels' quorum and the
 * address the two load balancers share on existing hosts, with the rules a topology must meet to
 * deliver what the phase promises. `infrastructure.ts` adds the fields and runs `checkHighAvailability`.
 */

/** How many Sentinels must agree the Redis primary is down before they fail it over. @default a majority of the Sentinels */
export const SentinelQuorum = z
  .number()
  .int({ error: (issue) => `${String(issue.input)} is not a whole number`, abort: true })
  .min(1, { error: (issue) => `${String(issue.input)} is below 1: some Sentinel must notice` });

/**
 * The address keepalived moves between the two load balancers on existing hosts, with the private
 * network's prefix length.
 * @example "198.18.0.50/24"
 */
export const VirtualAddress = z.string().refine((value) => parseIpv4Network(value) !== undefined, {
  error: (issue) => `${JSON.stringify(issue.input)} is not an IPv4 address with its network's prefix length (like 198.18.0.50/24)`,
});

interface Ipv4Network {
  readonly address: number;
  readonly prefix: number;
}

function ipv4(address: string): number | undefined {
  if (isIP(address) !== 4) return undefined;
  return address.split(".").reduce((value, octet) => value * 256 + Number(octet), 0);
}

function parseIpv4Network(value: string): Ipv4Network | undefined {
  const [address, prefix, ...rest] = value.split("/");
  const parsed = ipv4(address ?? "");
  if (parsed === undefined || rest.length > 0 || !/^\d{1,2}$/.test(prefix ?? "") || Number(prefix) < 8 || Number(prefix) > 30) return undefined;
  return { address: parsed, prefix: Number(prefix) };
}

const networkOf = (address: number, prefix: number) => Math.floor(address / 2 ** (32 - prefix));

/** The majority of the Sentinels, what the quorum is unless the stack sets it. */
export const majorityOf = (sentinels: number) => Math.floor(sentinels / 2) + 1;

export interface HighAvailabilityFields {
  readonly phase: string;
  readonly target: "digitalocean" | "existing";
  readonly sentinelQuorum?: number;
  readonly loadBalancer?: { readonly virtualAddress?: string };
  readonly hosts: { readonly loadbalancer?: readonly { readonly address: string; readonly privateAddress?: string }[] };
}

/** The rules between these fields and the topology; `sentinels` is the resolved count. */
export function checkHighAvailability(
  infrastructure: HighAvailabilityFields,
  sentinels: number,
  issue: (path: (string | number)[], message: string) => void,
): void {
  const { phase, target, sentinelQuorum } = infrastructure;
  if (sentinelQuorum !== undefined) {
    if (sentinels === 0) issue(["sentinelQuorum"], `the ${phase} phase has no Sentinels to agree on anything`);
    else if (sentinelQuorum > sentinels) {
      issue(["sentinelQuorum"], `${sentinelQuorum} is more than the ${sentinels} Sentinels, so they could never agree the primary is down`);
    }
  }

  const virtualAddress = infrastructure.loadBalancer?.virtualAddress;
  if (phase !== "ha") {
    if (virtualAddress !== undefined) issue(["loadBalancer", "virtualAddress"], `only the ha phase has a pair of load balancers to share an address`);
    return;
  }
  if (target === "digitalocean") {
    if (virtualAddress !== undefined) {
      issue(
        ["loadBalancer", "virtualAddress"],
        "on digitalocean the load balancers share a reserved IP the stack creates; a virtual address is for existing hosts",
      );
    }
    return;
  }
  if (virtualAddress === undefined) {
    issue(
      ["loadBalancer", "virtualAddress"],
      "the ha phase on existing hosts needs the address keepalived moves between the two load balancers (like 198.18.0.50/24)",
    );
    return;
  }
  const network = parseIpv4Network(virtualAddress);
  if (network === undefined) return;
  const size = 2 ** (32 - network.prefix);
  const offset = network.address % size;
  if (offset === 0 || offset === size - 1) {
    issue(["loadBalancer", "virtualAddress"], `${JSON.stringify(virtualAddress)} is the network's own or broadcast address, which no host can hold`);
  }
  for (const [index, host] of (infrastructure.hosts.loadbalancer ?? []).entries()) {
    const privateAddress = host.privateAddress ?? host.address;
    const address = ipv4(privateAddress);
    if (address === network.address)
      issue(["loadBalancer", "virtualAddress"], `${JSON.stringify(virtualAddress)} is the address of hosts.loadbalancer[${index}]`);
    else if (address === undefined || networkOf(address, network.prefix) !== networkOf(network.address, network.prefix)) {
      issue(
        ["loadBalancer", "virtualAddress"],
        `${JSON.stringify(virtualAddress)} is outside the private network of hosts.loadbalancer[${index}] (${privateAddress}), so keepalived could not move it there`,
      );
    }
  }
}

/**
 * `megaweb:reservedIpToken`, when two HAProxy droplets share a reserved IP: keepalived's notify
 * hook moves the address with it. The hook hands it to curl in a config line
 * (`header = "Authorization: Bearer …"`), where a quote, a backslash or a space would be syntax,
 * so only the characters DigitalOcean's tokens use (`dop_v1_` and hex digits) are taken.
 */
export function reservedIpTokenProblems(token: string | undefined): Problem[] {
  if (token === undefined || token === "") {
    return [
      {
        path: ["reservedIpToken"],
        message:
          "is required when two HAProxy droplets share a reserved IP (pulumi config set --secret megaweb:reservedIpToken, a token scoped to reserved_ip:update)",
      },
    ];
  }
  if (!/^[A-Za-z0-9_]+$/.test(token))
    return [{ path: ["reservedIpToken"], message: "may hold only letters, digits and _ (like a DigitalOcean token, dop_v1_…)" }];
  return [];
}
