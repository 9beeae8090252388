import type autocannon from "autocannon";
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
export async function runLoad(run: LoadRun): Promise<RunMeasurements> {
  // Loaded here, not at the top: every megaweb command imports this module, and autocannon with
  // its dependencies took 1.1-1.4 s to load on the benchmark machine (`megaweb plan` paid it too).
  const [{ default: autocannon }, { build: buildHistogram }] = await Promise.all([import("autocannon"), import("hdr-histogram-js")]);
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
        setupClient: honourConnectionClose,
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

/** The parts of autocannon 9's per-connection client that reconnecting touches (lib/httpClient.js). */
interface ClientInternals extends NodeJS.EventEmitter {
  _doRequest(...args: unknown[]): void;
  _destroyConnection(): void;
  _connect(): void;
}

/**
 * autocannon ignores `Connection: close`, which nginx sends with every 1000th answer on a
 * connection (keepalive_requests): it writes the next request onto the closing socket, where it
 * is lost or reset, and times the next answer from the lost request's start. A browser opens a
 * new connection instead, and so does this: the request after a closing answer goes out on a
 * fresh connection.
 */
function honourConnectionClose(client: autocannon.Client): void {
  const internals = client as unknown as ClientInternals;
  let closing = false;
  // `headers` carries the HTTP parser's view of the answer, whose keep-alive verdict covers HTTP/1.0 too.
  internals.on("headers", (info: { shouldKeepAlive?: boolean }) => (closing = info.shouldKeepAlive === false));
  const sendNext = internals._doRequest;
  internals._doRequest = function (this: ClientInternals, ...args: unknown[]) {
    if (!closing) return sendNext.apply(this, args);
    closing = false;
    this._destroyConnection();
    // Connecting sends the next request itself.
    this._connect();
  };
}
