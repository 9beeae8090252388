import { isIP } from "node:net";
import { z } from "zod";
import { existingHostsEndpoint, type TopologyPlan } from "../plan/topology";
import { problemsFromZod, type Problem } from "../schema/errors";
import type { Stack } from "../schema/stack";
import { LoadTestFlagError, type LoadTestOptions } from "./options";

/**
 * Where a load test may send its requests: only to the stack's own addresses, the ones its
 * hosts serve HTTP on, so a mistyped address never floods someone else's server.
 */

/** An address of the stack and what it is, shown when a target is refused. */
export interface StackAddress {
  readonly address: string;
  /** `endpoint`, `web-1`, `web-1 private`. */
  readonly label: string;
}

export interface StackAddresses {
  /** Where clients connect: the load balancer, or the first web host. The default target. */
  readonly endpoint: string;
  /** Every address of a host that serves HTTP (load balancers and web hosts), the endpoint first. */
  readonly known: readonly StackAddress[];
}

/** Roles whose hosts answer HTTP on port 80/443; the others (databases, queues) are never a load test's target. */
const servesHttp = (roles: readonly string[]) => roles.includes("web") || roles.includes("loadbalancer");

/**
 * Addresses of an `existing` stack, read from `megaweb:hosts`, with the endpoint the phase
 * component gives (`existingHostsEndpoint`).
 */
export function addressesFromStackFile(stack: Stack, plan: TopologyPlan): StackAddresses {
  const given = (name: string) => {
    const planned = plan.hosts.find((host) => host.name === name)!;
    return stack.hosts[planned.plannedAs]![planned.ordinal - 1]!;
  };
  const known = plan.hosts
    .filter((host) => servesHttp(host.roles))
    .flatMap((host) => {
      const { address, privateAddress } = given(host.name);
      // The schema defaults a host's private address to its public one; one address is listed once.
      return [{ address, label: host.name }, ...(privateAddress === address ? [] : [{ address: privateAddress, label: `${host.name} private` }])];
    });
  const endpoint = existingHostsEndpoint(plan, stack.loadBalancer.virtualAddress, (name) => given(name).address);
  return { endpoint, known: [{ address: endpoint, label: "endpoint" }, ...known] };
}

/** The part of `pulumi stack output --json` of the megaweb program that says where the stack is. */
export const StackOutputs = z.looseObject({
  endpoint: z.string().min(1),
  addresses: z.record(z.string(), z.object({ publicIp: z.string().min(1), privateIp: z.string().min(1) })).default({}),
});

/**
 * Addresses of a deployed stack from its outputs (DigitalOcean addresses exist only once `pulumi up`
 * made them). Hosts are the plan's HTTP hosts found in the outputs; a host the stack file plans
 * but the stack has not deployed yet has no address to allow.
 */
export function addressesFromOutputs(plan: TopologyPlan, outputs: unknown): StackAddresses {
  const result = StackOutputs.safeParse(outputs, { reportInput: true });
  if (!result.success) throw new StackOutputsError(problemsFromZod(result.error));
  const { endpoint, addresses } = result.data;
  const known = plan.hosts
    .filter((host) => servesHttp(host.roles) && addresses[host.name] !== undefined)
    .flatMap((host) => {
      const { publicIp, privateIp } = addresses[host.name]!;
      return [
        { address: publicIp, label: host.name },
        { address: privateIp, label: `${host.name} private` },
      ];
    });
  return { endpoint, known: [{ address: endpoint, label: "endpoint" }, ...known] };
}

/** Stack outputs that do not say where the stack is; each problem names the output. */
export class StackOutputsError extends Error {
  constructor(readonly problems: readonly Problem[]) {
    super(problems.map((problem) => `${problem.path.join(".")}: ${problem.message}`).join("\n"));
    this.name = "StackOutputsError";
  }
}

export type Scheme = "http" | "https";

/** Where the requests go and which sites they ask for. */
export interface LoadTarget {
  readonly scheme: Scheme;
  /** As it goes into a URL: IPv6 in brackets. */
  readonly hostname: string;
  readonly port: number;
  /** `http://203.0.113.10:80` */
  readonly url: string;
  /** Host headers the requests take turns with: the sites' names, since every site answers on the same address. */
  readonly hosts: readonly string[];
  /** Whether the target is outside the stack's addresses (allowed by `--allow-any-target`). */
  readonly foreign: boolean;
}

const defaultPorts: Readonly<Record<Scheme, number>> = { http: 80, https: 443 };

/**
 * Picks the address, port, scheme and Host headers of a run from the options and the stack. The
 * scheme follows the sites (TLS sites answer plain HTTP with a redirect only) unless `--target`
 * names one.
 */
