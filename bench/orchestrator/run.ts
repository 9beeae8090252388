/**
 * Orchestrator benchmark (not a test): scale to 1,000,000 sessions with their replicas through the
 * API's job, compared with LOAD DATA of the same rows on the same server in the same run; hypergrid
 * and global-metrics latency at that size; requests/s of GET session by id with wrk.
 * Loopback only, private MariaDB and Redis, everything stopped at the end.
 *
 *   npm run bench:orchestrator            # 1,000,000 sessions
 *   BENCH_SESSIONS=100000 npm run bench:orchestrator
 */
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { once } from "node:events";
import mysql from "mysql2/promise";
import { createReadStream } from "node:fs";
import { startBackends, startOrchestrator, type RunningOrchestrator } from "../../app/test/support/orchestrator";

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 1_000_000);
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? 15);
const COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "AU", "NL"];
const results: Record<string, unknown> = { sessions: SESSIONS, cores: os.cpus().length, load_average_at_start: os.loadavg()[0] };

function log(line: string) {
  console.log(`[bench] ${line}`);
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = process.hrtime.bigint();
  const value = await work();
  return [value, Number(process.hrtime.bigint() - started) / 1e9];
}

function percentile(samples: number[], fraction: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

async function latency(run: RunningOrchestrator, route: string, cacheKey: string, rounds: number) {
  const cold: number[] = [];
  const warm: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await run.services.redis.del(cacheKey);
    const [coldResponse, coldSeconds] = await timed(() => run.api(route));
    if (coldResponse.status !== 200) throw new Error(`${route}: ${coldResponse.status}`);
    cold.push(coldSeconds * 1000);
    for (let hit = 0; hit < 5; hit++) warm.push((await timed(() => run.api(route)))[1] * 1000);
  }
  const round2 = (n: number) => Math.round(n * 10) / 10;
  return {
    uncached_ms: { p50: round2(percentile(cold, 0.5)), max: round2(Math.max(...cold)) },
    cached_ms: { p50: round2(percentile(warm, 0.5)), p95: round2(percentile(warm, 0.95)) },
  };
}

/** Writes a table's rows as LOAD DATA's default format: tab-separated, \N for NULL. */
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

