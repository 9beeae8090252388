import { describe, expect, it } from "vitest";
import { minimumMaxconn, sizeHaproxyLimits } from "../../lib/plan/haproxy-limits";

describe("HAProxy's maxconn", () => {
  it("never asks for more open files than the host allows", () => {
    for (const openFilesLimit of [1024, 4096, 20_000, 65_536, 524_288, 1_048_576]) {
      for (const memoryMb of [512, 1024, 2048, 8192]) {
        for (const servers of [1, 3, 20, 50]) {
          const limits = sizeHaproxyLimits({ openFilesLimit, memoryMb, servers });
          expect(limits.openFilesNeeded).toBeLessThanOrEqual(openFilesLimit);
          expect(limits.maxconn).toBeGreaterThanOrEqual(minimumMaxconn);
        }
      }
    }
  });

  it("is bound by open files on the local machines and by memory on a 1 GB droplet", () => {
    expect(sizeHaproxyLimits({ openFilesLimit: 20_000, memoryMb: 1024, servers: 3 })).toEqual({
      maxconn: 9938,
      openFilesNeeded: 20_000,
      boundBy: "open files",
    });
    expect(sizeHaproxyLimits({ openFilesLimit: 524_288, memoryMb: 1024, servers: 3 })).toMatchObject({ maxconn: 13_107, boundBy: "memory" });
  });

  it("grows with the host and shrinks with more backend servers", () => {
    const at = (openFilesLimit: number, servers: number) => sizeHaproxyLimits({ openFilesLimit, memoryMb: 16_384, servers }).maxconn;
    expect(at(40_000, 3)).toBeGreaterThan(at(20_000, 3));
    expect(at(20_000, 30)).toBeLessThan(at(20_000, 3));
  });

  it("refuses a host too small to balance anything, saying why", () => {
    expect(() => sizeHaproxyLimits({ openFilesLimit: 512, memoryMb: 1024, servers: 3 })).toThrow(
      "HAProxy would get maxconn 194 on this host (open files 512, 1024 MB): a load balancer needs at least 256",
    );
  });
});
