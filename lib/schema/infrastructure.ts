import { isIP } from "node:net";
import { z } from "zod";
import type { Role } from "../../components/host";
import { dropletSize, sizeSlugPattern } from "../plan/droplet-sizes";
import { checkHighAvailability, majorityOf, SentinelQuorum, VirtualAddress } from "./high-availability";

/**
 * Where and how big the servers are. Owned by the topology work (phases, plan, firewalls);
 * the stack schema in `stack.ts` composes it with the sites. Per-phase defaults and limits are
 * the tables below; the parsed value has every count and size resolved, so nothing downstream
 * repeats a default.
 */

export const phases = ["single", "four-server", "horizontal", "ha"] as const;
export const Phase = z.enum(phases);
export type Phase = z.infer<typeof Phase>;

export const Target = z.enum(["digitalocean", "existing"]);
export type Target = z.infer<typeof Target>;

export const roles = ["web", "mysql", "redis", "sentinel", "worker", "loadbalancer"] as const satisfies readonly Role[];
export const RoleName = z.enum(roles);

export const LoadBalancerKind = z.enum(["digitalocean", "haproxy"]);
export type LoadBalancerKind = z.infer<typeof LoadBalancerKind>;

/** DigitalOcean size slugs: `s-1vcpu-1gb`, `s-2vcpu-4gb-amd`, `g-2vcpu-8gb`, `c-4`. */
export const SizeSlug = z
  .string()
  .regex(sizeSlugPattern, { error: (issue) => `${JSON.stringify(issue.input)} is not a DigitalOcean size slug (like s-1vcpu-1gb)`, abort: true })
  .refine((slug) => dropletSize(slug) !== undefined || /-\d+vcpu-\d+(gb|mb)/.test(slug), {
    error: (issue) => `${JSON.stringify(issue.input)} is not in the size table and names no memory size (use a slug like c2-4vcpu-8gb)`,
  });

/** An address or CIDR; a bare address means that one host. */
export const Cidr = z.string().refine((value) => isCidrOrAddress(value), {
  error: (issue) => `${JSON.stringify(issue.input)} is not an IP address or CIDR`,
});

/** A secret stack value as it stands in a stack file (`secure: v1:...`); never decrypted by the CLI. */
export const SecretRef = z.object({ secure: z.string().min(1) }).strict();
export type SecretRef = z.infer<typeof SecretRef>;

export function isCidrOrAddress(value: string): boolean {
  const [address, prefix, ...rest] = value.split("/");
  const version = isIP(address ?? "");
  if (rest.length > 0 || version === 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
}

/** DigitalOcean accepts RFC 1918 ranges from /16 to /28 for a VPC. */
export function isVpcRange(value: string): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  if (!match || isIP(value.split("/")[0]!) !== 4) return false;
  const [a, b, prefix] = [Number(match[1]), Number(match[2]), Number(match[5])];
  const rfc1918 = a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  return rfc1918 && prefix >= 16 && prefix <= 28;
}

/** Node counts a user may set; which counts a phase allows, and their defaults, are in `phaseRules`. */
export const nodeCounts = ["web", "worker", "redisReplicas", "mysqlReplicas", "sentinels"] as const;
export type NodeCount = (typeof nodeCounts)[number];