export function resolveLoadTarget(
  stack: Stack,
  addresses: StackAddresses,
  options: Pick<LoadTestOptions, "sites" | "app" | "target" | "allowAnyTarget">,
): LoadTarget {
  const problems: Problem[] = [];
  const fail = (flag: string, message: string) => problems.push({ path: [flag], message });

  const requested = parseTarget(options.target ?? addresses.endpoint);
  if (requested === undefined) fail("target", `${JSON.stringify(options.target)} is not an address, address:port or http(s)://address:port`);

  const sites = chosenSites(stack, options, fail);
  const tls = sites.filter((site) => site.tls.mode !== "none").map((site) => site.host);
  const plain = sites.filter((site) => site.tls.mode === "none").map((site) => site.host);
  if (requested?.scheme === undefined && tls.length > 0 && plain.length > 0) {
    fail(
      options.sites.length > 0 ? "site" : "target",
      `the sites mix TLS (${tls.join(", ")}) and plain HTTP (${plain.join(", ")}); choose sites of one kind with --site, or the scheme with --target http://… or https://…`,
    );
  }

  let foreign = false;
  if (requested !== undefined && !isStackAddress(requested.address, addresses)) {
    foreign = true;
    if (!options.allowAnyTarget) {
      const labels = new Map<string, string[]>();
      addresses.known.forEach((entry) => labels.set(entry.address, [...(labels.get(entry.address) ?? []), entry.label]));
      const known = [...labels].map(([address, names]) => `${address} (${names.join(", ")})`).join(", ");
      fail("target", `${requested.address} is not one of the stack's addresses: ${known}; pass --allow-any-target to load-test it anyway`);
    }
  }
  if (problems.length > 0) throw new LoadTestFlagError(problems);

  const scheme = requested!.scheme ?? (tls.length > 0 ? "https" : "http");
  const hostname = requested!.address.includes(":") ? `[${requested!.address}]` : requested!.address;
  const port = requested!.port ?? defaultPorts[scheme];
  return { scheme, hostname, port, url: `${scheme}://${hostname}:${port}`, hosts: sites.map((site) => site.host), foreign };
}

interface ParsedTarget {
  readonly scheme?: Scheme;
  /** Without brackets, lower case: as the stack file lists it. */
  readonly address: string;
  readonly port?: number;
}

/** `203.0.113.10`, `203.0.113.10:8080`, `[2001:db8::1]:8080`, `::1`, `https://203.0.113.10`; a path is not part of a target. */
export function parseTarget(text: string): ParsedTarget | undefined {
  const [, scheme, rest] = /^(?:(https?):\/\/)?(.*?)\/?$/s.exec(text)!;
  const withScheme = (address: string, port?: number): ParsedTarget => ({
    ...(scheme !== undefined && { scheme: scheme as Scheme }),
    address: address.toLowerCase(),
    ...(port !== undefined && { port }),
  });
  // A bare IPv6 address takes no port: its last group would read as one.
  if (isIP(rest!) === 6) return withScheme(rest!);
  const match = /^(?:\[([^\]]+)\]|([^\s/:[\]@]+))(?::(\d{1,5}))?$/.exec(rest!);
  if (match === null) return undefined;
  const [, bracketed, name, portText] = match;
  const port = portText === undefined ? undefined : Number(portText);
  if ((bracketed !== undefined && isIP(bracketed) !== 6) || (port !== undefined && (port < 1 || port > 65535))) return undefined;
  return withScheme(bracketed ?? name!, port);
}

function isStackAddress(address: string, addresses: StackAddresses): boolean {
  return addresses.known.some((entry) => entry.address.toLowerCase() === address);
}

interface ChosenSite {
  /** The name asked for (a domain or an alias): the Host header. */
  readonly host: string;
  readonly tls: Stack["sites"][number]["tls"];
}

/** `--site` names (domains or aliases), `--app`'s domain, or else every site of the stack. */
function chosenSites(stack: Stack, options: Pick<LoadTestOptions, "sites" | "app">, fail: (flag: string, message: string) => void): ChosenSite[] {
  if (options.app) {
    const app = stack.app?.enabled ? stack.sites.find((site) => site.domain === stack.app!.domain) : undefined;
    if (app === undefined) fail("app", "the stack has no enabled app (megaweb:app)");
    return app === undefined ? [] : [{ host: app.domain, tls: app.tls }];
  }
  if (options.sites.length === 0) {
    if (stack.sites.length === 0) fail("site", "the stack has no sites to send requests to (megaweb:sites)");
    return stack.sites.map((site) => ({ host: site.domain, tls: site.tls }));
  }
  return options.sites.flatMap((name) => {
    const host = name.toLowerCase();
    const site = stack.sites.find((candidate) => candidate.domain === host || candidate.aliases.some((alias) => answersFor(alias, host)));
    if (site === undefined) {
      fail("site", `${JSON.stringify(name)} is not a domain or alias of this stack's sites (${stack.sites.map((each) => each.domain).join(", ") || "none"})`);
      return [];
    }
    return [{ host, tls: site.tls }];
  });
}

/** Whether a site alias is the name asked for or, as nginx reads `*.example.com`, covers it at any depth. */
function answersFor(alias: string, host: string): boolean {
  return alias.startsWith("*.") ? host.endsWith(alias.slice(1)) : alias === host;
}
