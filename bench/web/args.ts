/** What `npm run bench:web` runs, from its environment; a wrong value stops it before a machine boots. */
export interface WebBenchArgs {
  readonly rounds: number;
  /** Recorded seconds per run. */
  readonly seconds: number;
  /** Unrecorded seconds before each run, so pools have their workers and caches their entries. */
  readonly warmupSeconds: number;
  /** wrk's open connections, the same for every side. */
  readonly connections: number;
  /** Leave the machine up for the next run (which reuses it and applies only what changed). */
  readonly keep: boolean;
}

function whole(env: Record<string, string | undefined>, name: string, fallback: number, least: number): number {
  const text = env[name];
  const value = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(value) || value < least) throw new Error(`${name}: "${text}" must be a whole number, at least ${least}`);
  return value;
}

export function parseWebBenchArgs(env: Record<string, string | undefined>): WebBenchArgs {
  const keep = env.BENCH_WEB_KEEP ?? "0";
  if (keep !== "0" && keep !== "1") throw new Error(`BENCH_WEB_KEEP: "${keep}" must be 1 (keep the machine) or 0`);
  return {
    rounds: whole(env, "BENCH_WEB_ROUNDS", 5, 1),
    seconds: whole(env, "BENCH_WEB_SECONDS", 10, 1),
    warmupSeconds: whole(env, "BENCH_WEB_WARMUP_SECONDS", 2, 0),
    connections: whole(env, "BENCH_WEB_CONNECTIONS", 16, 1),
    keep: keep === "1",
  };
}