interface CountRule {
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

interface PhaseRule {
  readonly counts: Readonly<Record<NodeCount, CountRule>>;
  /** Droplet size per role when the stack file names none; chosen so growing a phase only ever resizes up. */
  readonly sizes: Readonly<Record<Role, string>>;
  /** Load balancer droplets when the kind is `haproxy`; zero means the phase has no load balancer. */
  readonly haproxyNodes: number;
}

const fixed = (count: number): CountRule => ({ default: count, min: count, max: count });

/**
 * The topology rules of each phase. Sizes: the single box and the web nodes share a size so
 * single → four-server keeps the droplet as it is (DigitalOcean cannot shrink a disk); every
 * other role only grows from phase to phase.
 */
export const phaseRules: Readonly<Record<Phase, PhaseRule>> = {
  single: {
    counts: { web: fixed(1), worker: fixed(0), redisReplicas: fixed(0), mysqlReplicas: fixed(0), sentinels: fixed(0) },
    sizes: {
      web: "s-1vcpu-2gb",
      mysql: "s-1vcpu-2gb",
      redis: "s-1vcpu-1gb",
      sentinel: "s-1vcpu-512mb-10gb",
      worker: "s-1vcpu-512mb-10gb",
      loadbalancer: "s-1vcpu-1gb",
    },
    haproxyNodes: 0,
  },
  "four-server": {
    counts: { web: fixed(1), worker: fixed(1), redisReplicas: fixed(0), mysqlReplicas: fixed(0), sentinels: fixed(0) },
    sizes: {
      web: "s-1vcpu-2gb",
      mysql: "s-1vcpu-2gb",
      redis: "s-1vcpu-1gb",
      sentinel: "s-1vcpu-512mb-10gb",
      worker: "s-1vcpu-512mb-10gb",
      loadbalancer: "s-1vcpu-1gb",
    },
    haproxyNodes: 0,
  },
  horizontal: {
    counts: {
      // Fewer than two web nodes behind a load balancer balance nothing and survive no failure.
      web: { default: 3, min: 2, max: 20 },
      worker: { default: 3, min: 1, max: 20 },
      redisReplicas: fixed(0),
      mysqlReplicas: fixed(0),
      sentinels: fixed(0),
    },
    sizes: {
      web: "s-1vcpu-2gb",
      mysql: "s-2vcpu-4gb",
      redis: "s-1vcpu-2gb",
      sentinel: "s-1vcpu-512mb-10gb",
      worker: "s-1vcpu-1gb",
      loadbalancer: "s-1vcpu-1gb",
    },
    haproxyNodes: 1,
  },
  ha: {
    counts: {
      web: { default: 5, min: 2, max: 50 },
      worker: { default: 5, min: 1, max: 50 },
      redisReplicas: { default: 2, min: 1, max: 5 },
      // Semi-sync commits need a replica's acknowledgement, and one replica may be down or promoted.
      mysqlReplicas: { default: 2, min: 2, max: 5 },
      sentinels: { default: 3, min: 3, max: 7 },
    },
    sizes: {
      web: "s-1vcpu-2gb",
      mysql: "s-4vcpu-8gb",
      redis: "s-1vcpu-2gb",
      sentinel: "s-1vcpu-512mb-10gb",
      worker: "s-1vcpu-1gb",
      loadbalancer: "s-1vcpu-1gb",
    },
    haproxyNodes: 2,
  },
};

const countLabels: Readonly<Record<NodeCount, readonly [one: string, many: string]>> = {
  web: ["web node", "web nodes"],
  worker: ["worker node", "worker nodes"],
  redisReplicas: ["Redis replica", "Redis replicas"],
  mysqlReplicas: ["MySQL replica", "MySQL replicas"],
  sentinels: ["Sentinel", "Sentinels"],
};
const counted = (count: NodeCount, value: number) => `${value} ${countLabels[count][value === 1 ? 0 : 1]}`;

/** An existing server reached over SSH; its private key is the secret `megaweb:sshPrivateKey`. */
export const ExistingHost = z
  .object({
    /** Address the provisioning steps connect to. */
    address: z.string().min(1),
    /** Address other hosts use to reach this one (replication, app → MySQL); defaults to `address`. */
    privateAddress: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1).default("root"),
  })
  .strict();
export type ExistingHost = z.infer<typeof ExistingHost>;

