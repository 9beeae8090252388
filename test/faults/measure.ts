/**
 * A bounded load for fault tests: operations run until a count or a time bound is reached (or the
 * test stops it), each one timed and recorded as acknowledged or failed, so a test can inject a
 * fault while it runs and read the cost afterwards: how many acknowledged operations, how many
 * failed, and how long the service was gone. Pure Node, no test framework, so a load can also run
 * in another network namespace (`fault-load.ts`) and hand its record back as JSON.
 */

export interface LoadBounds {
  /** The load stops after this many operations have been started. */
  readonly maxOperations: number;
  /** …or after this many seconds, whichever comes first. */
  readonly maxSeconds: number;
  /** Operations in flight at once. @default 1 */
  readonly concurrency?: number;
  /** Pause between one worker's operations, so the load stays gentle on a shared machine. @default 0 */
  readonly pauseMs?: number;
  /** An operation unanswered after this long counts as failed (it may still complete later). @default 5000 */
  readonly timeoutMs?: number;
}

export interface Outcome<T> {
  /** 0-based, in the order operations started. */
  readonly index: number;
  /** Milliseconds since the load started. */
  readonly startedMs: number;
  readonly endedMs: number;
  readonly ok: boolean;
  /** What an acknowledged operation returned (a written key, the answering node). */
  readonly value?: T;
  readonly error?: string;
}

export interface LoadRecord<T> {
  /** Epoch milliseconds when the load started; `Outcome` times are relative to it. */
  readonly startedAt: number;
  readonly durationMs: number;
  readonly outcomes: readonly Outcome<T>[];
}

export interface RunningLoad<T> {
  /** Resolves when the load has stopped by itself or by `stop()`, with every outcome. */
  readonly done: Promise<LoadRecord<T>>;
  /** Milliseconds since the load started, on the load's own clock (for marking when a fault was injected). */
  now(): number;
  /** Outcomes so far. */
  outcomes(): readonly Outcome<T>[];
  /** Ends the load early: no new operations start; those in flight finish or time out. */
  stop(): void;
}

/**
 * Starts `operation` in a loop within `bounds`. An operation acknowledges by resolving (its value
 * is recorded) and fails by throwing or by outliving `timeoutMs`.
 */
export function startLoad<T>(operation: (index: number) => Promise<T>, bounds: LoadBounds): RunningLoad<T> {
  if (!(bounds.maxOperations > 0 && bounds.maxSeconds > 0)) throw new Error("a load needs a positive operation count and duration");
  const startedAt = Date.now();
  const now = () => Date.now() - startedAt;
  const outcomes: Outcome<T>[] = [];
  let started = 0;
  let stopped = false;
  const timeoutMs = bounds.timeoutMs ?? 5000;
  const within = () => !stopped && started < bounds.maxOperations && now() < bounds.maxSeconds * 1000;

  const worker = async () => {
    while (within()) {
      const index = started++;
      const startedMs = now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        const value = await Promise.race([operation(index), timeout]);
        outcomes.push({ index, startedMs, endedMs: now(), ok: true, value });
      } catch (error) {
        outcomes.push({ index, startedMs, endedMs: now(), ok: false, error: (error as Error).message ?? String(error) });
      } finally {
        clearTimeout(timer);
      }
      if (bounds.pauseMs && within()) await new Promise((resolve) => setTimeout(resolve, bounds.pauseMs));
    }
  };
  const done = Promise.all(Array.from({ length: bounds.concurrency ?? 1 }, worker)).then(() => ({
    startedAt,
    durationMs: now(),
    outcomes: [...outcomes].sort((a, b) => a.index - b.index),
  }));
  return { done, now, outcomes: () => outcomes, stop: () => void (stopped = true) };
}

/** Runs a load to its end. */
export function runLoad<T>(operation: (index: number) => Promise<T>, bounds: LoadBounds): Promise<LoadRecord<T>> {
  return startLoad(operation, bounds).done;
}

