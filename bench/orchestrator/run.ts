/**
 * Orchestrator benchmark (not a test). Each figure is a ratio against a baseline measured in the same
 * run on the same private MariaDB and Redis on loopback, interleaved over rounds, medians reported:
 * 1. scale-to-N through the API's job against LOAD DATA of the same rows into copies of the tables
 *    (the order alternates between rounds, each round on a fresh database);
 * 2. the hypergrid and global metrics answered cold (cache entry deleted) against the GROUP BY over
 *    the rows that the endpoints ran before the summary counts;
 * 3. heartbeats of N running replicas posted by wrk in batches of 1000 against the same requests
 *    through the same HTTP parsing and validation, written to MariaDB as one UPDATE per batch;
 * 4. GET /api/sessions/{id} requests/s with wrk.
 *
 *   npm run bench:orchestrator                                # 1,000,000 sessions, 3 rounds
 *   BENCH_SESSIONS=100000 BENCH_ROUNDS=2 npm run bench:orchestrator   # quick iteration
 *   BENCH_SECTIONS=scale,aggregates (also heartbeats, get): only those after the scale rounds
 */
import { spawn, spawnSync } from "node:child_process";
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import os from "node:os";
import path from "node:path";
import Fastify from "fastify";
import mysql from "mysql2/promise";
import { parseInput } from "../../app/src/errors";
import { heartbeatBatchSchema } from "../../app/src/schemas";
import { startBackends, startOrchestrator, type Backends, type RunningOrchestrator } from "../../app/test/support/orchestrator";

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? 10);
/** Which sections run, for iterating on one: scale,aggregates,heartbeats,get (all by default). */
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? "scale,aggregates,heartbeats,get").split(","));
const HEARTBEATS_PER_REQUEST = 1000;
/** The load the heartbeat endpoint is meant for: a million replicas, each every 5 s. */
const REQUIRED_HEARTBEATS_PER_SECOND = 1_000_000 / 5;
const COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "AU", "NL"];
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`,
  sessions: SESSIONS,
  rounds: ROUNDS,
  load_average_at_start: os.loadavg()[0],
};

function log(line: string) {
  console.log(`[bench] ${line}`);
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = process.hrtime.bigint();
  const value = await work();
  return [value, Number(process.hrtime.bigint() - started) / 1e9];
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** Writes rows as LOAD DATA's default format: tab-separated, \N for NULL. */
async function dumpTsv(connection: mysql.Connection, sql: string, file: string): Promise<number> {
  const out = createWriteStream(file);
  let rows = 0;
  const escape = (value: unknown) =>
    value === null
      ? "\\N"
      : // mysql2 hands JSON columns back parsed.
        (typeof value === "object" ? JSON.stringify(value) : String(value)).replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n");
  const stream = (connection as unknown as { connection: { query(sql: string): { stream(): NodeJS.ReadableStream } } }).connection.query(sql).stream();
  for await (const row of stream as AsyncIterable<Record<string, unknown>>) {
    if (!out.write(`${Object.values(row).map(escape).join("\t")}\n`)) await once(out, "drain");
    rows++;
  }
  out.end();
  await once(out, "finish");
  return rows;
}

const SESSION_COLUMNS =
  "id, seq, url, status, region, country, proxy_pool_id, target_replica_count, active_replica_count, rendering_options, proxy_requirements, created_at, updated_at";
const REPLICA_COLUMNS = "id, session_id, status, proxy_id, country, started_at, last_heartbeat_at, created_at";

function connectLoader(run: RunningOrchestrator) {
  return mysql.createConnection({
    uri: run.config.MEGAWEB_DB_URL,
    // Rows go out as the server wrote them, so LOAD DATA reads back exactly the same values.
    dateStrings: true,
    infileStreamFactory: (file: string) => createReadStream(file),
  });
}

/** LOAD DATA of the dumped rows into copies of the tables, with the foreign key the app's inserts pay for. */
async function loadData(run: RunningOrchestrator, files: { sessions: string; replicas: string }): Promise<{ rows: number; seconds: number }> {
  const loader = await connectLoader(run);
  try {
    await loader.query("DROP TABLE IF EXISTS replicas_load, sessions_load");
    await loader.query("CREATE TABLE sessions_load LIKE sessions");
    await loader.query("CREATE TABLE replicas_load LIKE replicas");
    await loader.query(
      "ALTER TABLE replicas_load ADD CONSTRAINT replicas_load_session FOREIGN KEY (session_id) REFERENCES sessions_load (id) ON DELETE CASCADE",
    );
    const [, seconds] = await timed(async () => {
      await loader.query({ sql: `LOAD DATA LOCAL INFILE ? INTO TABLE sessions_load (${SESSION_COLUMNS})`, values: [files.sessions] });
      await loader.query({ sql: `LOAD DATA LOCAL INFILE ? INTO TABLE replicas_load (${REPLICA_COLUMNS})`, values: [files.replicas] });
    });
    const [[loaded]] = await loader.query<mysql.RowDataPacket[]>(
      "SELECT (SELECT COUNT(*) FROM sessions_load) AS sessions, (SELECT COUNT(*) FROM replicas_load) AS replicas",
    );
    await loader.query("DROP TABLE replicas_load, sessions_load");
    return { rows: Number(loaded.sessions) + Number(loaded.replicas), seconds };
  } finally {
    await loader.end();
  }
}

async function scaleThroughApi(run: RunningOrchestrator): Promise<{ rows: number; seconds: number; events: number }> {
  const [, seconds] = await timed(async () => {
    const started = await run.api("/api/embed/scale-million", { method: "POST", body: { targetSessions: SESSIONS } });
    for (;;) {
      const state = await run.api(started.body.statusUrl);
      if (state.body.state === "completed") return state.body;
      if (state.body.state === "failed") throw new Error(`scale job failed: ${state.body.failedReason}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  const [[counts]] = await run.services.db.primary.query<mysql.RowDataPacket[]>(
    "SELECT (SELECT COUNT(*) FROM sessions) AS sessions, (SELECT COUNT(*) FROM replicas) AS replicas, (SELECT COUNT(*) FROM events) AS events",
  );
  if (Number(counts.sessions) !== SESSIONS) throw new Error(`scale job left ${counts.sessions} sessions of ${SESSIONS}`);
  return { rows: Number(counts.sessions) + Number(counts.replicas), seconds, events: Number(counts.events) };
}

