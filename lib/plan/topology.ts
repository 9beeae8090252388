import {
  type HostRole,
  type Infrastructure,
  type LoadBalancerKind,
  type Phase,
  type Role,
  type Target,
  hostCountsPerRole,
  phaseRules,
  singleBoxRoles,
} from "../schema/infrastructure";
import { type CostEstimate, estimateCost } from "./cost";
import { sizeMemoryMb } from "./droplet-sizes";
import { type FirewallRule, firewallMatrix } from "./firewall";

export type ReplicationRole = "primary" | "replica";

/** A server the plan calls for; components turn it into a droplet or match it to an existing host. */
export interface PlannedHost {
  /** `web-1`, `redis-2`, …: stable, so growing a role appends hosts and never renames one. */
  readonly name: string;
  /** The role this host was planned for, and its 1-based place among that role's hosts; the single box is planned as `web` 1. */
  readonly plannedAs: HostRole;
  readonly ordinal: number;
  readonly roles: readonly Role[];
  readonly size: string;
  readonly memoryMb: number;
  /** Replication role of the MySQL or Redis server on this host, where it runs one. */
  readonly mysql?: ReplicationRole;
  readonly redis?: ReplicationRole;
}

export interface HealthCheck {
  readonly protocol: "http";
  readonly port: 80;
  readonly path: string;
}

export interface LoadBalancerPlan {
  readonly kind: LoadBalancerKind;
  /** HAProxy hosts (empty for DigitalOcean's managed load balancer). */
  readonly nodes: readonly string[];
  /** Web hosts behind it. */
  readonly backends: readonly string[];
  readonly healthCheck: HealthCheck;
  /** HAProxy nodes share a reserved IP, held by the first, so the endpoint outlives any one droplet. */
  readonly reservedIp: boolean;
}

export interface TopologyPlan {
  readonly phase: Phase;
  readonly target: Target;
  readonly region: string;
  readonly hosts: readonly PlannedHost[];
  readonly loadBalancer?: LoadBalancerPlan;
  readonly redis: { readonly primary: string; readonly replicas: readonly string[]; readonly sentinels: readonly string[]; readonly sentinelQuorum: number };
  readonly mysql: { readonly primary: string; readonly replicas: readonly string[] };
  /** The host running Prometheus and Alertmanager, when the stack monitors itself. */
  readonly monitoring?: string;
  /**
   * With Let's Encrypt sites on more than one web node: the first issues and renews every
   * certificate and pushes it to the others (templates/certbot/README.md).
   */
  readonly certificates?: { readonly issuer: string; readonly receivers: readonly string[] };
  readonly firewall: readonly FirewallRule[];
  readonly cost: CostEstimate;
}

export interface PlanProblem {
  readonly path: string;
  readonly message: string;
}

/** Raised when a config parses but cannot be deployed as asked; each problem names its field. */
export class PlanError extends Error {
  constructor(readonly problems: readonly PlanProblem[]) {
    super(problems.map((problem) => `${problem.path}: ${problem.message}`).join("\n"));
    this.name = "PlanError";
  }
}

/** The order hosts are listed in, front to back. */
const roleOrder: readonly HostRole[] = ["loadbalancer", "web", "redis", "sentinel", "mysql", "worker", "backup"];

/**
 * What the topology reads: the infrastructure, and from a whole stack whether it monitors itself
 * and whether any site asks Let's Encrypt for its certificate. A bare `Infrastructure` plans
 * neither.
 */
export type TopologyInput = Infrastructure & {
  readonly monitoring?: { readonly enabled: boolean };
  readonly sites?: readonly { readonly tls: { readonly mode: string } }[];
};

/**
 * The topology a validated config asks for: hosts with roles and sizes, replication, the load
 * balancer, the firewall matrix and the monthly cost. Pure, so `megaweb plan` and the components
 * read the same answer.
 */
export function planTopology(infrastructure: TopologyInput): TopologyPlan {
  const counts = hostCountsPerRole(infrastructure);
  const monitored = infrastructure.monitoring?.enabled ?? false;
  const hosts: PlannedHost[] = withMonitoring(
    roleOrder.flatMap((role) => Array.from({ length: counts[role] }, (_, index) => plannedHost(infrastructure, role, index))),
    monitored,
  );
  const named = (role: Role) => hosts.filter((host) => host.roles.includes(role)).map((host) => host.name);
  const sentinels = named("sentinel");
  const [redisPrimary, ...redisReplicas] = named("redis");
  const mysqlHosts = named("mysql");
  // After a promotion the stack names the new primary; the others, in plan order, are its replicas.
  const mysqlPrimary = infrastructure.mysqlPrimary ?? mysqlHosts[0]!;
  const mysqlReplicas = mysqlHosts.filter((host) => host !== mysqlPrimary);

  const loadBalancer = plannedLoadBalancer(infrastructure, named("loadbalancer"), named("web"));
  const presentRoles = new Set(hosts.flatMap((host) => host.roles));
  const [issuer, ...receivers] = named("web");
  const certificates =
    receivers.length > 0 && infrastructure.sites?.some((site) => site.tls.mode === "letsencrypt") ? { issuer: issuer!, receivers } : undefined;
  const onDigitalOcean = infrastructure.target === "digitalocean";
  return {
    phase: infrastructure.phase,
    target: infrastructure.target,
    region: infrastructure.region,
    hosts,
    ...(loadBalancer && { loadBalancer }),
    redis: { primary: redisPrimary!, replicas: redisReplicas, sentinels, sentinelQuorum: infrastructure.sentinelQuorum },
    mysql: { primary: mysqlPrimary, replicas: mysqlReplicas },
    ...(monitored && { monitoring: named("monitoring")[0] }),
    ...(certificates && { certificates }),
    firewall: firewallMatrix(presentRoles, loadBalancer?.kind, certificates !== undefined),
    cost: estimateCost({
      droplets: onDigitalOcean ? hosts : [],
      managedLoadBalancer: onDigitalOcean && loadBalancer?.kind === "digitalocean",
      reservedIps: onDigitalOcean && loadBalancer?.reservedIp ? 1 : 0,
    }),
  };
}

