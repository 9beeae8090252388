import { describe, expect, it } from "vitest";
import { placeReplicas, type ProxyCandidate } from "../src/rotation";

const proxies: ProxyCandidate[] = [
  { id: "p1", country: "US", region: "us-east", assignedReplicas: 5 },
  { id: "p2", country: "DE", region: "eu-central", assignedReplicas: 0 },
  { id: "p3", country: "US", region: "us-west", assignedReplicas: 2 },
];
const request = { sessionId: "s-1", count: 4, roundRobinStart: 1, requirements: {}, sessionRegion: "us-east" };
const ids = (picks: (ProxyCandidate | null)[]) => picks.map((pick) => pick?.id ?? null);

describe("placeReplicas", () => {
  it("round-robin continues the pool's sequence where the last placement stopped", () => {
    expect(ids(placeReplicas("round-robin", proxies, request))).toEqual(["p2", "p3", "p1", "p2"]);
  });

  it("sticky puts every replica of a session on one proxy, the same one each time", () => {
    const first = ids(placeReplicas("sticky", proxies, request));
    expect(new Set(first).size).toBe(1);
    expect(ids(placeReplicas("sticky", proxies, { ...request, roundRobinStart: 99 }))).toEqual(first);
  });

  it("burst fills the least-loaded proxies first", () => {
    expect(ids(placeReplicas("burst", proxies, request))).toEqual(["p2", "p2", "p2", "p3"]);
  });

  it("geo keeps to the required country, else the session's region", () => {
    expect(ids(placeReplicas("geo", proxies, { ...request, requirements: { country: "US" } }))).toEqual(["p3", "p1", "p3", "p1"]);
    expect(ids(placeReplicas("geo", proxies, { ...request, count: 2 }))).toEqual(["p1", "p1"]);
  });

  it("leaves replicas without a proxy when none fits", () => {
    expect(ids(placeReplicas("geo", proxies, { ...request, count: 2, requirements: { country: "JP" } }))).toEqual([null, null]);
    expect(ids(placeReplicas("round-robin", [], { ...request, count: 1 }))).toEqual([null]);
  });
});
