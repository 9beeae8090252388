import { createHash } from "node:crypto";
import type { rotations } from "./schemas";

export type Rotation = (typeof rotations)[number];

export interface ProxyCandidate {
  id: string;
  country: string | null;
  region: string | null;
  /** Replicas already on this proxy; only burst reads it. */
  assignedReplicas: number;
}

export interface PlacementRequest {
  sessionId: string;
  count: number;
  /** Where round-robin continues from, shared by every worker through Redis. */
  roundRobinStart: number;
  requirements: { country?: string; region?: string };
  sessionRegion: string;
}

/**
 * Picks a proxy for each of `count` new replicas of one session, or null when the pool has none
 * that fits (the replica is recorded without a proxy and placed once one exists).
 * - round-robin: the pool's proxies in turn, continuing where the last placement stopped;
 * - sticky: every replica of a session on the same proxy, chosen by the session id;
 * - burst: spread over the least-loaded proxies first;
 * - geo: only proxies in the required country (or the required or session region), in turn.
 */
export function placeReplicas(rotation: Rotation, candidates: ProxyCandidate[], request: PlacementRequest): (ProxyCandidate | null)[] {
  const pool = rotation === "geo" ? geoMatches(candidates, request) : candidates;
  if (pool.length === 0) return Array.from({ length: request.count }, () => null);
  switch (rotation) {
    case "round-robin":
    case "geo":
      return Array.from({ length: request.count }, (_, index) => pool[(request.roundRobinStart + index) % pool.length]);
    case "sticky": {
      const proxy = pool[stickyIndex(request.sessionId, pool.length)];
      return Array.from({ length: request.count }, () => proxy);
    }
    case "burst":
      return leastLoaded(pool, request.count);
  }
}

function geoMatches(candidates: ProxyCandidate[], request: PlacementRequest): ProxyCandidate[] {
  const { country, region } = request.requirements;
  if (country) return candidates.filter((proxy) => proxy.country === country);
  const wantedRegion = region ?? request.sessionRegion;
  return candidates.filter((proxy) => proxy.region === wantedRegion);
}

function stickyIndex(sessionId: string, size: number): number {
  return createHash("sha1").update(sessionId).digest().readUInt32BE(0) % size;
}

function leastLoaded(pool: ProxyCandidate[], count: number): ProxyCandidate[] {
  const load = pool.map((proxy) => proxy.assignedReplicas);
  const picks: ProxyCandidate[] = [];
  for (let placed = 0; placed < count; placed++) {
    let best = 0;
    for (let index = 1; index < load.length; index++) if (load[index] < load[best]) best = index;
    load[best]++;
    picks.push(pool[best]);
  }
  return picks;
}
