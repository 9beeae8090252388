import type { RowDataPacket } from "mysql2/promise";
import { inTransaction } from "./db";
import { appendEvents, type NewEvent } from "./events";
import { takeProxyReports, type ReportedFigures } from "./liveness-cache";
import { probeProxy, type ProbeResult } from "./proxy-probe";
import type { Services } from "./services";

/** Old observations weigh half as much after this long, so the figures tell how a proxy does now. */
export const FIGURES_HALF_LIFE_SECONDS = 3600;
/** Consecutive failed checks that take a proxy out of rotation, and passed checks that bring it back. */
export const DOWN_AFTER_FAILURES = 3;
export const UP_AFTER_SUCCESSES = 2;
/** Checks in flight at once. */
const CHECK_CONCURRENCY = 50;
const PAGE = 1000;

export type ProxyStatus = "active" | "degraded" | "down" | "disabled";

export interface ProxyFigures {
  success_count: number;
  failure_count: number;
  avg_latency_ms: number | null;
  latency_weight: number;
}

export interface Observation {
  successes: number;
  failures: number;
  latencySum: number;
  latencySamples: number;
}

/**
 * Brings decayed figures forward by `elapsedSeconds` and adds new observations: counts and the
 * latency's weight shrink by half every half-life, the latency is the weighted mean of what remains.
 */
export function decayFigures(
  previous: ProxyFigures,
  observation: Observation,
  elapsedSeconds: number,
  halfLifeSeconds = FIGURES_HALF_LIFE_SECONDS,
): ProxyFigures {
  const keep = Math.pow(0.5, Math.max(0, elapsedSeconds) / halfLifeSeconds);
  const oldWeight = previous.avg_latency_ms === null ? 0 : previous.latency_weight * keep;
  const weight = oldWeight + observation.latencySamples;
  return {
    success_count: previous.success_count * keep + observation.successes,
    failure_count: previous.failure_count * keep + observation.failures,
    avg_latency_ms: weight === 0 ? previous.avg_latency_ms : ((previous.avg_latency_ms ?? 0) * oldWeight + observation.latencySum) / weight,
    latency_weight: weight,
  };
}

/**
 * Health from consecutive checks: one failure degrades a proxy (it stays in rotation),
 * DOWN_AFTER_FAILURES take it out, UP_AFTER_SUCCESSES bring a down proxy back; one success clears
 * a degraded one. A disabled proxy is the operator's decision and is not checked.
 */
export function nextStatus(status: ProxyStatus, consecutiveFailures: number, consecutiveSuccesses: number): ProxyStatus {
  if (status === "disabled") return status;
  if (consecutiveFailures >= DOWN_AFTER_FAILURES) return "down";
  if (status === "down") return consecutiveSuccesses >= UP_AFTER_SUCCESSES ? "active" : "down";
  if (consecutiveFailures > 0) return "degraded";
  return "active";
}

export interface CheckRun {
  checked: number;
  down: string[];
  up: string[];
}

/**
 * The worker's scheduled check of every proxy not disabled: probes a page at a time, folds in what
 * replicas reported about their requests since the last run, and writes figures, status and one
 * `proxy.status.changed` event per proxy whose status changed, one transaction per page.
 */
export async function checkProxies(services: Services): Promise<CheckRun> {
  const { config } = services;
  const reports = await takeProxyReports(services.redis);
  const run: CheckRun = { checked: 0, down: [], up: [] };
  let cursor = "";
  for (;;) {
    const [targets] = await services.db.primary.query<RowDataPacket[]>(
      "SELECT id, host, port, protocol FROM proxies WHERE status <> 'disabled' AND id > ? ORDER BY id LIMIT ?",
      [cursor, PAGE],
    );
    if (targets.length === 0) break;
    cursor = targets[targets.length - 1].id;
    const results = await mapLimit(targets, CHECK_CONCURRENCY, (target) =>
      probeProxy({ host: target.host, port: target.port, protocol: target.protocol }, config.MEGAWEB_PROXY_CHECK_TIMEOUT_MS, config.MEGAWEB_PROXY_CHECK_URL),
    );
    await applyChecks(services, new Map(targets.map((target, index) => [target.id as string, results[index]])), reports, run);
    run.checked += targets.length;
  }
  return run;
}

async function applyChecks(services: Services, results: Map<string, ProbeResult>, reports: Map<string, ReportedFigures>, run: CheckRun): Promise<void> {
  await inTransaction(services.db, async (connection) => {
    const [rows] = await connection.query<RowDataPacket[]>(
      `SELECT id, status, success_count, failure_count, avg_latency_ms, latency_weight, consecutive_failures, consecutive_successes,
              TIMESTAMPDIFF(MICROSECOND, COALESCE(observed_at, CURRENT_TIMESTAMP(3)), CURRENT_TIMESTAMP(3)) / 1e6 AS elapsed
       FROM proxies WHERE id IN (?) FOR UPDATE`,
      [[...results.keys()]],
    );
    const events: NewEvent[] = [];
    for (const row of rows) {
      const result = results.get(row.id)!;
      const reported = reports.get(row.id) ?? { ok: 0, fail: 0, latencySum: 0, latencyN: 0 };
      const figures = decayFigures(
        { success_count: row.success_count, failure_count: row.failure_count, avg_latency_ms: row.avg_latency_ms, latency_weight: row.latency_weight },
        {
          successes: (result.ok ? 1 : 0) + reported.ok,
          failures: (result.ok ? 0 : 1) + reported.fail,
          latencySum: (result.ok ? result.latencyMs : 0) + reported.latencySum,
          latencySamples: (result.ok ? 1 : 0) + reported.latencyN,
        },
        Number(row.elapsed),
      );
      const failures = result.ok ? 0 : row.consecutive_failures + 1;
      const successes = result.ok ? row.consecutive_successes + 1 : 0;
      const status = nextStatus(row.status, failures, successes);
      await connection.query(
        `UPDATE proxies SET success_count = ?, failure_count = ?, avg_latency_ms = ?, latency_weight = ?, consecutive_failures = ?,
           consecutive_successes = ?, status = ?, last_checked_at = CURRENT_TIMESTAMP(3), last_check_error = ?, observed_at = CURRENT_TIMESTAMP(3)
         WHERE id = ?`,
        [
          figures.success_count,
          figures.failure_count,
          figures.avg_latency_ms,
          figures.latency_weight,
          failures,
          successes,
          status,
          result.ok ? null : result.error,
          row.id,
        ],
      );
      if (status !== row.status) {
        events.push({
          aggregateType: "proxy",
          aggregateId: row.id,
          type: "proxy.status.changed",
          payload: { from: row.status, to: status, ...(result.ok ? {} : { error: result.error }) },
        });
        if (status === "down") run.down.push(row.id);
        if (row.status === "down") run.up.push(row.id);
      }
    }
    await appendEvents(connection, events);
  });
}

async function mapLimit<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