async function newRun(backends: Backends): Promise<RunningOrchestrator> {
  const run = await startOrchestrator(backends, {
    worker: true,
    sweepEveryMs: false,
    env: { MEGAWEB_RATE_LIMIT_PER_MINUTE: "1000000000", MEGAWEB_LOG_LEVEL: "error", MEGAWEB_DB_POOL_SIZE: "16", MEGAWEB_HEARTBEAT_TIMEOUT_SECONDS: "3600" },
  });
  for (let index = 0; index < 50; index++) {
    await run.api("/api/proxies", {
      method: "POST",
      body: { pool_id: "global-pool", host: `10.1.0.${index + 1}`, port: 3128, country: COUNTRIES[index % COUNTRIES.length] },
    });
  }
  return run;
}

/** Each round on a fresh database; the last one's goes away so the buffer pool holds only the next. */
async function dropRun(run: RunningOrchestrator, backends: Backends): Promise<void> {
  const database = new URL(run.config.MEGAWEB_DB_URL).pathname.slice(1);
  await run.stop();
  const root = await mysql.createConnection({ uri: backends.mariadb.rootUrl });
  await root.query(`DROP DATABASE \`${database}\``);
  await root.end();
}

/** Section 1: scale through the API against LOAD DATA, alternating which goes first. */
async function scaleRounds(backends: Backends, scratch: string): Promise<RunningOrchestrator> {
  const files = { sessions: path.join(scratch, "sessions.tsv"), replicas: path.join(scratch, "replicas.tsv") };
  const rounds: { app_rows_per_second: number; load_data_rows_per_second: number; ratio: number; order: string }[] = [];
  let dumped = false;
  let run: RunningOrchestrator | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    if (run) await dropRun(run, backends);
    run = await newRun(backends);
    const loadFirst = round % 2 === 1 && dumped;
    let load: { rows: number; seconds: number } | undefined;
    if (loadFirst) load = await loadData(run, files);
    const cpuBefore = process.cpuUsage();
    const scale = await scaleThroughApi(run);
    const cpu = process.cpuUsage(cpuBefore);
    if (!dumped) {
      const loader = await connectLoader(run);
      await dumpTsv(loader, `SELECT ${SESSION_COLUMNS} FROM sessions`, files.sessions);
      await dumpTsv(loader, `SELECT ${REPLICA_COLUMNS} FROM replicas`, files.replicas);
      await loader.end();
      dumped = true;
    }
    if (!loadFirst) load = await loadData(run, files);
    if (load!.rows !== scale.rows) throw new Error(`LOAD DATA loaded ${load!.rows} rows, the app wrote ${scale.rows}`);
    const entry = {
      order: loadFirst ? "LOAD DATA, then app" : "app, then LOAD DATA",
      app_seconds: round2(scale.seconds),
      app_rows_per_second: Math.round(scale.rows / scale.seconds),
      app_cpu_seconds: round2((cpu.user + cpu.system) / 1e6),
      events: scale.events,
      load_data_seconds: round2(load!.seconds),
      load_data_rows_per_second: Math.round(load!.rows / load!.seconds),
      ratio: round2(load!.seconds / scale.seconds),
    };
    rounds.push(entry);
    log(`scale round ${round + 1}/${ROUNDS}: ${JSON.stringify(entry)}`);
  }
  results.scale = {
    rows: SESSIONS * 2,
    rounds,
    median_app_rows_per_second: median(rounds.map((entry) => entry.app_rows_per_second)),
    median_load_data_rows_per_second: median(rounds.map((entry) => entry.load_data_rows_per_second)),
    median_ratio: median(rounds.map((entry) => entry.ratio)),
    target_ratio: 0.8,
  };
  return run!;
}

