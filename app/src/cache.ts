import type Redis from "ioredis";

/**
 * Answers from Redis while fresh, otherwise computes and stores. Every web node shares the entry,
 * so a million-row aggregate runs once per TTL for the whole cluster instead of once per request.
 */
export async function cached<T>(redis: Redis, key: string, ttlSeconds: number, compute: () => Promise<T>): Promise<T> {
  const hit = await redis.get(key);
  if (hit !== null) return JSON.parse(hit) as T;
  const value = await compute();
  await redis.set(key, JSON.stringify(value), "EX", ttlSeconds);
  return value;
}