async function main() {
  if (spawnSync("sh", ["-c", "command -v wrk"]).status !== 0) throw new Error("wrk is not installed: bash scripts/setup/00-apt.sh");
  const scratch = mkdtempSync(path.join(os.tmpdir(), "megaweb-bench-"));
  log(`starting MariaDB (2 GiB buffer pool, durable commits) and Redis`);
  const backends = await startBackends({ bufferPoolMb: 2048, flushLogAtTrxCommit: 1 });
  let run: RunningOrchestrator | undefined;
  try {
    run = await startOrchestrator(backends, {
      worker: true,
      sweepEveryMs: false,
      env: { MEGAWEB_RATE_LIMIT_PER_MINUTE: "1000000000", MEGAWEB_LOG_LEVEL: "error", MEGAWEB_DB_POOL_SIZE: "16" },
    });
    for (let index = 0; index < 50; index++) {
      await run.api("/api/proxies", {
        method: "POST",
        body: { pool_id: "global-pool", host: `10.1.0.${index + 1}`, port: 3128, country: COUNTRIES[index % COUNTRIES.length] },
      });
    }

    log(`scaling to ${SESSIONS} sessions through POST /api/embed/scale-million`);
    // The app's own CPU during the job tells whether Node or the database sets the pace.
    const cpuBefore = process.cpuUsage();
    const [job, scaleSeconds] = await timed(async () => {
      const started = await run!.api("/api/embed/scale-million", { method: "POST", body: { targetSessions: SESSIONS } });
      for (;;) {
        const state = await run!.api(started.body.statusUrl);
        if (state.body.state === "completed") return state.body;
        if (state.body.state === "failed") throw new Error(`scale job failed: ${state.body.failedReason}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    });
    const cpu = process.cpuUsage(cpuBefore);
    const primary = run.services.db.primary;
    const [[counts]] = await primary.query<mysql.RowDataPacket[]>(
      "SELECT (SELECT COUNT(*) FROM sessions) AS sessions, (SELECT COUNT(*) FROM replicas) AS replicas, (SELECT COUNT(*) FROM events) AS events",
    );
    const appRows = Number(counts.sessions) + Number(counts.replicas);
    results.scale = {
      target_reached: job.targetReached,
      seconds: Math.round(scaleSeconds * 10) / 10,
      sessions: Number(counts.sessions),
      replicas: Number(counts.replicas),
      events: Number(counts.events),
      rows_per_second: Math.round(appRows / scaleSeconds),
      sessions_per_second: Math.round(Number(counts.sessions) / scaleSeconds),
      app_cpu_seconds: Math.round((cpu.user + cpu.system) / 1e5) / 10,
    };
    log(`scale: ${JSON.stringify(results.scale)}`);

    log("dumping the same rows and timing LOAD DATA into copies of the tables");
    const loader = await mysql.createConnection({
      uri: run.config.MEGAWEB_DB_URL,
      // Rows go out as the server wrote them, so LOAD DATA reads back exactly the same values.
      dateStrings: true,
      infileStreamFactory: (file: string) => createReadStream(file),
    });
    const sessionColumns =
      "id, seq, url, status, region, proxy_pool_id, target_replica_count, active_replica_count, rendering_options, proxy_requirements, created_at, updated_at";
    const replicaColumns = "id, session_id, status, proxy_id, country, started_at, last_heartbeat_at, created_at";
    const sessionsFile = path.join(scratch, "sessions.tsv");
    const replicasFile = path.join(scratch, "replicas.tsv");
    await dumpTsv(loader, `SELECT ${sessionColumns} FROM sessions`, sessionsFile);
    await dumpTsv(loader, `SELECT ${replicaColumns} FROM replicas`, replicasFile);
    await loader.query("CREATE TABLE sessions_load LIKE sessions");
    await loader.query("CREATE TABLE replicas_load LIKE replicas");
    // LIKE copies no foreign keys; the app's inserts paid for one, so LOAD DATA does too.
    await loader.query(
      "ALTER TABLE replicas_load ADD CONSTRAINT replicas_load_session FOREIGN KEY (session_id) REFERENCES sessions_load (id) ON DELETE CASCADE",
    );
    const [, loadSeconds] = await timed(async () => {
      await loader.query({ sql: `LOAD DATA LOCAL INFILE ? INTO TABLE sessions_load (${sessionColumns})`, values: [sessionsFile] });
      await loader.query({ sql: `LOAD DATA LOCAL INFILE ? INTO TABLE replicas_load (${replicaColumns})`, values: [replicasFile] });
    });
    const [[loaded]] = await loader.query<mysql.RowDataPacket[]>(
      "SELECT (SELECT COUNT(*) FROM sessions_load) AS sessions, (SELECT COUNT(*) FROM replicas_load) AS replicas",
    );
    const loadRows = Number(loaded.sessions) + Number(loaded.replicas);
    if (loadRows !== appRows) throw new Error(`LOAD DATA loaded ${loadRows} rows of ${appRows}`);
    const loadRate = Math.round(loadRows / loadSeconds);
    results.load_data = { seconds: Math.round(loadSeconds * 10) / 10, rows: loadRows, rows_per_second: loadRate };
    results.scale_to_load_data_ratio = Math.round(((results.scale as { rows_per_second: number }).rows_per_second / loadRate) * 100) / 100;
    log(`LOAD DATA: ${JSON.stringify(results.load_data)}, ratio ${results.scale_to_load_data_ratio}`);
    await loader.query("DROP TABLE replicas_load");
    await loader.query("DROP TABLE sessions_load");
    await loader.end();
    rmSync(sessionsFile);
    rmSync(replicasFile);

    log("hypergrid and global metrics latency (uncached = Redis entry deleted first)");
    results.hypergrid = await latency(run, "/api/hypergrid", `megaweb:cache:hypergrid:${run.config.MEGAWEB_HYPERGRID_TILE_SIZE}`, 5);
    results.global_metrics = await latency(run, "/api/metrics/global", "megaweb:cache:metrics:global", 5);
    log(`hypergrid ${JSON.stringify(results.hypergrid)}; global metrics ${JSON.stringify(results.global_metrics)}`);

    // The worker has nothing left to do; stop it so wrk measures the web process alone.
    await run.worker?.close();
    const [idRows] = await primary.query<mysql.RowDataPacket[]>("SELECT id FROM sessions ORDER BY RAND() LIMIT 10000");
    const idsFile = path.join(scratch, "ids.txt");
    writeFileSync(idsFile, idRows.map((row) => row.id).join("\n") + "\n");
    log(`wrk: GET /api/sessions/{id}, 2 threads, 32 connections, ${WRK_SECONDS} s`);
    // Asynchronous: the web server under test runs on this process's event loop.
    const wrk = spawn("wrk", ["-t2", "-c32", `-d${WRK_SECONDS}s`, "--latency", "-s", path.join(__dirname, "get-session.lua"), run.baseUrl], {
      env: { ...process.env, MEGAWEB_BENCH_IDS: idsFile },
    });
    let wrkOutput = "";
    wrk.stdout.on("data", (chunk) => (wrkOutput += chunk));
    wrk.stderr.on("data", (chunk) => (wrkOutput += chunk));
    await once(wrk, "exit");
    const summary = /BENCH requests=(\d+) errors=(\d+) non2xx=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+)/.exec(wrkOutput);
    if (!summary) throw new Error(`wrk gave no summary:\n${wrkOutput}`);
    const [requests, errors, non2xx, durationUs, p50, p99] = summary.slice(1).map(Number);
    results.get_session_by_id = {
      requests_per_second: Math.round(requests / (durationUs / 1e6)),
      requests,
      errors,
      non_2xx: non2xx,
      latency_ms: { p50: p50 / 1000, p99: p99 / 1000 },
    };
    log(`GET session by id: ${JSON.stringify(results.get_session_by_id)}`);
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