export interface LoadSummary {
  readonly operations: number;
  readonly acknowledged: number;
  readonly failed: number;
  /** failed / operations, 0 for an empty load. */
  readonly failureRate: number;
  readonly durationSeconds: number;
  /**
   * The longest stretch without service: from the end of the last acknowledged operation before a
   * run of failures to the end of the first acknowledged one after it (or the load's end). 0 when
   * nothing failed.
   */
  readonly longestOutageSeconds: number;
  /** First failure and the acknowledgement that ended the longest outage, in load seconds. */
  readonly firstFailureSeconds?: number;
  readonly recoveredSeconds?: number;
  /** Distinct error messages with their counts, for the report. */
  readonly errors: Readonly<Record<string, number>>;
}

const seconds = (ms: number) => Math.round(ms) / 1000;

export function summarize(record: LoadRecord<unknown>): LoadSummary {
  const byEnd = [...record.outcomes].sort((a, b) => a.endedMs - b.endedMs);
  const acknowledged = byEnd.filter((outcome) => outcome.ok).length;
  let longest = { ms: 0, recoveredMs: undefined as number | undefined };
  let lastOkMs = 0;
  let outageFrom: number | undefined;
  for (const outcome of byEnd) {
    if (!outcome.ok) {
      outageFrom ??= lastOkMs;
      continue;
    }
    if (outageFrom !== undefined && outcome.endedMs - outageFrom > longest.ms) longest = { ms: outcome.endedMs - outageFrom, recoveredMs: outcome.endedMs };
    outageFrom = undefined;
    lastOkMs = outcome.endedMs;
  }
  if (outageFrom !== undefined && record.durationMs - outageFrom > longest.ms) longest = { ms: record.durationMs - outageFrom, recoveredMs: undefined };
  const errors: Record<string, number> = {};
  for (const outcome of byEnd) if (!outcome.ok) errors[outcome.error ?? "error"] = (errors[outcome.error ?? "error"] ?? 0) + 1;
  const firstFailure = byEnd.find((outcome) => !outcome.ok);
  return {
    operations: byEnd.length,
    acknowledged,
    failed: byEnd.length - acknowledged,
    failureRate: byEnd.length === 0 ? 0 : (byEnd.length - acknowledged) / byEnd.length,
    durationSeconds: seconds(record.durationMs),
    longestOutageSeconds: seconds(longest.ms),
    ...(firstFailure && { firstFailureSeconds: seconds(firstFailure.endedMs) }),
    ...(longest.recoveredMs !== undefined && { recoveredSeconds: seconds(longest.recoveredMs) }),
    errors,
  };
}

/** The first acknowledged outcome that started at or after `fromMs` (load clock), e.g. the first write the new primary took. */
export function firstAcknowledgedAfter<T>(outcomes: readonly Outcome<T>[], fromMs: number): Outcome<T> | undefined {
  return outcomes.filter((outcome) => outcome.ok && outcome.startedMs >= fromMs).sort((a, b) => a.endedMs - b.endedMs)[0];
}

/**
 * Samples `probe` every `intervalMs` until stopped (at most `maxSeconds`), keeping each sample with
 * its time: for watching a property throughout a fault (how many servers are writable).
 */
export function startSampler<T>(probe: () => Promise<T>, options: { readonly intervalMs: number; readonly maxSeconds: number }) {
  const startedAt = Date.now();
  const samples: { readonly atMs: number; readonly value: T }[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped && Date.now() - startedAt < options.maxSeconds * 1000) {
      const value = await probe();
      samples.push({ atMs: Date.now() - startedAt, value });
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
    }
    return samples;
  })();
  return {
    samples: () => samples,
    stop: async () => {
      stopped = true;
      return done;
    },
  };
}

/**
 * Polls `check` every 50 ms until it gives a value (not undefined), and returns it; throws, naming
 * `what`, after `seconds`. A check that throws counts as not yet.
 */
export async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, seconds = 30): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await Promise.resolve()
      .then(check)
      .catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
