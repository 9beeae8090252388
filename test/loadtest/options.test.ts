import { describe, expect, it } from "vitest";
import { LoadTestFlagError, parseLoadTestFlags, type LoadTestFlagsInput } from "../../lib/loadtest/options";

/** The lines `megaweb loadtest` prints for these flags, or [] when they are accepted. */
function refusals(flags: LoadTestFlagsInput): string[] {
  try {
    parseLoadTestFlags(flags);
    return [];
  } catch (error) {
    if (!(error instanceof LoadTestFlagError)) throw error;
    return error.message.split("\n");
  }
}

describe("load test flags", () => {
  it("default to 10 connections for 10 s on / of every site, with no thresholds", () => {
    expect(parseLoadTestFlags({})).toEqual({
      connections: 10,
      durationSeconds: 10,
      paths: [{ path: "/", weight: 1 }],
      sites: [],
      app: false,
      allowAnyTarget: false,
      thresholds: {},
      json: false,
    });
  });

  it("read durations, weighted paths, latency limits in ms or s and percentages", () => {
    const options = parseLoadTestFlags({
      connections: "1000",
      duration: "5m",
      path: ["3=/", "/search?q=a=b", "2=/cart"],
      site: ["Shop.Example.com"],
      "max-p95": "200ms",
      "max-p99": "1.5s",
      "max-error-rate": "0.5%",
      "min-rps": "250",
    });
    expect(options).toMatchObject({
      connections: 1000,
      durationSeconds: 300,
      paths: [
        { path: "/", weight: 3 },
        { path: "/search?q=a=b", weight: 1 },
        { path: "/cart", weight: 2 },
      ],
      sites: ["shop.example.com"],
      thresholds: { maxP95Ms: 200, maxP99Ms: 1500, maxErrorRatePercent: 0.5, minRequestsPerSecond: 250 },
    });
    expect(parseLoadTestFlags({ duration: "45" }).durationSeconds).toBe(45);
  });

  it("refuse runs that are not bounded, naming the flag and the limit", () => {
    expect(refusals({ duration: "2h" })).toEqual([`--duration: "2h" is not a duration (whole seconds or minutes, like 30s or 5m)`]);
    expect(refusals({ duration: "45m" })).toEqual([`--duration: "45m" is longer than a run may last (at most 30m)`]);
    expect(refusals({ duration: "0s" })).toEqual([`--duration: "0s" is shorter than a run may last (at least 1s)`]);
    expect(refusals({ connections: "50000" })).toEqual([`--connections: "50000" is more than the 10,000 connections a run may open`]);
    expect(refusals({ connections: "0" })).toEqual([`--connections: "0" is fewer than the 1 connection a run needs`]);
    expect(refusals({ connections: "ten" })).toEqual([`--connections: "ten" is not a whole number`]);
  });

  it("refuse paths that cannot be sent or weighed, each with the path as typed", () => {
    expect(refusals({ path: ["shop", "/a b", "0=/", "500=/x", "/#top"] })).toEqual([
      `--path: "shop" is not [WEIGHT=]PATH with an absolute path (like /, /search?q=a or 3=/cart)`,
      `--path: "/a b" has a character a request path cannot hold (space, control character or #)`,
      `--path: "0=/" has weight 0; a weight is a whole number from 1 to 100`,
      `--path: "500=/x" has weight 500; a weight is a whole number from 1 to 100`,
      `--path: "/#top" has a character a request path cannot hold (space, control character or #)`,
    ]);
    expect(refusals({ path: ["/twice", "2=/twice"] })).toEqual([`--path: "/twice" is given twice; give it once with the sum of the weights`]);
    expect(refusals({ path: Array.from({ length: 21 }, (_, index) => `/p${index}`) })).toEqual(["--path: takes at most 20 paths"]);
  });

  it("refuse thresholds without a unit, since 200 and 1 read differently to different people", () => {
    expect(refusals({ "max-p95": "200", "max-error-rate": "1", "min-rps": "fast" })).toEqual([
      `--max-p95: "200" is not a latency (a number and ms or s, like 200ms or 1.5s)`,
      `--max-error-rate: "1" is not a percentage (like 1% or 0.5%)`,
      `--min-rps: "fast" is not a number of requests per second`,
    ]);
    expect(refusals({ "max-p50": "0ms", "max-p99": "30s", "max-error-rate": "150%" })).toEqual([
      `--max-p50: "0ms" is no limit; a latency limit is more than 0ms`,
      `--max-p99: "30s" is more than 10s, the request timeout, so no request could break it`,
      `--max-error-rate: "150%" is more than 100%`,
    ]);
  });

  it("refuse a site that is no host name, and --app together with --site", () => {
    expect(refusals({ site: ["*.example.com"] })).toEqual([`--site: "*.example.com" is not a valid host name`]);
    expect(refusals({ site: ["example.com"], app: true })).toEqual(["--app: and --site both choose the Host; give one of them"]);
  });
});
