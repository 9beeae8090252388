import type Redis from "ioredis";

/** Computations in flight in this process, so a burst of requests on a cold key runs one query. */
const inFlight = new Map<string, Promise<unknown>>();

/**
 * Serves an aggregate from Redis, shared by every web node, for at most `maxAgeSeconds` after it was
 * computed: the key expires then, and the next request computes it again. The aggregates read the
 * summary counts (summaries.ts), a few milliseconds even at a million sessions, so nothing older than
 * the documented window is ever served.
 */
export async function cached<T>(redis: Redis, key: string, maxAgeSeconds: number, compute: () => Promise<T>): Promise<T> {
  const hit = await redis.get(key);
  if (hit !== null) return JSON.parse(hit) as T;
  const running = inFlight.get(key);
  if (running) return running as Promise<T>;
  const computing = (async () => {
    const value = await compute();
    await redis.set(key, JSON.stringify(value), "PX", Math.max(1, Math.round(maxAgeSeconds * 1000)));
    return value;
  })().finally(() => inFlight.delete(key));
  inFlight.set(key, computing);
  return computing;
}
