import type { WeightedPath } from "./options";

/** One request of the mix: which site (Host header) and which path. */
export interface MixedRequest {
  readonly host: string;
  readonly path: string;
}

/**
 * The order requests are sent in, as a cycle every connection draws from in turn: each site gets
 * every path in proportion to its weight, and sites take turns request by request. Drawing from
 * one shared cycle keeps the split exact however many connections there are.
 */
export interface RequestMix {
  /** Requests in one full cycle; after it the mix repeats. */
  readonly cycleLength: number;
  /** The n-th request (0-based), for any n. */
  at(index: number): MixedRequest;
}

export function requestMix(hosts: readonly string[], paths: readonly WeightedPath[]): RequestMix {
  if (hosts.length === 0 || paths.length === 0) throw new Error("a request mix needs at least one host and one path");
  const pathCycle = smoothWeightedCycle(paths);
  return {
    cycleLength: hosts.length * pathCycle.length,
    // Site n % hosts with the path cycle advancing once per round of sites, so each site walks the whole
    // path cycle (sites in step with paths would pair each site with only some paths).
    at: (index) => ({ host: hosts[index % hosts.length]!, path: pathCycle[Math.floor(index / hosts.length) % pathCycle.length]! }),
  };
}

/**
 * nginx's smooth weighted round robin over the weights reduced by their common divisor: each path
 * appears exactly `weight` times per cycle, spread out rather than in runs, so even a short or
 * stopped run sees the intended split.
 */
export function smoothWeightedCycle(paths: readonly WeightedPath[]): string[] {
  const divisor = paths.map((entry) => entry.weight).reduce(greatestCommonDivisor);
  const weights = paths.map((entry) => entry.weight / divisor);
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const current = weights.map(() => 0);
  const cycle: string[] = [];
  for (let step = 0; step < total; step++) {
    weights.forEach((weight, index) => (current[index]! += weight));
    const chosen = current.indexOf(Math.max(...current));
    current[chosen]! -= total;
    cycle.push(paths[chosen]!.path);
  }
  return cycle;
}

function greatestCommonDivisor(a: number, b: number): number {
  return b === 0 ? a : greatestCommonDivisor(b, a % b);
}
