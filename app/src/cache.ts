import type Redis from "ioredis";

/** How long a stale copy may still be served while nobody asks for a refresh. */
const KEEP_STALE_SECONDS = 3600;

interface Entry<T> {
  storedAt: number;
  value: T;
}

/**
 * Serves a million-row aggregate from Redis, shared by every web node. Past `freshSeconds` the
 * entry is still served while one request (across the cluster, by a Redis lock) recomputes it in
 * the background, so only the very first request ever waits for the database.
 */
export async function cached<T>(redis: Redis, key: string, freshSeconds: number, compute: () => Promise<T>): Promise<T> {
  const hit = await redis.get(key);
  if (hit === null) return store(redis, key, compute);
  const entry = JSON.parse(hit) as Entry<T>;
  if (Date.now() - entry.storedAt >= freshSeconds * 1000) {
    refreshOnce(redis, key, compute).catch((error: Error) => console.error(`refreshing ${key} failed: ${error.message}`));
  }
  return entry.value;
}

async function store<T>(redis: Redis, key: string, compute: () => Promise<T>): Promise<T> {
  const value = await compute();
  const entry: Entry<T> = { storedAt: Date.now(), value };
  await redis.set(key, JSON.stringify(entry), "EX", KEEP_STALE_SECONDS);
  return value;
}

async function refreshOnce<T>(redis: Redis, key: string, compute: () => Promise<T>): Promise<void> {
  const lock = `${key}:refreshing`;
  if ((await redis.set(lock, "1", "EX", 60, "NX")) !== "OK") return;
  try {
    await store(redis, key, compute);
  } finally {
    await redis.del(lock);
  }
}
