import { describe, expect, it } from "vitest";
import { buildReport, evaluateThresholds, formatReport, type RunMeasurements, type RunSetup } from "../../lib/loadtest/report";

const setup: RunSetup = {
  url: "http://203.0.113.10:80",
  hosts: ["shop.example.com"],
  paths: [
    { path: "/", weight: 3 },
    { path: "/missing", weight: 1 },
  ],
  connections: 50,
  durationSeconds: 10,
};
const latencyMs = { p50: 12.5, p95: 48.2, p99: 120.4, max: 310, mean: 17.9 };
const measured: RunMeasurements = {
  elapsedSeconds: 10.02,
  statusCodes: { "200": 7400, "301": 100, "404": 2450, "502": 40 },
  errors: { ECONNRESET: 6, timeout: 4 },
  latencyMs,
};

describe("load test report", () => {
  it("counts answers by class and fails 4xx, 5xx and unanswered requests, not redirects", () => {
    const report = buildReport(setup, measured, {});
    expect(report.requests).toEqual({ answered: 9990, failed: 2500, perSecond: 9990 / 10.02 });
    expect(report.statusClasses).toEqual({ "1xx": 0, "2xx": 7400, "3xx": 100, "4xx": 2450, "5xx": 40 });
    expect(report.errorRatePercent).toBeCloseTo((2500 / 10000) * 100, 10);
    expect(report.passed).toBe(true);
  });

  it("passes or fails each threshold against what was measured", () => {
    const report = buildReport(setup, measured, { maxP95Ms: 200, maxP99Ms: 100, maxErrorRatePercent: 1, minRequestsPerSecond: 500 });
    expect(report.thresholds).toEqual([
      { flag: "--max-p95", limit: 200, actual: 48.2, unit: "ms", passed: true },
      { flag: "--max-p99", limit: 100, actual: 120.4, unit: "ms", passed: false },
      { flag: "--max-error-rate", limit: 1, actual: 25, unit: "%", passed: false },
      { flag: "--min-rps", limit: 500, actual: 9990 / 10.02, unit: "req/s", passed: true },
    ]);
    expect(report.passed).toBe(false);
  });

  it("fails latency limits and counts a 100% error rate when nothing was answered", () => {
    const silent = buildReport(
      setup,
      { elapsedSeconds: 5, statusCodes: {}, errors: { ECONNREFUSED: 812 }, latencyMs: { p50: 0, p95: 0, p99: 0, max: 0, mean: 0 } },
      { maxP95Ms: 200 },
    );
    expect(silent.errorRatePercent).toBe(100);
    expect(silent.thresholds).toEqual([{ flag: "--max-p95", limit: 200, unit: "ms", passed: false }]);
    expect(buildReport(setup, { elapsedSeconds: 1, statusCodes: {}, errors: {}, latencyMs: silent.latencyMs }, {}).errorRatePercent).toBe(100);
  });

  it("holds a limit equal to the measurement", () => {
    expect(
      evaluateThresholds({ maxP50Ms: 12.5, minRequestsPerSecond: 100 }, { answered: 1, latencyMs, errorRatePercent: 0, perSecond: 100 }).every(
        (result) => result.passed,
      ),
    ).toBe(true);
  });

  it("reads as one line per figure, with each threshold and the verdict", () => {
    expect(formatReport(buildReport(setup, measured, { maxP95Ms: 200, maxErrorRatePercent: 1 }))).toEqual([
      "megaweb loadtest: http://203.0.113.10:80, 50 connections for 10s",
      "  sites       shop.example.com",
      "  paths       / ×3, /missing ×1",
      "  requests    9,990 answered in 10.02 s = 997 req/s",
      "  latency     p50 12.5 ms   p95 48.2 ms   p99 120.4 ms   max 310.0 ms   mean 17.9 ms",
      "  status      1xx 0   2xx 7,400   3xx 100   4xx 2,450   5xx 40   (200 ×7,400, 301 ×100, 404 ×2,450, 502 ×40)",
      "  no answer   ECONNRESET ×6, timeout ×4",
      "  failed      2,500 (25.00%: 4xx, 5xx and unanswered)",
      "  pass        --max-p95 200 ms: 48.2 ms",
      "  FAIL        --max-error-rate 1%: 25.00%",
      "  result      FAIL (1 of 2 thresholds broken)",
    ]);
  });
});