const InfrastructureFields = z
  .object({
    /** @default "single" */
    phase: Phase.default("single"),
    /** `existing` uses the servers in `hosts` and calls no cloud API. @default "digitalocean" */
    target: Target.default("digitalocean"),
    /** @default "nyc3" */
    region: z
      .string()
      .regex(/^[a-z]{3}\d$/, { error: (issue) => `${JSON.stringify(issue.input)} is not a DigitalOcean region slug (like nyc3)` })
      .default("nyc3"),
    /**
     * Droplet image for new droplets. The provisioning steps target Debian 12.
     * @default "debian-12-x64"
     */
    image: z.string().min(1).default("debian-12-x64"),
    /** Droplet size per role; unset roles take the phase's default (see `phaseRules`). */
    sizes: z.partialRecord(RoleName, SizeSlug).default({}),
    /** Node counts; unset counts take the phase's default, and each phase has limits. */
    nodes: z
      .partialRecord(
        z.enum(nodeCounts),
        z
          .number()
          .int({ error: (issue) => `${String(issue.input)} is not a whole number`, abort: true })
          .min(0, { error: (issue) => `${String(issue.input)} is negative`, abort: true }),
      )
      .default({}),
    loadBalancer: z
      .object({
        /** @default "digitalocean" on DigitalOcean, "haproxy" on existing hosts */
        kind: LoadBalancerKind.optional(),
        /** Existing hosts in the ha phase: the address the two HAProxy nodes share (see `high-availability.ts`). */
        virtualAddress: VirtualAddress.optional(),
      })
      .strict()
      .optional(),
    /** Path the load balancer's health check requests on every web node, over HTTP on port 80. @default "/health" */
    healthPath: z
      .string()
      .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, { error: (issue) => `${JSON.stringify(issue.input)} is not an absolute URL path (like /health)` })
      .default("/health"),
    vpc: z
      .object({
        /**
         * Private range of the VPC. Unset lets DigitalOcean pick a /20 that overlaps no other VPC of the account.
         * @example "10.20.0.0/20"
         */
        ipRange: z
          .string()
          .refine(isVpcRange, { error: (issue) => `${JSON.stringify(issue.input)} is not a private (RFC 1918) IPv4 range from /16 to /28` })
          .optional(),
      })
      .strict()
      .default({}),
    project: z
      .object({
        /** DigitalOcean project name. @default the phase component's name */
        name: z.string().min(1).max(175).optional(),
        /** @default "Production" */
        environment: z.enum(["Development", "Staging", "Production"]).default("Production"),
      })
      .strict()
      .default({ environment: "Production" }),
    /** The first key goes onto new droplets and must be the public half of `megaweb:sshPrivateKey`. */
    sshPublicKeys: z
      .array(
        z.string().regex(/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?$/, {
          error: (issue) => `${JSON.stringify(issue.input)} is not an OpenSSH public key`,
        }),
      )
      .default([]),
    /** Sentinels that must agree the Redis primary is down. @default a majority of `nodes.sentinels` */
    sentinelQuorum: SentinelQuorum.optional(),
    /** Sources allowed to SSH into droplets (and nothing else is). */
    adminCidrs: z.array(Cidr).default([]),
    /** Hosts per role when `target` is `existing`; for `redis` and `mysql` the first is the primary. */
    hosts: z.partialRecord(RoleName, z.array(ExistingHost)).default({}),
  })
  .strict();

/** Counts with the phase's defaults filled in. */
export function resolvedNodes(infrastructure: Pick<Infrastructure, "phase" | "nodes">): Record<NodeCount, number> {
  const rule = phaseRules[infrastructure.phase];
  return Object.fromEntries(nodeCounts.map((count) => [count, infrastructure.nodes[count] ?? rule.counts[count].default])) as Record<NodeCount, number>;
}

/** The droplet size a role gets: the stack file's, else the phase's default. */
export function plannedSize(infrastructure: Pick<Infrastructure, "phase" | "sizes">, role: Role): string {
  return infrastructure.sizes[role] ?? phaseRules[infrastructure.phase].sizes[role];
}

/** The Sentinels' quorum: the stack's, else a majority of them (0 without Sentinels). */
export function resolvedSentinelQuorum(infrastructure: Pick<Infrastructure, "phase" | "nodes" | "sentinelQuorum">): number {
  const sentinels = resolvedNodes(infrastructure).sentinels;
  return sentinels === 0 ? 0 : (infrastructure.sentinelQuorum ?? majorityOf(sentinels));
}

