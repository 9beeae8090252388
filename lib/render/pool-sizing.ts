import type { Role } from "../schema/infrastructure";
import type { Problem } from "../schema/errors";
import { phpSizeMb, type Site } from "../schema/site";

/**
 * How much of a web host's memory PHP may use, and how that is split into FPM pools.
 * A worker is counted at its site's memory_limit: the most it can grow to, so a host whose pools
 * all run full still leaves MySQL, Redis and the OS their share.
 */

/** Kernel, sshd, journald, nginx and the page cache a small server needs to stay responsive. */
export const osReserveMb = 320;
/**
 * What MariaDB and Redis may use when they share a host with PHP; lib/render/mariadb.ts and
 * lib/render/redis.ts size the daemons within exactly these shares.
 */
const sharedServiceShare = { mysql: { shareOfRam: 0.25, minimumMb: 256 }, redis: { shareOfRam: 0.05, minimumMb: 64 } } as const;
/** The queue worker (Node.js and its job concurrency) when it shares the host. */
const workerReserveMb = 192;
/**
 * Prometheus (about 2,000 series at a 30 s scrape: 150 MB), Alertmanager (20 MB) and the
 * exporters (10–20 MB each) when the host runs the monitoring.
 */
const monitoringReserveMb = 256;
/** Each app a `proxy` site forwards to (a Node.js server like the orchestrator) runs on the host too. */
const proxyAppReserveMb = 128;
/** More workers than this per pool only queue on the CPU; memory left over stays as page cache. */
const maxAutoChildren = 32;
/**
 * Workers per core when the host's cores are known. More only timeslice the same cores: on 2 cores
 * 8 workers served `echo` at 1.2 to 1.4 times the p99 of 5 (Debian's count), 31 no faster than 8 at
 * four times its p99. A page waiting on MariaDB and Redis got 10 % more from 8 than from 5, which
 * still serve it 1.3 times as fast as Debian's stack (bench/README.md).
 */
const autoChildrenPerCpu = 2.5;
/** Debian's `www` pool has 5: fewer leave a small host's pages queued behind one slow request. */
const minAutoChildren = 5;

/** The memory a service sharing a host with PHP may use: its share of the host's RAM, at least its minimum. */
export function sharedServiceMb(service: keyof typeof sharedServiceShare, memoryMb: number): number {
  const { shareOfRam, minimumMb } = sharedServiceShare[service];
  return Math.max(minimumMb, Math.round(memoryMb * shareOfRam));
}

export interface PhpBudget {
  readonly memoryMb: number;
  /** The host's cores, which bound automatic pools; unknown (no bound) when rendering for no host in particular. */
  readonly cpus?: number;
  readonly reservedMb: number;
  /** What all pools on the host may use together. */
  readonly phpMb: number;
  /** Says which host the budget is for in messages, e.g. `web host web-1 (1024 MB)`. */
  readonly hostLabel: string;
}

export function phpBudget(
  { memoryMb, cpus }: { readonly memoryMb: number; readonly cpus?: number },
  roles: readonly Role[],
  sites: readonly Site[],
  hostLabel: string,
): PhpBudget {
  const reservedMb =
    osReserveMb +
    (roles.includes("mysql") ? sharedServiceMb("mysql", memoryMb) : 0) +
    (roles.includes("redis") ? sharedServiceMb("redis", memoryMb) : 0) +
    (roles.includes("worker") ? workerReserveMb : 0) +
    (roles.includes("monitoring") ? monitoringReserveMb : 0) +
    sites.filter((site) => site.kind === "proxy").length * proxyAppReserveMb;
  return { memoryMb, ...(cpus !== undefined && { cpus }), reservedMb, phpMb: Math.max(0, memoryMb - reservedMb), hostLabel };
}

/** A pool's process-manager settings with every figure decided. */
export interface PoolSize {
  readonly pm: Site["pool"]["pm"];
  readonly maxChildren: number;
  readonly startServers?: number;
  readonly minSpareServers?: number;
  readonly maxSpareServers?: number;
}

export interface PoolSizing {
  /** Indexed like the sites; `undefined` for sites without PHP. */
  readonly pools: readonly (PoolSize | undefined)[];
  readonly problems: readonly Problem[];
}

/**
 * Explicit pools are charged first, in site order; the first one that breaks the budget is the
 * problem reported. The rest is shared equally by pools without a `maxChildren`, each at least one worker.
 */
export function sizePools(sites: readonly Site[], budget: PhpBudget): PoolSizing {
  const problems: Problem[] = [];
  const phpSites = sites.flatMap((site, index) => (site.kind === "php" ? [{ site, index, workerMb: phpSizeMb(site.php.memoryLimit) }] : []));
  const automatic = phpSites.filter(({ site }) => site.pool.maxChildren === undefined);
  let chargedMb = automatic.reduce((sum, { workerMb }) => sum + workerMb, 0);
  let overBudget = false;

  for (const { site, index, workerMb } of phpSites) {
    const children = site.pool.maxChildren;
    if (children === undefined) continue;
    chargedMb += children * workerMb;
    if (chargedMb > budget.phpMb && !overBudget) {
      overBudget = true;
      problems.push({
        path: ["sites", index, "pool", "maxChildren"],
        message: `${children} workers × ${site.php.memoryLimit} do not fit: all pools together may use ${budget.phpMb} MB on ${budget.hostLabel} (${budget.reservedMb} MB kept for the OS and the other services)`,
      });
    }
  }
  if (!overBudget && chargedMb > budget.phpMb) {
    overBudget = true;
    problems.push({
      path: ["sites"],
      message: `${phpSites.length} PHP pools need at least ${chargedMb} MB for one worker each, but ${budget.hostLabel} has ${budget.phpMb} MB for PHP; use a bigger size or lower memoryLimit`,
    });
  }

  const explicitMb = phpSites.reduce((sum, { site, workerMb }) => sum + (site.pool.maxChildren ?? 0) * workerMb, 0);
  const shareMb = automatic.length === 0 ? 0 : Math.max(0, budget.phpMb - explicitMb) / automatic.length;
  const autoCap =
    budget.cpus === undefined ? maxAutoChildren : Math.min(maxAutoChildren, Math.max(minAutoChildren, Math.floor(autoChildrenPerCpu * budget.cpus)));
  const pools: (PoolSize | undefined)[] = sites.map(() => undefined);
  for (const { site, index, workerMb } of phpSites) {
    const maxChildren = site.pool.maxChildren ?? Math.min(autoCap, Math.max(1, Math.floor(shareMb / workerMb)));
    pools[index] = decidePool(site.pool, maxChildren);
  }
  return { pools, problems };
}

/** Spare-server figures for `dynamic` follow the common quarter/half rule of thumb when absent. */
function decidePool(pool: Site["pool"], maxChildren: number): PoolSize {
  if (pool.pm !== "dynamic") return { pm: pool.pm, maxChildren };
  const minSpareServers = pool.minSpareServers ?? Math.max(1, Math.floor(maxChildren / 4));
  const maxSpareServers = pool.maxSpareServers ?? Math.max(minSpareServers, Math.floor(maxChildren / 2));
  const startServers = pool.startServers ?? minSpareServers;
  return { pm: pool.pm, maxChildren, startServers, minSpareServers, maxSpareServers };
}