/**
 * Prometheus and Alertmanager join a host the plan already has: the single box itself, else the
 * first worker, which takes no traffic and whose load (queue jobs) leaves room for them; without
 * workers, the first web host. They need about 200 MB, which `phpBudget` keeps free on a host with
 * PHP pools; a worker of 512 MB keeps its jobs in the rest.
 */
function withMonitoring(hosts: PlannedHost[], monitored: boolean): PlannedHost[] {
  if (!monitored) return hosts;
  const chosen = hosts.find((host) => host.roles.includes("worker")) ?? hosts.find((host) => host.roles.includes("web"))!;
  return hosts.map((host) => (host === chosen ? { ...host, roles: [...host.roles, "monitoring"] } : host));
}

function plannedHost(infrastructure: Infrastructure, role: HostRole, index: number): PlannedHost {
  // The single box is the web node that also runs everything else, so it keeps its name (and
  // droplet) when the phase grows and the other roles move out. A backup host stays apart, so
  // losing the box does not lose its backups.
  // Sentinels on the Redis hosts take the first `nodes.sentinels` of them (the schema refuses more
  // Sentinels than Redis hosts).
  const withSentinel = role === "redis" && infrastructure.sentinelHosts === "redis" && index < infrastructure.nodes.sentinels;
  const roles: Role[] = infrastructure.phase === "single" && role === "web" ? singleBoxRoles(false) : withSentinel ? ["redis", "sentinel"] : [role];
  const size = infrastructure.sizes[role];
  const name = `${role}-${index + 1}`;
  const replication: ReplicationRole = index === 0 ? "primary" : "replica";
  const mysqlReplication: ReplicationRole = (infrastructure.mysqlPrimary ?? (index === 0 ? name : undefined)) === name ? "primary" : "replica";
  return {
    name,
    plannedAs: role,
    ordinal: index + 1,
    roles,
    size,
    memoryMb: sizeMemoryMb(size),
    ...(roles.includes("mysql") && { mysql: mysqlReplication }),
    ...(roles.includes("redis") && { redis: replication }),
  };
}

function plannedLoadBalancer(infrastructure: Infrastructure, nodes: string[], backends: string[]): LoadBalancerPlan | undefined {
  if (phaseRules[infrastructure.phase].haproxyNodes === 0) return undefined;
  const kind = infrastructure.loadBalancer.kind;
  return {
    kind,
    nodes,
    backends,
    healthCheck: { protocol: "http", port: 80, path: infrastructure.healthPath },
    reservedIp: kind === "haproxy" && infrastructure.target === "digitalocean",
  };
}

/**
 * Where clients reach a stack on existing hosts: the balancer pair's shared address, which outlives
 * either node, else the first load balancer, else the first web host. The phase component's
 * `endpoint` and `megaweb loadtest` both ask here.
 */
export function existingHostsEndpoint(plan: TopologyPlan, virtualAddress: string | undefined, addressOf: (host: string) => string): string {
  if (virtualAddress !== undefined) return virtualAddress.split("/")[0]!;
  return addressOf(plan.loadBalancer?.nodes[0] ?? plan.hosts.find((host) => host.roles.includes("web"))!.name);
}

/**
 * What a DigitalOcean deployment needs beyond a valid config: droplets are reachable only by SSH
 * key from the admin CIDRs, and provisioning connects that way. The schema lets both lists be
 * empty, so a stack file holding just a domain validates and plans; `pulumi up` asks for them.
 */
export function deploymentProblems(infrastructure: Infrastructure): PlanProblem[] {
  if (infrastructure.target !== "digitalocean") return [];
  const problems: PlanProblem[] = [];
  if (infrastructure.sshPublicKeys.length === 0) {
    problems.push({
      path: "sshPublicKeys",
      message: "at least one key is needed on digitalocean; the first goes onto new droplets and must match megaweb:sshPrivateKey",
    });
  }
  if (infrastructure.adminCidrs.length === 0) {
    problems.push({
      path: "adminCidrs",
      message: "at least one CIDR is needed on digitalocean: SSH is closed to all others and provisioning connects over SSH",
    });
  }
  return problems;
}
