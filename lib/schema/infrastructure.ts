import { isIP } from "node:net";
import { z } from "zod";
import { dropletSize, sizeSlugPattern } from "../plan/droplet-sizes";
import { checkHighAvailability, majorityOf, SentinelQuorum, VirtualAddress } from "./high-availability";

/**
 * Where and how big the servers are. Owned by the topology work (phases, plan, firewalls);
 * the stack schema in `stack.ts` composes it with the sites. Per-phase defaults and limits are
 * the tables below; the parsed value has every count, size and the load balancer kind resolved,
 * so nothing downstream repeats a default.
 */

export const phases = ["single", "four-server", "horizontal", "ha"] as const;
export const Phase = z.enum(phases);
export type Phase = z.infer<typeof Phase>;

export const Target = z.enum(["digitalocean", "existing"]);
export type Target = z.infer<typeof Target>;

/**
 * Roles that get hosts of their own: a stack file sizes them and lists existing hosts for them.
 * `backup` holds the other hosts' restic repositories (reached over SFTP) and nothing else, in
 * every phase.
 */
export const hostRoles = ["web", "mysql", "redis", "sentinel", "worker", "loadbalancer", "backup"] as const;
export const HostRoleName = z.enum(hostRoles);
export type HostRole = (typeof hostRoles)[number];

/**
 * What a server does; the plan assigns one or more to each host. `monitoring` (Prometheus and
 * Alertmanager) never gets a host of its own: the plan puts it on one it already has
 * (`monitoringHostOf` in lib/plan/topology.ts).
 */
export const roles = [...hostRoles, "monitoring"] as const;
export type Role = (typeof roles)[number];

export const LoadBalancerKind = z.enum(["digitalocean", "haproxy"]);
export type LoadBalancerKind = z.infer<typeof LoadBalancerKind>;

/** Whether the Sentinels get hosts of their own or share the Redis hosts (see `sentinelHosts`). */
export const SentinelHosts = z.enum(["own", "redis"]);
export type SentinelHosts = z.infer<typeof SentinelHosts>;

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
export const nodeCounts = ["web", "worker", "redisReplicas", "mysqlReplicas", "sentinels", "backup"] as const;
export type NodeCount = (typeof nodeCounts)[number];