/** Section 2: cold hypergrid and metrics against the GROUP BY over the rows, interleaved. */
async function aggregateRounds(run: RunningOrchestrator): Promise<void> {
  const tileSize = run.config.MEGAWEB_HYPERGRID_TILE_SIZE;
  const primary = run.services.db.primary;
  const endpoints: { name: string; route: string; key: string; baseline: () => Promise<unknown> }[] = [
    {
      name: "hypergrid",
      route: "/api/hypergrid",
      key: `megaweb:cache:hypergrid:${tileSize}`,
      baseline: () => primary.query("SELECT (seq - 1) DIV ? AS tile, status, country, COUNT(*) AS n FROM sessions GROUP BY tile, status, country", [tileSize]),
    },
    {
      name: "global_metrics",
      route: "/api/metrics/global",
      key: "megaweb:cache:metrics:global",
      baseline: () =>
        Promise.all([
          primary.query("SELECT status, COUNT(*) AS n FROM sessions GROUP BY status"),
          primary.query("SELECT status, COUNT(*) AS n FROM replicas GROUP BY status"),
          primary.query("SELECT COUNT(*), SUM(status = 'active'), AVG(avg_latency_ms) FROM proxies"),
        ]),
    },
  ];
  for (const endpoint of endpoints) {
    const cold: number[] = [];
    const direct: number[] = [];
    for (let round = 0; round < 7; round++) {
      await run.services.redis.del(endpoint.key);
      const [response, seconds] = await timed(() => run.api(endpoint.route));
      if (response.status !== 200) throw new Error(`${endpoint.route}: ${response.status}`);
      cold.push(seconds * 1000);
      direct.push((await timed(endpoint.baseline))[1] * 1000);
    }
    results[endpoint.name] = {
      cold_ms_median: round2(median(cold)),
      cold_ms_max: round2(Math.max(...cold)),
      group_by_over_rows_ms_median: round2(median(direct)),
      ratio_to_group_by: round2(median(cold) / median(direct)),
      target_cold_ms: 300,
    };
    log(`${endpoint.name}: ${JSON.stringify(results[endpoint.name])}`);
  }
}

