import type { Thresholds, WeightedPath } from "./options";

/** What a run measured, as the load generator saw it. */
export interface RunMeasurements {
  /** How long the run actually lasted. */
  readonly elapsedSeconds: number;
  /** Answers per HTTP status code, `{ "200": 9120, "404": 3040 }`. */
  readonly statusCodes: Readonly<Record<string, number>>;
  /** Requests that got no answer, per cause: `ECONNREFUSED`, `ECONNRESET`, `timeout`. */
  readonly errors: Readonly<Record<string, number>>;
  /** Latency of the answered requests, from the request's first byte out to the answer's last byte in. */
  readonly latencyMs: LatencySummary;
}

export interface LatencySummary {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** What was run: the report repeats it so a saved report says what it measured. */
export interface RunSetup {
  readonly url: string;
  readonly hosts: readonly string[];
  readonly paths: readonly WeightedPath[];
  readonly connections: number;
  readonly durationSeconds: number;
}

export const statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
export type StatusClass = (typeof statusClasses)[number];

export interface ThresholdResult {
  /** The flag that set it, so a failed line tells what to change. */
  readonly flag: string;
  readonly limit: number;
  /** What the run measured; absent when nothing was answered, which fails any latency or rate limit. */
  readonly actual?: number;
  readonly unit: "ms" | "%" | "req/s";
  readonly passed: boolean;
}

export interface LoadTestReport extends RunSetup {
  readonly elapsedSeconds: number;
  readonly requests: {
    /** Requests answered, whatever the status. */
    readonly answered: number;
    /** Answers with 4xx or 5xx, plus requests with no answer (connection errors and timeouts). */
    readonly failed: number;
    readonly perSecond: number;
  };
  /** All zero when nothing was answered. */
  readonly latencyMs: LatencySummary;
  readonly statusClasses: Readonly<Record<StatusClass, number>>;
  readonly statusCodes: Readonly<Record<string, number>>;
  readonly errors: Readonly<Record<string, number>>;
  /** `failed` over answered plus unanswered requests, in percent; 100 when no request went out at all. */
  readonly errorRatePercent: number;
  readonly thresholds: readonly ThresholdResult[];
  /** Every threshold held. */
  readonly passed: boolean;
}

const sum = (counts: Readonly<Record<string, number>>) => Object.values(counts).reduce((total, count) => total + count, 0);

/**
 * Turns a run's measurements into the report: totals, status classes, the error rate, and one
 * pass/fail line per threshold set. A failed request is one a user would have seen fail: a 4xx or
 * 5xx answer, a refused or reset connection, or a timeout.
 */
export function buildReport(setup: RunSetup, measured: RunMeasurements, thresholds: Thresholds): LoadTestReport {
  const answered = sum(measured.statusCodes);
  const unanswered = sum(measured.errors);
  const classes = Object.fromEntries(statusClasses.map((name) => [name, 0])) as Record<StatusClass, number>;
  for (const [code, count] of Object.entries(measured.statusCodes)) classes[`${code[0]}xx` as StatusClass] += count;
  const failed = classes["4xx"] + classes["5xx"] + unanswered;
  const attempted = answered + unanswered;
  const errorRatePercent = attempted === 0 ? 100 : (failed / attempted) * 100;
  const perSecond = measured.elapsedSeconds > 0 ? answered / measured.elapsedSeconds : 0;
  const results = evaluateThresholds(thresholds, { answered, latencyMs: measured.latencyMs, errorRatePercent, perSecond });
  return {
    ...setup,
    elapsedSeconds: measured.elapsedSeconds,
    requests: { answered, failed, perSecond },
    latencyMs: measured.latencyMs,
    statusClasses: classes,
    statusCodes: measured.statusCodes,
    errors: measured.errors,
    errorRatePercent,
    thresholds: results,
    passed: results.every((result) => result.passed),
  };
}

interface Observed {
  readonly answered: number;
  readonly latencyMs: LatencySummary;
  readonly errorRatePercent: number;
  readonly perSecond: number;
}

/** One result per threshold set, in flag order; a latency limit with nothing answered fails, as there is no latency to hold to it. */
export function evaluateThresholds(thresholds: Thresholds, observed: Observed): ThresholdResult[] {
  const results: ThresholdResult[] = [];
  const latency = (flag: string, limit: number | undefined, actual: number) => {
    if (limit === undefined) return;
    const measured = observed.answered > 0;
    results.push({ flag, limit, ...(measured && { actual }), unit: "ms", passed: measured && actual <= limit });
  };
  latency("--max-p50", thresholds.maxP50Ms, observed.latencyMs.p50);
  latency("--max-p95", thresholds.maxP95Ms, observed.latencyMs.p95);
  latency("--max-p99", thresholds.maxP99Ms, observed.latencyMs.p99);
  if (thresholds.maxErrorRatePercent !== undefined) {
    const limit = thresholds.maxErrorRatePercent;
    results.push({ flag: "--max-error-rate", limit, actual: observed.errorRatePercent, unit: "%", passed: observed.errorRatePercent <= limit });
  }
  if (thresholds.minRequestsPerSecond !== undefined) {
    const limit = thresholds.minRequestsPerSecond;
    results.push({ flag: "--min-rps", limit, actual: observed.perSecond, unit: "req/s", passed: observed.perSecond >= limit });
  }
  return results;
}

const count = (value: number) => value.toLocaleString("en");
const ms = (value: number) => `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;
const measure = (value: number, unit: ThresholdResult["unit"]) =>
  unit === "ms" ? ms(value) : unit === "%" ? `${value.toFixed(2)}%` : `${count(Math.round(value))} req/s`;
/** A limit as the user typed it: `200 ms`, `1%`. */
const limit = (value: number, unit: ThresholdResult["unit"]) => `${value}${unit === "%" ? "" : " "}${unit}`;

/** The report as a person reads it at the end of a run; `--json` prints the report object instead. */
export function formatReport(report: LoadTestReport): string[] {
  const { requests, latencyMs } = report;
  const codes = Object.entries(report.statusCodes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, number]) => `${code} ×${count(number)}`);
  const errors = Object.entries(report.errors).map(([cause, number]) => `${cause} ×${count(number)}`);
  const broken = report.thresholds.filter((result) => !result.passed).length;
  return [
    `megaweb loadtest: ${report.url}, ${report.connections} connections for ${report.durationSeconds}s`,
    `  sites       ${report.hosts.join(", ")}`,
    `  paths       ${report.paths.map((entry) => `${entry.path} ×${entry.weight}`).join(", ")}`,
    `  requests    ${count(requests.answered)} answered in ${report.elapsedSeconds.toFixed(2)} s = ${count(Math.round(requests.perSecond))} req/s`,
    requests.answered === 0
      ? "  latency     none: nothing was answered"
      : `  latency     p50 ${ms(latencyMs.p50)}   p95 ${ms(latencyMs.p95)}   p99 ${ms(latencyMs.p99)}   max ${ms(latencyMs.max)}   mean ${ms(latencyMs.mean)}`,
    `  status      ${statusClasses.map((name) => `${name} ${count(report.statusClasses[name])}`).join("   ")}${codes.length > 0 ? `   (${codes.join(", ")})` : ""}`,
    `  no answer   ${errors.length === 0 ? "0" : errors.join(", ")}`,
    `  failed      ${count(requests.failed)} (${report.errorRatePercent.toFixed(2)}%: 4xx, 5xx and unanswered)`,
    ...report.thresholds.map(
      (result) =>
        `  ${result.passed ? "pass" : "FAIL"}        ${result.flag} ${limit(result.limit, result.unit)}: ${result.actual === undefined ? "nothing answered" : measure(result.actual, result.unit)}`,
    ),
    report.thresholds.length === 0
      ? "  result      no thresholds set"
      : `  result      ${report.passed ? "pass" : `FAIL (${broken} of ${report.thresholds.length} thresholds broken)`}`,
  ];
}
