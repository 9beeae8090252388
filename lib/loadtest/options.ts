import { z } from "zod";
import { problemsFromZod, type Problem } from "../schema/errors";
import { Domain } from "../schema/site";

/**
 * The settings of one `megaweb loadtest` run, as given on the command line. Every bound is here,
 * so a run that would hammer a stack for hours or open more sockets than a client can hold is
 * refused before a single request leaves.
 */

const shown = (value: unknown) => JSON.stringify(value);

export const loadTestLimits = {
  connections: { min: 1, max: 10_000 },
  /** Seconds: long enough for a soak of a CI gate, short enough that a typo is not a day-long flood. */
  durationSeconds: { min: 1, max: 30 * 60 },
  paths: 20,
  weight: { min: 1, max: 100 },
  pathLength: 2000,
  /** Milliseconds: a latency limit above the 10 s request timeout could never be reached. */
  latencyMs: 10_000,
} as const;

/**
 * A flag value read by `read` (undefined when the text is not of the flag's form) and then held to
 * `rule` (which returns what is wrong); messages quote the value as typed.
 */
function flagValue(read: (text: string) => number | undefined, form: string, rule: (value: number) => string | undefined = () => undefined) {
  return z.string().transform((text, ctx) => {
    const value = read(text);
    const problem = value === undefined ? `is not ${form}` : rule(value);
    if (problem === undefined) return value!;
    ctx.addIssue({ code: "custom", message: `${shown(text)} ${problem}` });
    return z.NEVER;
  });
}

/** The number in `12.5ms` for unit `ms`, or undefined when the text is not a number and that unit. */
const decimal = (text: string, unit: string) =>
  new RegExp(`^\\d+(\\.\\d+)?${unit}$`).test(text) ? Number(text.slice(0, text.length - unit.length)) : undefined;
const scaled = (value: number | undefined, factor: number) => (value === undefined ? undefined : value * factor);

/** `30s`, `5m`, or a bare number of seconds. */
const Duration = flagValue(
  (text) => (/^\d{1,6}[sm]?$/.test(text) ? Number(text.replace(/[sm]$/, "")) * (text.endsWith("m") ? 60 : 1) : undefined),
  "a duration (whole seconds or minutes, like 30s or 5m)",
  (seconds) => {
    const { min, max } = loadTestLimits.durationSeconds;
    if (seconds < min) return `is shorter than a run may last (at least ${min}s)`;
    if (seconds > max) return `is longer than a run may last (at most ${max / 60}m)`;
  },
);

const Connections = flagValue(
  (text) => (/^\d{1,9}$/.test(text) ? Number(text) : undefined),
  "a whole number",
  (count) => {
    const { min, max } = loadTestLimits.connections;
    if (count < min) return `is fewer than the ${min} connection a run needs`;
    if (count > max) return `is more than the ${max.toLocaleString("en")} connections a run may open`;
  },
);

export interface WeightedPath {
  /** The request target as sent: absolute path and optional query. */
  readonly path: string;
  /** Relative share of the requests. */
  readonly weight: number;
}

/**
 * `[WEIGHT=]PATH`: the weight comes first because a path always starts with `/` and may hold `=`
 * in its query, so `3=/search?q=a` cannot be read two ways.
 */
const WeightedPathSpec = z.string().transform((spec, ctx): WeightedPath => {
  const match = /^(?:(\d+)=)?(\/.*)$/s.exec(spec);
  const fail = (rule: string) => {
    ctx.addIssue({ code: "custom", message: `${shown(spec)} ${rule}` });
    return z.NEVER;
  };
  if (match === null) return fail("is not [WEIGHT=]PATH with an absolute path (like /, /search?q=a or 3=/cart)");
  const [, weightText, path] = match as unknown as [string, string | undefined, string];
  // The path lands in the request line: no spaces or control characters, and no fragment, which clients never send.
  if (!/^\/[\x21-\x7e]*$/.test(path) || path.includes("#")) return fail("has a character a request path cannot hold (space, control character or #)");
  if (path.length > loadTestLimits.pathLength) return fail(`is longer than ${loadTestLimits.pathLength} characters`);
  const weight = weightText === undefined ? 1 : Number(weightText);
  const { min, max } = loadTestLimits.weight;
  if (weight < min || weight > max) return fail(`has weight ${weightText}; a weight is a whole number from ${min} to ${max}`);
  return { path, weight };
});

const Paths = z
  .array(WeightedPathSpec)
  .max(loadTestLimits.paths, { error: `takes at most ${loadTestLimits.paths} paths` })
  .superRefine((paths, ctx) => {
    const seen = new Set<string>();
    for (const { path } of paths) {
      if (seen.has(path)) ctx.addIssue({ code: "custom", message: `${shown(path)} is given twice; give it once with the sum of the weights` });
      seen.add(path);
    }
  });