interface WrkSummary {
  requests: number;
  errors: number;
  non2xx: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

async function wrk(url: string, script: string, env: Record<string, string>, seconds: number, connections: number): Promise<WrkSummary> {
  const child = spawn("wrk", ["-t2", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", path.join(__dirname, script), url], {
    env: { ...process.env, MEGAWEB_BENCH_DIR: __dirname, ...env },
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  await once(child, "exit");
  const summary = /BENCH requests=(\d+) errors=(\d+) non2xx=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+)/.exec(output);
  if (!summary) throw new Error(`wrk gave no summary:\n${output}`);
  const [requests, errors, non2xx, durationUs, p50, p99] = summary.slice(1).map(Number);
  return { requests, errors, non2xx, seconds: durationUs / 1e6, p50Ms: p50 / 1000, p99Ms: p99 / 1000 };
}

/** Section 3: heartbeats through the API against the same reports as row updates, interleaved. */
async function heartbeatRounds(run: RunningOrchestrator, scratch: string): Promise<void> {
  const primary = run.services.db.primary;
  const [rows] = await primary.query<mysql.RowDataPacket[]>("SELECT id FROM replicas ORDER BY id");
  const ids = rows.map((row) => row.id as string);
  log(`heartbeats: ${ids.length} replicas go pending -> running through the endpoint`);
  const transitionBatch = 5000;
  const [, waveSeconds] = await timed(async () => {
    let next = 0;
    const lane = async () => {
      while (next < ids.length) {
        const batch = ids.slice(next, (next += transitionBatch));
        const response = await run.api("/api/replicas/heartbeats", {
          method: "POST",
          body: { heartbeats: batch.map((id) => ({ replica_id: id, status: "running" })) },
        });
        if (response.status !== 200 || response.body.transitions !== batch.length)
          throw new Error(`transition batch: ${JSON.stringify(response.body).slice(0, 300)}`);
      }
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
  });
  results.heartbeat_transitions = { replicas: ids.length, seconds: round2(waveSeconds), transitions_per_second: Math.round(ids.length / waveSeconds) };
  log(`transition wave: ${JSON.stringify(results.heartbeat_transitions)}`);

  // Bodies of 1000 heartbeats over all replicas in a shuffled order, each with its last request's outcome.
  const shuffled = [...ids].sort(() => Math.random() - 0.5);
  const bodiesFile = path.join(scratch, "heartbeats.txt");
  const bodies = createWriteStream(bodiesFile);
  for (let offset = 0; offset + HEARTBEATS_PER_REQUEST <= shuffled.length && offset < 400 * HEARTBEATS_PER_REQUEST; offset += HEARTBEATS_PER_REQUEST) {
    const batch = shuffled.slice(offset, offset + HEARTBEATS_PER_REQUEST);
    const body = {
      heartbeats: batch.map((id, index) => ({ replica_id: id, status: "running", last_request: { proxy_outcome: "ok", latency_ms: 50 + (index % 200) } })),
    };
    bodies.write(`${JSON.stringify(body)}\n`);
  }
  bodies.end();
  await once(bodies, "finish");

  const token = run.config.MEGAWEB_API_TOKEN;
  const baseline = await rowUpdateServer(run);
  const app: number[] = [];
  const rowUpdates: number[] = [];
  const latencies: { p50: number; p99: number }[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const env = { MEGAWEB_BENCH_BODIES: bodiesFile, MEGAWEB_BENCH_TOKEN: token };
      const posted = await wrk(run.baseUrl, "post-heartbeats.lua", env, WRK_SECONDS, 8);
      const written = await wrk(baseline.url, "post-heartbeats.lua", env, WRK_SECONDS, 8);
      for (const [name, summary] of [
        ["endpoint", posted],
        ["row updates", written],
      ] as const) {
        if (summary.errors || summary.non2xx) throw new Error(`${name}: ${summary.errors} errors, ${summary.non2xx} non-2xx`);
      }
      app.push((posted.requests * HEARTBEATS_PER_REQUEST) / posted.seconds);
      rowUpdates.push((written.requests * HEARTBEATS_PER_REQUEST) / written.seconds);
      latencies.push({ p50: posted.p50Ms, p99: posted.p99Ms });
      log(`heartbeat round ${round + 1}/${ROUNDS}: endpoint ${Math.round(app.at(-1)!)}/s, row updates ${Math.round(rowUpdates.at(-1)!)}/s`);
    }
  } finally {
    await baseline.close();
  }
  const rate = median(app);
  results.heartbeats = {
    per_request: HEARTBEATS_PER_REQUEST,
    rounds: app.map((value, index) => ({
      endpoint_per_second: Math.round(value),
      row_updates_per_second: Math.round(rowUpdates[index]),
      latency_ms: latencies[index],
    })),
    median_per_second: Math.round(rate),
    median_row_updates_per_second: Math.round(median(rowUpdates)),
    ratio_to_row_updates: round2(rate / median(rowUpdates)),
    replicas_at_one_heartbeat_per_5s: Math.round(rate * 5),
    ratio_to_a_million_every_5s: round2(rate / REQUIRED_HEARTBEATS_PER_SECOND),
  };
  log(`heartbeats: ${JSON.stringify(results.heartbeats)}`);
}

/**
 * The baseline: the same HTTP path, body parsing and validation, with each batch written to
 * MariaDB as one UPDATE of last_heartbeat_at (what a heartbeat costs as a row write).
 */
async function rowUpdateServer(run: RunningOrchestrator): Promise<{ url: string; close(): Promise<void> }> {
  const server = Fastify({ bodyLimit: 5 * 1024 * 1024 });
  server.post("/api/replicas/heartbeats", async (request) => {
    const { heartbeats } = parseInput(heartbeatBatchSchema, request.body);
    await run.services.db.primary.query("UPDATE replicas SET last_heartbeat_at = CURRENT_TIMESTAMP(3) WHERE id IN (?)", [
      heartbeats.map((heartbeat) => heartbeat.replica_id),
    ]);
    return { accepted: heartbeats.length };
  });
  const url = await server.listen({ port: 0, host: "127.0.0.1" });
  return { url, close: () => server.close() };
}

/** Section 4: GET /api/sessions/{id} with the worker stopped, so wrk measures the web process alone. */
async function getSession(run: RunningOrchestrator, scratch: string): Promise<void> {
  await run.worker?.close();
  const [idRows] = await run.services.db.primary.query<mysql.RowDataPacket[]>("SELECT id FROM sessions ORDER BY RAND() LIMIT 10000");
  const idsFile = path.join(scratch, "ids.txt");
  writeFileSync(idsFile, idRows.map((row) => row.id).join("\n") + "\n");
  const summary = await wrk(run.baseUrl, "get-session.lua", { MEGAWEB_BENCH_IDS: idsFile }, WRK_SECONDS, 32);
  results.get_session_by_id = {
    requests_per_second: Math.round(summary.requests / summary.seconds),
    errors: summary.errors,
    non_2xx: summary.non2xx,
    latency_ms: { p50: summary.p50Ms, p99: summary.p99Ms },
  };
  log(`GET session by id: ${JSON.stringify(results.get_session_by_id)}`);
}

async function main() {
  if (spawnSync("sh", ["-c", "command -v wrk"]).status !== 0) throw new Error("wrk is not installed: bash scripts/setup/00-apt.sh");
  const scratch = mkdtempSync(path.join(os.tmpdir(), "megaweb-bench-"));
  log(`${SESSIONS} sessions, ${ROUNDS} rounds; MariaDB (2 GiB buffer pool, durable commits) and Redis on loopback`);
  const backends = await startBackends({ bufferPoolMb: 2048, flushLogAtTrxCommit: 1 });
  let run: RunningOrchestrator | undefined;
  try {
    run = await scaleRounds(backends, scratch);
    if (SECTIONS.has("aggregates")) await aggregateRounds(run);
    if (SECTIONS.has("heartbeats")) await heartbeatRounds(run, scratch);
    if (SECTIONS.has("get")) await getSession(run, scratch);
  } finally {
    await run?.stop();
    await backends.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  results.load_average_at_end = os.loadavg()[0];
  const reportDir = path.resolve(__dirname, "../../test-output");
  mkdirSync(reportDir, { recursive: true });
  const report = path.join(reportDir, "bench-orchestrator.json");
  writeFileSync(report, `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
  log(`report: ${report}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
