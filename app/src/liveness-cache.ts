import type Redis from "ioredis";

/**
 * What Redis knows of live replicas, so a steady heartbeat costs one Lua call per batch and no SQL:
 * - LIVE: replica id → "status|proxy id|fault" for starting and running replicas MariaDB confirmed;
 *   fault is 1 while the replica's last request failed because of its proxy;
 * - HEARTBEATS: replica id → time of its last heartbeat (ms), read by the stale sweep;
 * - CONFIRMED: replica id → when MariaDB last confirmed the LIVE entry (ms), so the worker re-reads
 *   old entries in bulk and a replica removed behind the cache's back is found out;
 * - PROXY_REPORTS: "proxy id|field" → outcomes and latency replicas reported, folded into the proxy's
 *   figures by the worker's proxy check.
 * Losing these keys loses nothing: a live replica's next heartbeat goes to MariaDB and comes back.
 */
export const KEYS = {
  live: "megaweb:replicas:live",
  heartbeats: "megaweb:replicas:heartbeats",
  confirmed: "megaweb:replicas:confirmed",
  proxyReports: "megaweb:proxies:reports",
} as const;

export type ProxyOutcome = "ok" | "proxy_error" | "target_error";

export interface CachedReport {
  replicaId: string;
  status: "starting" | "running" | "stopped" | "failed";
  outcome?: ProxyOutcome;
  latencyMs?: number;
}

/**
 * Takes every report whose replica is cached in the reported status: stamps its heartbeat, updates its
 * fault flag and tallies its request per proxy. Returns the indexes of the others (a transition, or a
 * replica the cache does not know), which go to MariaDB.
 */
const ACCEPT_CACHED = `
-- Lua's unpack takes a few thousand values at most, so long argument lists go in slices.
local function sliced(command, key, values, width)
  local results = {}
  for first = 1, #values, width do
    local reply = redis.call(command, key, unpack(values, first, math.min(first + width - 1, #values)))
    if type(reply) == 'table' then for _, value in ipairs(reply) do results[#results + 1] = value end end
  end
  return results
end
-- One argument per report (packReport): the 36-character id, a status letter, an outcome letter, the latency.
local STATUS = { s = 'starting', r = 'running', x = 'stopped', f = 'failed' }
local OUTCOME = { o = 'ok', p = 'proxy_error', t = 'target_error', ['-'] = '' }
local now = ARGV[1]
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = string.sub(ARGV[i], 1, 36) end
local entries = sliced('HMGET', KEYS[1], ids, 1000)
local misses = {}
local stamps = {}
local tallies = {}
for n = 1, #ids do
  local report = ARGV[n + 1]
  local status, outcome, latency = STATUS[string.sub(report, 37, 37)], OUTCOME[string.sub(report, 38, 38)], string.sub(report, 39)
  local entry = entries[n]
  -- An entry reads "status|proxy id|fault"; only one cached in the reported status is taken here.
  if entry and string.sub(entry, 1, #status + 1) == status .. '|' then
    stamps[#stamps + 1] = now
    stamps[#stamps + 1] = ids[n]
    if outcome ~= '' then
      local proxy = string.sub(entry, #status + 2, -3)
      local fault = string.sub(entry, -1)
      local newFault = outcome == 'proxy_error' and '1' or '0'
      if newFault ~= fault then redis.call('HSET', KEYS[1], ids[n], status .. '|' .. proxy .. '|' .. newFault) end
      if proxy ~= '' then
        local tally = tallies[proxy]
        if not tally then tally = { ok = 0, fail = 0, latency_sum = 0, latency_n = 0 }; tallies[proxy] = tally end
        if outcome == 'ok' then tally.ok = tally.ok + 1 elseif outcome == 'proxy_error' then tally.fail = tally.fail + 1 end
        if latency ~= '' and outcome == 'ok' then
          tally.latency_sum = tally.latency_sum + tonumber(latency)
          tally.latency_n = tally.latency_n + 1
        end
      end
    end
  else
    misses[#misses + 1] = n - 1
  end
end
sliced('ZADD', KEYS[2], stamps, 2000)
for proxy, tally in pairs(tallies) do
  for field, value in pairs(tally) do
    if value ~= 0 then redis.call('HINCRBYFLOAT', KEYS[3], proxy .. '|' .. field, value) end
  end
end
return misses
`;

type WithAcceptCached = Redis & { megawebAcceptCached(...args: (string | number)[]): Promise<number[]> };

function withScript(redis: Redis): WithAcceptCached {
  const scripted = redis as WithAcceptCached;
  if (typeof scripted.megawebAcceptCached !== "function") {
    redis.defineCommand("megawebAcceptCached", { numberOfKeys: 3, lua: ACCEPT_CACHED });
  }
  return scripted;
}

export async function acceptCached(redis: Redis, reports: CachedReport[], now = Date.now()): Promise<number[]> {
  return withScript(redis).megawebAcceptCached(KEYS.live, KEYS.heartbeats, KEYS.proxyReports, now, ...reports.map(packReport));
}