/** `200ms`, `1.5s`: the unit is required, because a bare 200 reads as seconds to some and milliseconds to others. */
const LatencyLimit = flagValue(
  (text) => decimal(text, "ms") ?? scaled(decimal(text, "s"), 1000),
  "a latency (a number and ms or s, like 200ms or 1.5s)",
  (ms) => {
    if (ms <= 0) return "is no limit; a latency limit is more than 0ms";
    if (ms > loadTestLimits.latencyMs) return `is more than ${loadTestLimits.latencyMs / 1000}s, the request timeout, so no request could break it`;
  },
);

/** `1%`, `0.5%`: the sign is required so 1 is never read as 100%. */
const Percentage = flagValue(
  (text) => decimal(text, "%"),
  "a percentage (like 1% or 0.5%)",
  (percent) => (percent > 100 ? "is more than 100%" : undefined),
);

const Rate = flagValue(
  (text) => decimal(text, ""),
  "a number of requests per second",
  (rate) => (rate <= 0 ? "is no limit; a rate limit is more than 0" : undefined),
);

/** The flags as `parseArgs` hands them over; keys are the flag names, so a problem's path is the flag. */
export const LoadTestFlags = z
  .object({
    connections: Connections.default(10),
    duration: Duration.default(10),
    path: Paths.default([]),
    site: z.array(Domain).default([]),
    app: z.boolean().default(false),
    target: z.string().min(1, { error: "must name an address" }).optional(),
    "allow-any-target": z.boolean().default(false),
    "max-p50": LatencyLimit.optional(),
    "max-p95": LatencyLimit.optional(),
    "max-p99": LatencyLimit.optional(),
    "max-error-rate": Percentage.optional(),
    "min-rps": Rate.optional(),
    json: z.boolean().default(false),
  })
  .strict()
  .superRefine((flags, ctx) => {
    if (flags.app && flags.site.length > 0) ctx.addIssue({ code: "custom", path: ["app"], message: "and --site both choose the Host; give one of them" });
  });
export type LoadTestFlagsInput = z.input<typeof LoadTestFlags>;

/** Limits a run must stay within; each one set becomes a pass/fail line and can fail the exit status. */
export interface Thresholds {
  readonly maxP50Ms?: number;
  readonly maxP95Ms?: number;
  readonly maxP99Ms?: number;
  /** Percent of requests that failed (see `failedRequests`). */
  readonly maxErrorRatePercent?: number;
  readonly minRequestsPerSecond?: number;
}

export interface LoadTestOptions {
  readonly connections: number;
  readonly durationSeconds: number;
  /** At least one: `/` with weight 1 when none was given. */
  readonly paths: readonly WeightedPath[];
  /** Domains asked for with `--site`; empty means every site of the stack. */
  readonly sites: readonly string[];
  readonly app: boolean;
  readonly target?: string;
  readonly allowAnyTarget: boolean;
  readonly thresholds: Thresholds;
  readonly json: boolean;
}

/** Raised for flags that break a rule; each problem's path is the flag, `--duration`. */
export class LoadTestFlagError extends Error {
  constructor(readonly problems: readonly Problem[]) {
    super(problems.map(formatFlagProblem).join("\n"));
    this.name = "LoadTestFlagError";
  }
}

/** `--path: "x" is not …`: the flag, not its place among repeated flags, since the message quotes the value. */
export function formatFlagProblem(problem: Problem): string {
  return `--${String(problem.path[0])}: ${problem.message}`;
}

/** Validates the flags once; the options that come out are trusted by everything after. */
export function parseLoadTestFlags(flags: LoadTestFlagsInput): LoadTestOptions {
  const result = LoadTestFlags.safeParse(flags, { reportInput: true });
  if (!result.success) throw new LoadTestFlagError(problemsFromZod(result.error));
  const parsed = result.data;
  return {
    connections: parsed.connections,
    durationSeconds: parsed.duration,
    paths: parsed.path.length > 0 ? parsed.path : [{ path: "/", weight: 1 }],
    sites: parsed.site,
    app: parsed.app,
    ...(parsed.target !== undefined && { target: parsed.target }),
    allowAnyTarget: parsed["allow-any-target"],
    thresholds: {
      ...(parsed["max-p50"] !== undefined && { maxP50Ms: parsed["max-p50"] }),
      ...(parsed["max-p95"] !== undefined && { maxP95Ms: parsed["max-p95"] }),
      ...(parsed["max-p99"] !== undefined && { maxP99Ms: parsed["max-p99"] }),
      ...(parsed["max-error-rate"] !== undefined && { maxErrorRatePercent: parsed["max-error-rate"] }),
      ...(parsed["min-rps"] !== undefined && { minRequestsPerSecond: parsed["min-rps"] }),
    },
    json: parsed.json,
  };
}
