import autocannon from "autocannon";
import { build as buildHistogram } from "hdr-histogram-js";
import type { RequestMix } from "./request-mix";
import type { RunMeasurements } from "./report";
import type { LoadTarget } from "./target";

export interface LoadRun {
  readonly target: LoadTarget;
  readonly mix: RequestMix;
  readonly connections: number;
  readonly durationSeconds: number;
}

/** A request with no answer after this long counts as a `timeout`; it bounds every latency limit too. */
export const requestTimeoutSeconds = 10;

/**
 * Runs autocannon against the target for the given time and measures it. Every request takes the
 * next entry of the mix, whichever connection sends it. Latency goes into our own HDR histogram in
 * microseconds: autocannon's own records whole milliseconds (a loopback answer reads as 0) and
 * reports no p95.
 */
export function runLoad(run: LoadRun): Promise<RunMeasurements> {
  const latencyUs = buildHistogram({ lowestDiscernibleValue: 1, highestTrackableValue: requestTimeoutSeconds * 2_000_000, numberOfSignificantValueDigits: 3 });
  const statusCodes: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let sent = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: run.target.url,
        connections: run.connections,
        duration: run.durationSeconds,
        timeout: requestTimeoutSeconds,
        // TLS sites are told apart by SNI before the Host header is read; the first site's name opens every connection.
        ...(run.target.scheme === "https" && { servername: run.target.hosts[0] }),
        requests: [
          {
            setupRequest: (request) => {
              const { host, path } = run.mix.at(sent++);
              return { ...request, path, headers: { ...request.headers, host } };
            },
          },
        ],
      },
      (error: Error | null, result: autocannon.Result) => {
        if (error) return reject(error);
        resolve({
          elapsedSeconds: result.duration,
          statusCodes,
          errors,
          latencyMs: {
            p50: latencyUs.getValueAtPercentile(50) / 1000,
            p95: latencyUs.getValueAtPercentile(95) / 1000,
            p99: latencyUs.getValueAtPercentile(99) / 1000,
            max: latencyUs.maxValue / 1000,
            mean: latencyUs.totalCount === 0 ? 0 : latencyUs.mean / 1000,
          },
        });
      },
    );
    instance.on("response", (_client, statusCode: number, _bytes, responseTimeMs: number) => {
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      latencyUs.recordValue(Math.max(1, Math.round(responseTimeMs * 1000)));
    });
    instance.on("reqError", (error: NodeJS.ErrnoException) => {
      // autocannon reports a timeout as a plain Error with this message and no code.
      const cause = error.code ?? (error.message === "request timed out" ? "timeout" : error.message);
      errors[cause] = (errors[cause] ?? 0) + 1;
    });
  });
}
