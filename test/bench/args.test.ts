import { describe, expect, it } from "vitest";
import { parseBenchArgs } from "../../bench/program/args";
import { parseWebBenchArgs } from "../../bench/web/args";

// The benchmarks themselves are not tests (they boot machines and take minutes); this only checks
// that their settings are read as documented and a wrong one stops them before any work.
describe("bench:web settings", () => {
  it("defaults to 5 rounds of 10 s at 16 connections, machine removed at the end", () => {
    expect(parseWebBenchArgs({})).toEqual({ rounds: 5, seconds: 10, warmupSeconds: 2, connections: 16, keep: false });
  });

  it("reads every setting from the environment", () => {
    const env = { BENCH_WEB_ROUNDS: "3", BENCH_WEB_SECONDS: "5", BENCH_WEB_WARMUP_SECONDS: "0", BENCH_WEB_CONNECTIONS: "32", BENCH_WEB_KEEP: "1" };
    expect(parseWebBenchArgs(env)).toEqual({ rounds: 3, seconds: 5, warmupSeconds: 0, connections: 32, keep: true });
  });

  it("refuses a setting that is not a whole number in range, naming it", () => {
    expect(() => parseWebBenchArgs({ BENCH_WEB_ROUNDS: "0" })).toThrow('BENCH_WEB_ROUNDS: "0" must be a whole number, at least 1');
    expect(() => parseWebBenchArgs({ BENCH_WEB_SECONDS: "ten" })).toThrow('BENCH_WEB_SECONDS: "ten" must be a whole number, at least 1');
    expect(() => parseWebBenchArgs({ BENCH_WEB_KEEP: "yes" })).toThrow('BENCH_WEB_KEEP: "yes" must be 1 (keep the machine) or 0');
  });
});

describe("bench:program settings", () => {
  it("defaults to both sections, 10, 100 and 1000 sites, 3 rounds", () => {
    expect(parseBenchArgs({})).toEqual({ sections: ["scale", "provisioning"], sites: [10, 100, 1000], rounds: 3 });
  });

  it("runs only the sections named", () => {
    expect(parseBenchArgs({ BENCH_PROGRAM_SECTIONS: "scale", BENCH_PROGRAM_SITES: "5,50", BENCH_PROGRAM_ROUNDS: "1" })).toEqual({
      sections: ["scale"],
      sites: [5, 50],
      rounds: 1,
    });
  });

  it("refuses an unknown section and site counts that are not ascending", () => {
    expect(() => parseBenchArgs({ BENCH_PROGRAM_SECTIONS: "scale,web" })).toThrow('BENCH_PROGRAM_SECTIONS: "web" is not one of scale, provisioning');
    expect(() => parseBenchArgs({ BENCH_PROGRAM_SITES: "100,10" })).toThrow('BENCH_PROGRAM_SITES: "100,10" must be two or more ascending whole numbers');
    expect(() => parseBenchArgs({ BENCH_PROGRAM_ROUNDS: "-1" })).toThrow('BENCH_PROGRAM_ROUNDS: "-1" must be a whole number of rounds, at least 1');
  });
});