/**
 * A report as one script argument, read by position in the script: a quarter of the arguments to
 * encode and for Redis to parse, which at thousands of heartbeats a request is most of the cost.
 */
function packReport(report: CachedReport): string {
  const outcome = report.outcome === undefined ? "-" : report.outcome[0];
  return `${report.replicaId}${STATUS_LETTER[report.status]}${outcome}${report.latencyMs ?? ""}`;
}

const STATUS_LETTER: Record<CachedReport["status"], string> = { starting: "s", running: "r", stopped: "x", failed: "f" };

export interface LiveEntry {
  replicaId: string;
  status: "starting" | "running";
  proxyId: string | null;
  proxyAtFault: boolean;
}

/** After MariaDB confirmed these replicas live: cache them, stamp their heartbeat when they just reported. */
export function remember(pipeline: ReturnType<Redis["pipeline"]>, entries: LiveEntry[], heartbeatAt: number | null, now = Date.now()): void {
  if (entries.length === 0) return;
  pipeline.hset(KEYS.live, ...entries.flatMap((entry) => [entry.replicaId, `${entry.status}|${entry.proxyId ?? ""}|${entry.proxyAtFault ? 1 : 0}`]));
  pipeline.zadd(KEYS.confirmed, ...entries.flatMap((entry) => [now, entry.replicaId]));
  if (heartbeatAt !== null) pipeline.zadd(KEYS.heartbeats, ...entries.flatMap((entry) => [heartbeatAt, entry.replicaId]));
}

/** Replicas that ended or no longer exist: their next heartbeat goes to MariaDB and is told to stop. */
export function forget(pipeline: ReturnType<Redis["pipeline"]>, replicaIds: string[]): void {
  if (replicaIds.length === 0) return;
  pipeline.hdel(KEYS.live, ...replicaIds);
  pipeline.zrem(KEYS.heartbeats, ...replicaIds);
  pipeline.zrem(KEYS.confirmed, ...replicaIds);
}

export async function forgetReplicas(redis: Redis, replicaIds: string[]): Promise<void> {
  for (let offset = 0; offset < replicaIds.length; offset += 5000) {
    const pipeline = redis.pipeline();
    forget(pipeline, replicaIds.slice(offset, offset + 5000));
    await pipeline.exec();
  }
}

export function tally(pipeline: ReturnType<Redis["pipeline"]>, proxyId: string, outcome: ProxyOutcome, latencyMs: number | undefined): void {
  if (outcome === "ok") pipeline.hincrbyfloat(KEYS.proxyReports, `${proxyId}|ok`, 1);
  if (outcome === "proxy_error") pipeline.hincrbyfloat(KEYS.proxyReports, `${proxyId}|fail`, 1);
  if (outcome === "ok" && latencyMs !== undefined) {
    pipeline.hincrbyfloat(KEYS.proxyReports, `${proxyId}|latency_sum`, latencyMs);
    pipeline.hincrbyfloat(KEYS.proxyReports, `${proxyId}|latency_n`, 1);
  }
}

/** Fault flags of cached replicas (whether their last request failed because of the proxy). */
export async function faultFlags(redis: Redis, replicaIds: string[]): Promise<Map<string, boolean>> {
  if (replicaIds.length === 0) return new Map();
  const entries = await redis.hmget(KEYS.live, ...replicaIds);
  return new Map(replicaIds.map((id, index) => [id, entries[index]?.endsWith("|1") ?? false]));
}

export async function heartbeatTimes(redis: Redis, replicaIds: string[]): Promise<(number | null)[]> {
  if (replicaIds.length === 0) return [];
  const scores = await redis.zmscore(KEYS.heartbeats, ...replicaIds);
  return scores.map((score) => (score === null ? null : Number(score)));
}

/** Takes what replicas reported about their proxies since the last fold, atomically. */
const TAKE_REPORTS = `
local reports = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return reports
`;

export interface ReportedFigures {
  ok: number;
  fail: number;
  latencySum: number;
  latencyN: number;
}

export async function takeProxyReports(redis: Redis): Promise<Map<string, ReportedFigures>> {
  const flat = (await redis.eval(TAKE_REPORTS, 1, KEYS.proxyReports)) as string[];
  const figures = new Map<string, ReportedFigures>();
  for (let index = 0; index < flat.length; index += 2) {
    const [proxyId, field] = flat[index].split("|");
    const entry = figures.get(proxyId) ?? { ok: 0, fail: 0, latencySum: 0, latencyN: 0 };
    const value = Number(flat[index + 1]);
    if (field === "ok") entry.ok += value;
    if (field === "fail") entry.fail += value;
    if (field === "latency_sum") entry.latencySum += value;
    if (field === "latency_n") entry.latencyN += value;
    figures.set(proxyId, entry);
  }
  return figures;
}