interface CountRule {
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

interface PhaseRule {
  readonly counts: Readonly<Record<NodeCount, CountRule>>;
  /** Droplet size per role when the stack file names none; chosen so growing a phase only ever resizes up. */
  readonly sizes: Readonly<Record<HostRole, string>>;
  /** Load balancer droplets when the kind is `haproxy`; zero means the phase has no load balancer. */
  readonly haproxyNodes: number;
}

const fixed = (count: number): CountRule => ({ default: count, min: count, max: count });
/** Any phase may have one host for the backups' repositories (`backups.destination: { kind: sftp }`); existing hosts count those in `hosts.backup`. */
const optionalBackupHost: CountRule = { default: 0, min: 0, max: 1 };

/**
 * The topology rules of each phase. Sizes: the single box and the web nodes share a size so
 * single → four-server keeps the droplet as it is (DigitalOcean cannot shrink a disk); every
 * other role only grows from phase to phase.
 */
export const phaseRules: Readonly<Record<Phase, PhaseRule>> = {
  single: {
    counts: { web: fixed(1), worker: fixed(0), redisReplicas: fixed(0), mysqlReplicas: fixed(0), sentinels: fixed(0), backup: optionalBackupHost },
    sizes: {
      web: "s-1vcpu-2gb",
      mysql: "s-1vcpu-2gb",
      redis: "s-1vcpu-1gb",
      sentinel: "s-1vcpu-512mb-10gb",
      worker: "s-1vcpu-512mb-10gb",
      loadbalancer: "s-1vcpu-1gb",
      backup: "s-1vcpu-1gb",
    },
    haproxyNodes: 0,
  },
  "four-server": {
    counts: { web: fixed(1), worker: fixed(1), redisReplicas: fixed(0), mysqlReplicas: fixed(0), sentinels: fixed(0), backup: optionalBackupHost },
    sizes: {
      web: "s-1vcpu-2gb",
      mysql: "s-1vcpu-2gb",
      redis: "s-1vcpu-1gb",
      sentinel: "s-1vcpu-512mb-10gb",
      worker: "s-1vcpu-512mb-10gb",
      loadbalancer: "s-1vcpu-1gb",
      backup: "s-1vcpu-1gb",
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
      backup: optionalBackupHost,
    },
    sizes: {
      web: "s-1vcpu-2gb",
      mysql: "s-2vcpu-4gb",
      redis: "s-1vcpu-2gb",
      sentinel: "s-1vcpu-512mb-10gb",
      worker: "s-1vcpu-1gb",
      loadbalancer: "s-1vcpu-1gb",
      backup: "s-1vcpu-1gb",
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
      backup: optionalBackupHost,
    },
    sizes: {
      web: "s-1vcpu-2gb",
      mysql: "s-4vcpu-8gb",
      redis: "s-1vcpu-2gb",
      sentinel: "s-1vcpu-512mb-10gb",
      worker: "s-1vcpu-1gb",
      loadbalancer: "s-1vcpu-1gb",
      backup: "s-1vcpu-1gb",
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
  backup: ["backup host", "backup hosts"],
};
const counted = (count: NodeCount, value: number) => `${value} ${countLabels[count][value === 1 ? 0 : 1]}`;

/** An existing server reached over SSH; its private key is the secret `megaweb:sshPrivateKey`. */
export const ExistingHost = z
  .object({
    /**
     * Address the provisioning steps connect to.
     * @example "203.0.113.10"
     */
    address: z.string().min(1),
    /**
     * Address other hosts use to reach this one (replication, app → MySQL); the schema fills in `address` when absent.
     * @default address
     * @example "10.20.0.5"
     */
    privateAddress: z.string().min(1).optional(),
    /** SSH port. @default 22 */
    port: z.number().int().min(1).max(65535).default(22),
    /** SSH user; other than root, it needs passwordless sudo. @default "root" */
    user: z.string().min(1).default("root"),
  })
  .strict()
  .transform((host) => ({ ...host, privateAddress: host.privateAddress ?? host.address }));
export type ExistingHost = z.infer<typeof ExistingHost>;

/** The infrastructure keys as written; `Infrastructure` adds the rules between them and resolves the phase's defaults. */
export const InfrastructureFields = z
  .object({
    /** Which topology: `single`, `four-server`, `horizontal` or `ha`. @default "single" */
    phase: Phase.default("single"),
    /** `existing` uses the servers in `hosts` and calls no cloud API. @default "digitalocean" */
    target: Target.default("digitalocean"),
    /** DigitalOcean region of the droplets. @default "nyc3" @example "fra1" */
    region: z
      .string()
      .regex(/^[a-z]{3}\d$/, { error: (issue) => `${JSON.stringify(issue.input)} is not a DigitalOcean region slug (like nyc3)` })
      .default("nyc3"),
    /**
     * Droplet image for new droplets. The provisioning steps target Debian 12.
     * @default "debian-12-x64"
     */
    image: z.string().min(1).default("debian-12-x64"),
    /**
     * Droplet size per role; the schema gives each unset role the phase's size (see `phaseRules`).
     * @default {}
     * @example { mysql: "s-2vcpu-4gb", web: "s-2vcpu-2gb" }
     */
    sizes: z.partialRecord(HostRoleName, SizeSlug).default({}),
    /**
     * Node counts; the schema gives each unset count the phase's default, and each phase has limits (see `phaseRules`).
     * @default {}
     * @example { web: 4, worker: 2 }
     */
    nodes: z
      .partialRecord(
        z.enum(nodeCounts),
        z
          .number()
          .int({ error: (issue) => `${String(issue.input)} is not a whole number`, abort: true })
          .min(0, { error: (issue) => `${String(issue.input)} is negative`, abort: true }),
      )
      .default({}),
    /** What balances the horizontal and ha phases; the schema resolves it for every phase. */
    loadBalancer: z
      .object({
        /**
         * DigitalOcean's managed load balancer, or HAProxy droplets; filled in by the schema.
         * @default "digitalocean" on DigitalOcean, "haproxy" on existing hosts
         */
        kind: LoadBalancerKind.optional(),
        /** Existing hosts in the ha phase: the address the two HAProxy nodes share (see `high-availability.ts`). */
        virtualAddress: VirtualAddress.optional(),
      })
      .strict()
      .optional(),
    /** Path the load balancer's health check requests on every web node, over HTTP on port 80. @default "/health" @example "/up" */
    healthPath: z
      .string()
      .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, { error: (issue) => `${JSON.stringify(issue.input)} is not an absolute URL path (like /health)` })
      .default("/health"),
    /** The droplets' private network. @default {} */
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
    /** The DigitalOcean project the resources are filed under. @default {} */
    project: z
      .object({
        /** DigitalOcean project name. @default the phase component's name */
        name: z.string().min(1).max(175).optional(),
        /** DigitalOcean's purpose label for the project. @default "Production" */
        environment: z.enum(["Development", "Staging", "Production"]).default("Production"),
      })
      .strict()
      .default({ environment: "Production" }),
    /**
     * Keys of the `deploy` user on every host. The first goes onto new droplets and must be the public half of
     * `megaweb:sshPrivateKey`; DigitalOcean stacks need at least one before `pulumi up`.
     * @default []
     * @example ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... ops@example.com"]
     */
    sshPublicKeys: z
      .array(
        z.string().regex(/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?$/, {
          error: (issue) => `${JSON.stringify(issue.input)} is not an OpenSSH public key`,
        }),
      )
      .default([]),
    /**
     * The MySQL host that is the primary now, after `megaweb-mysql-replication promote`: the app's
     * and the sites' `DB_HOST` and the database steps follow it. Set it once the promotion is done
     * (the database steps refuse a read-only server). The replication files do not change with it.
     * @default the plan's first MySQL host
     * @example "mysql-2"
     */
    mysqlPrimary: z.string().optional(),
    /**
     * Drop the copies a growth out of the single box left on it (lib/render/DEPLOY.md, "Growth that
     * keeps the data"): each site's and the app's database and the box's Redis, which refuse writes
     * after their move. Set it in an `up` after the growth, once the new copies have served long
     * enough that the old ones are no longer wanted as a fallback. A copy is dropped only when its
     * clients name the new host and the new copy has every table of it (Redis: answers and holds
     * keys); otherwise that `up` fails and the copy is kept. Nothing brings a dropped copy back.
     * @default false
     * @example true
     */
    forgetMovedData: z.boolean().default(false),
    /** Sentinels that must agree the Redis primary is down; filled in by the schema (0 without Sentinels). @default a majority of `nodes.sentinels` */
    sentinelQuorum: SentinelQuorum.optional(),
    /**
     * Where the Sentinels run: `own` gives each a host of its own (`sentinel-1` …); `redis` runs one
     * beside each of the first `nodes.sentinels` Redis servers (Redis's own layout: three boxes each
     * with a Redis and a Sentinel, where a quorum of 2 survives losing a box), so there must be at
     * least as many Redis hosts as Sentinels.
     * @default "own"
     * @example "redis"
     */
    sentinelHosts: SentinelHosts.default("own"),
    /**
     * Sources allowed to SSH into droplets (and nothing else is); DigitalOcean stacks need at least one before `pulumi up`.
     * @default []
     * @example ["203.0.113.0/24"]
     */
    adminCidrs: z.array(Cidr).default([]),
    /**
     * Hosts per role when `target` is `existing`, as many as the phase plans; for `redis` and `mysql` the first is the primary.
     * @default {}
     * @example { web: [{ address: "203.0.113.10", privateAddress: "10.20.0.5" }] }
     */
    hosts: z.partialRecord(HostRoleName, z.array(ExistingHost)).default({}),
  })
  .strict();

/**
 * The parsed value: every node count, droplet size and the load balancer kind resolved from the
 * phase's rules, so nothing downstream repeats a default.
 */
function resolveDefaults(fields: z.output<typeof InfrastructureFields>) {
  const rule = phaseRules[fields.phase];
  const kind: LoadBalancerKind = fields.loadBalancer?.kind ?? (fields.target === "existing" ? "haproxy" : "digitalocean");
  // Existing hosts name their backup host in `hosts.backup`, so its count follows from the list.
  const givenDefault = (count: NodeCount) =>
    count === "backup" && fields.target === "existing" ? (fields.hosts.backup?.length ?? 0) : rule.counts[count].default;
  const nodes = Object.fromEntries(nodeCounts.map((count) => [count, fields.nodes[count] ?? givenDefault(count)])) as Record<NodeCount, number>;
  return {
    ...fields,
    nodes,
    sizes: Object.fromEntries(hostRoles.map((role) => [role, fields.sizes[role] ?? rule.sizes[role]])) as Record<HostRole, string>,
    loadBalancer: { kind, virtualAddress: fields.loadBalancer?.virtualAddress },
    sentinelQuorum: nodes.sentinels === 0 ? 0 : (fields.sentinelQuorum ?? majorityOf(nodes.sentinels)),
  };
}

/**
 * The roles of the single box: it is the one web host and runs every other role too, monitoring
 * included unless the stack turns it off.
 */
export function singleBoxRoles(monitored: boolean): Role[] {
  return ["web", "mysql", "redis", "worker", ...(monitored ? (["monitoring"] as const) : [])];
}

/**
 * How many hosts each role gets of its own; the single box is the one `web` host that also runs
 * everything else, and Sentinels on the Redis hosts (`sentinelHosts: redis`) get none.
 */
export function hostCountsPerRole(infrastructure: Pick<Infrastructure, "phase" | "nodes" | "loadBalancer" | "sentinelHosts">): Record<HostRole, number> {
  const { nodes } = infrastructure;
  const separateData = infrastructure.phase === "single" ? 0 : 1;
  return {
    web: nodes.web,
    worker: nodes.worker,
    redis: separateData && 1 + nodes.redisReplicas,
    mysql: separateData && 1 + nodes.mysqlReplicas,
    sentinel: infrastructure.sentinelHosts === "redis" ? 0 : nodes.sentinels,
    loadbalancer: infrastructure.loadBalancer.kind === "haproxy" ? phaseRules[infrastructure.phase].haproxyNodes : 0,
    backup: nodes.backup,
  };
}

/** The plan's names of the hosts that run MariaDB: the single box itself, or `mysql-1` … in order. */
export function mysqlHostNames(infrastructure: Pick<Infrastructure, "phase" | "nodes" | "loadBalancer" | "sentinelHosts">): string[] {
  if (infrastructure.phase === "single") return ["web-1"];
  return Array.from({ length: hostCountsPerRole(infrastructure).mysql }, (_, index) => `mysql-${index + 1}`);
}

/** The rules between fields: per-phase limits, load balancer kind, and hosts matching the topology. */
function checkTopology(infrastructure: z.output<typeof InfrastructureFields>, context: z.RefinementCtx): void {
  const { phase, target } = infrastructure;
  const resolved = resolveDefaults(infrastructure);
  const rule = phaseRules[phase];
  const issue = (path: (string | number)[], message: string) => context.addIssue({ code: "custom", path, message, input: infrastructure });

  const { nodes } = resolved;
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

  const redisHosts = hostCountsPerRole(resolved).redis;
  if (infrastructure.sentinelHosts === "redis" && nodes.sentinels > redisHosts) {
    issue(
      ["sentinelHosts"],
      `"redis" runs each Sentinel beside a Redis server, and the ${counted("sentinels", nodes.sentinels)} outnumber the ${redisHosts} Redis host${redisHosts === 1 ? "" : "s"}; use "own", more nodes.redisReplicas or fewer nodes.sentinels`,
    );
  }

  if (infrastructure.mysqlPrimary !== undefined) {
    const mysqlHosts = mysqlHostNames(resolved);
    if (!mysqlHosts.includes(infrastructure.mysqlPrimary)) {
      issue(["mysqlPrimary"], `${JSON.stringify(infrastructure.mysqlPrimary)} is not a MySQL host of the plan (${mysqlHosts.join(", ")})`);
    }
  }

  if (infrastructure.loadBalancer && rule.haproxyNodes === 0) {
    issue(["loadBalancer"], `the ${phase} phase has no load balancer (horizontal and ha have one)`);
  }
  if (target === "existing" && resolved.loadBalancer.kind === "digitalocean") {
    issue(["loadBalancer", "kind"], `"digitalocean" needs the digitalocean target; existing hosts use "haproxy"`);
  }

  if (target === "digitalocean") {
    if (Object.keys(infrastructure.hosts).length > 0) issue(["hosts"], "only the existing target takes hosts; digitalocean creates droplets");
    return;
  }
  const expected = hostCountsPerRole(resolved);
  for (const role of hostRoles) {
    const given = infrastructure.hosts[role]?.length ?? 0;
    const needed = `${expected[role]} ${role} host${expected[role] === 1 ? "" : "s"}`;
    if (given !== expected[role]) issue(["hosts", role], `the ${phase} phase needs ${needed} with these nodes, got ${given}`);
  }
}

/**
 * The infrastructure part of a stack: the fields, the topology rules between them, then every
 * phase default resolved (`resolveDefaults`).
 */
export const Infrastructure = InfrastructureFields.superRefine(checkTopology).transform(resolveDefaults);
export type Infrastructure = z.infer<typeof Infrastructure>;
export type InfrastructureInput = z.input<typeof Infrastructure>;