/** The load balancer kind, resolved: DigitalOcean's own on DigitalOcean, HAProxy on existing hosts. */
export function loadBalancerKind(infrastructure: Pick<Infrastructure, "target" | "loadBalancer">): LoadBalancerKind {
  return infrastructure.loadBalancer?.kind ?? (infrastructure.target === "existing" ? "haproxy" : "digitalocean");
}

/** How many hosts each role gets; the single box is the one `web` host that also runs everything else. */
export function hostCountsPerRole(infrastructure: Pick<Infrastructure, "phase" | "nodes" | "target" | "loadBalancer">): Record<Role, number> {
  const nodes = resolvedNodes(infrastructure);
  const separateData = infrastructure.phase === "single" ? 0 : 1;
  return {
    web: nodes.web,
    worker: nodes.worker,
    redis: separateData && 1 + nodes.redisReplicas,
    mysql: separateData && 1 + nodes.mysqlReplicas,
    sentinel: nodes.sentinels,
    loadbalancer: loadBalancerKind(infrastructure) === "haproxy" ? phaseRules[infrastructure.phase].haproxyNodes : 0,
  };
}

/** The rules between fields: per-phase limits, load balancer kind, and hosts matching the topology. */
function checkTopology(infrastructure: z.output<typeof InfrastructureFields>, context: z.RefinementCtx): void {
  const { phase, target } = infrastructure;
  const rule = phaseRules[phase];
  const issue = (path: (string | number)[], message: string) => context.addIssue({ code: "custom", path, message, input: infrastructure });

  const nodes = resolvedNodes(infrastructure);
  for (const count of nodeCounts) {
    const { min, max } = rule.counts[count];
    const value = nodes[count];
    if (value < min) issue(["nodes", count], `the ${phase} phase needs at least ${counted(count, min)}, got ${value}`);
    else if (value > max) {
      const allowed = max === 0 ? `has no ${countLabels[count][1]}` : `allows at most ${counted(count, max)}`;
      issue(["nodes", count], `the ${phase} phase ${allowed}, got ${value}`);
    }
  }
  if (nodes.sentinels % 2 === 0 && nodes.sentinels >= rule.counts.sentinels.min && nodes.sentinels > 0) {
    issue(["nodes", "sentinels"], `must be odd so a majority of Sentinels always agrees on a failover, got ${nodes.sentinels}`);
  }

  checkHighAvailability(infrastructure, nodes.sentinels, issue);

  if (infrastructure.loadBalancer && rule.haproxyNodes === 0) {
    issue(["loadBalancer"], `the ${phase} phase has no load balancer (horizontal and ha have one)`);
  }
  if (target === "existing" && loadBalancerKind(infrastructure) === "digitalocean") {
    issue(["loadBalancer", "kind"], `"digitalocean" needs the digitalocean target; existing hosts use "haproxy"`);
  }

  if (target === "digitalocean") {
    if (Object.keys(infrastructure.hosts).length > 0) issue(["hosts"], "only the existing target takes hosts; digitalocean creates droplets");
    return;
  }
  const expected = hostCountsPerRole(infrastructure);
  for (const role of roles) {
    const given = infrastructure.hosts[role]?.length ?? 0;
    const needed = `${expected[role]} ${role} host${expected[role] === 1 ? "" : "s"}`;
    if (given !== expected[role]) issue(["hosts", role], `the ${phase} phase needs ${needed} with these nodes, got ${given}`);
  }
}

/**
 * The infrastructure part of a stack. A plain object schema (so the stack schema can
 * `safeExtend` it) whose refinement carries the topology rules; unset counts and sizes are
 * resolved by `resolvedNodes` and `plannedSize` from `phaseRules`.
 */
export const Infrastructure = InfrastructureFields.superRefine(checkTopology);
export type Infrastructure = z.infer<typeof Infrastructure>;
export type InfrastructureInput = z.input<typeof Infrastructure>;
