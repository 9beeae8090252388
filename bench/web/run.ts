/**
 * Web serving benchmark (not a test): one local machine provisioned by megaweb with the real
 * Pulumi engine (bench/web/Pulumi.bench-web.yaml), measured against the same machine's stock
 * Debian nginx + `www` pool serving the same files, and against the machine's static-file ceiling,
 * interleaved in one run. The machine set is booted here and removed at the end, also on failure.
 *
 *   npm run bench:web
 *   BENCH_WEB_ROUNDS=5 BENCH_WEB_SECONDS=10 BENCH_WEB_CONNECTIONS=16 npm run bench:web
 *   BENCH_WEB_KEEP=1 npm run bench:web   # leaves the machine up; the next run reuses it and its
 *                                        # `pulumi up` applies only what changed (for tuning)
 *
 * The load generator (wrk, one thread) runs on the host and shares its 2 cores with the machine,
 * so every figure is "server plus generator on the same CPUs"; the ratios cancel that out.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import { LocalStack, type Machine, repo } from "../../test/e2e/local-stack";
import { parseWebBenchArgs } from "./args";

const { rounds: ROUNDS, seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS, keep: KEEP } = parseWebBenchArgs(process.env);

const site = { domain: "bench.megaweb.test", slug: "bench_megaweb_test" };
const cachedSite = { domain: "cached.megaweb.test", slug: "cached_megaweb_test" };
const ports = { megaweb: 80, stock: 8081, ceiling: 8082 };
const staticBytes = 10 * 1024;

type Side = keyof typeof ports;

/**
 * The systemd units whose CPU time a side spends: the web server and PHP of the side, and the
 * database and Redis the PHP pages use (the same servers for both sides; megaweb's `.env` reaches
 * them through their unix sockets, stock's over TCP as a stock box's application would).
 */
const units: Record<Side, readonly string[]> = {
  megaweb: ["nginx", `php8.2-fpm-site@${site.slug}`, `php8.2-fpm-site@${cachedSite.slug}`, "mariadb", "redis-server"],
  stock: ["megaweb-bench-stock-nginx", "megaweb-bench-stock-fpm", "mariadb", "redis-server"],
  ceiling: ["megaweb-bench-ceiling"],
};

/** One load run: which side, which site name, which path, and what its body must hold. */
interface Target {
  readonly side: Side;
  readonly host: string;
  readonly path: string;
  readonly expect: RegExp;
}

interface Page {
  readonly name: string;
  /** Measured next to each other in every round; the static pages have the ceiling as a third. */
  readonly targets: readonly Target[];
}

const dbAnswer = /^item \d+ hello\n$/;
const staticAnswer = /^\/\* 10 KB/;
const ceiling: Target = { side: "ceiling", host: site.domain, path: "/static.css", expect: staticAnswer };
const pages: readonly Page[] = [
  {
    name: "echo",
    targets: [
      { side: "megaweb", host: site.domain, path: "/echo.php", expect: /^ok$/ },
      { side: "stock", host: site.domain, path: "/echo.php", expect: /^ok$/ },
    ],
  },
  {
    name: "db+redis",
    targets: [
      { side: "megaweb", host: site.domain, path: "/db.php", expect: dbAnswer },
      { side: "stock", host: site.domain, path: "/db.php", expect: dbAnswer },
    ],
  },
  {
    name: "static 10 KB",
    targets: [
      { side: "megaweb", host: site.domain, path: "/static.css", expect: staticAnswer },
      { side: "stock", host: site.domain, path: "/static.css", expect: staticAnswer },
      ceiling,
    ],
  },
  {
    // Stock nginx has no micro-cache: its side is the same page through PHP every time.
    name: "micro-cached",
    targets: [
      { side: "megaweb", host: cachedSite.domain, path: "/db.php", expect: dbAnswer },
      { side: "stock", host: site.domain, path: "/db.php", expect: dbAnswer },
      ceiling,
    ],
  },
];

interface Run {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Server CPU time per request over the run, by unit. */
  readonly cpuUsPerRequest: Record<string, number>;
}

function log(line: string) {
  console.log(`[bench:web] ${line}`);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const round2 = (value: number) => Math.round(value * 100) / 100;

/** A 10 KB stylesheet: the size of a typical small asset, text so its bytes show in a browser. */
function staticFile(): string {
  let css = "/* 10 KB of CSS for the static-file benchmark */\n";
  while (css.length < staticBytes) css += ".megaweb-bench { color: #123456; margin: 0 auto; }\n";
  return css.slice(0, staticBytes);
}

function get(address: string, target: Target): Promise<{ status: number; body: string; cache?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: address, port: ports[target.side], path: target.path, headers: { Host: target.host }, timeout: 10_000, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, cache: res.headers["x-cache-status"] as string | undefined }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${target.side} ${target.path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** Every target answers what it should before any load: a bench of error pages would measure nothing. */
async function checkTargets(address: string): Promise<void> {
  for (const target of pages.flatMap((page) => page.targets)) {
    const answer = await get(address, target);
    if (answer.status !== 200 || !target.expect.test(answer.body)) {
      throw new Error(`${target.side} http://${target.host}:${ports[target.side]}${target.path} answered ${answer.status}: ${answer.body.slice(0, 200)}`);
    }
  }
  const cachedPage = pages.find((page) => page.name === "micro-cached")!.targets[0]!;
  const cache = (await get(address, cachedPage)).cache;
  if (cache !== "HIT") throw new Error(`${cachedSite.domain}${cachedPage.path} is not served from the micro-cache (X-Cache-Status: ${cache})`);
}

function wrk(address: string, target: Target, seconds: number) {
  const url = `http://${address}:${ports[target.side]}${target.path}`;
  const result = spawnSync(
    "wrk",
    ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--timeout", "10s", "-s", path.join(__dirname, "report.lua"), "-H", `Host: ${target.host}`, url],
    { encoding: "utf8", timeout: (seconds + 30) * 1000 },
  );
  const summary = /BENCH requests=(\d+) errors=(\d+) non2xx=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+)/.exec(result.stdout ?? "");
  if (!summary) throw new Error(`wrk ${url} gave no summary:\n${result.stdout}${result.stderr}`);
  const [requests, errors, non2xx, durationUs, p50, p99] = summary.slice(1).map(Number) as [number, number, number, number, number, number];
  if (errors > 0 || non2xx > 0) throw new Error(`${url} (Host: ${target.host}): ${errors} socket errors, ${non2xx} non-2xx answers`);
  return { requests, rps: requests / (durationUs / 1e6), p50Ms: p50 / 1000, p99Ms: p99 / 1000 };
}

/** CPU seconds each unit has used so far, from machine.sh's per-process-tree accounting. */
function cpuSeconds(machine: Machine, side: Side): Record<string, number> {
  const lines = machine
    .ssh(`bash -s -- cpu ${units[side].join(" ")}`, machineScript())
    .trim()
    .split("\n");
  const ticks = Number(lines[0]!.split(" ")[1]);
  return Object.fromEntries(lines.slice(1).map((line) => [line.split(" ")[0]!, Number(line.split(" ")[1]) / ticks]));
}

/** A short unrecorded run first, so pools have their workers and caches their entries, as under steady traffic. */
function measure(machine: Machine, target: Target): Run {
  wrk(machine.address, target, WARMUP_SECONDS);
  const before = cpuSeconds(machine, target.side);
  const run = wrk(machine.address, target, SECONDS);
  const after = cpuSeconds(machine, target.side);
  const cpuUsPerRequest = Object.fromEntries(Object.keys(after).map((unit) => [unit, Math.round(((after[unit]! - before[unit]!) * 1e6) / run.requests)]));
  return { rps: run.rps, p50Ms: run.p50Ms, p99Ms: run.p99Ms, cpuUsPerRequest };
}

function machineScript(): string {
  return readFileSync(path.join(__dirname, "machine.sh"), "utf8");
}

function installFixtures(machine: Machine): void {
  const files: [string, string][] = [
    ["echo.php", readFileSync(path.join(__dirname, "pages/echo.php"), "utf8")],
    ["db.php", readFileSync(path.join(__dirname, "pages/db.php"), "utf8")],
    ["static.css", staticFile()],
  ];
  for (const { slug } of [site, cachedSite]) {
    for (const [name, content] of files) machine.ssh(`install -m 0640 -o ${slug} -g www-data /dev/stdin /var/www/${slug}/public/${name}`, content);
  }
  machine.ssh(`bash -s -- setup ${site.slug} ${ports.stock} ${ports.ceiling} ${site.slug} ${cachedSite.slug}`, machineScript());
}

/** What the figures were taken on, for bench/README.md. */
function describeMachine(machine: Machine) {
  const versions = machine.ssh("nginx -v 2>&1; php-fpm8.2 -v | head -n1; mariadbd --version; redis-server --version").trim().split("\n");
  const pool = machine.ssh(`grep -E '^pm( |\\.max_children|\\.max_requests)' /etc/php/8.2/fpm/pool.d/${site.slug}.conf`).trim().split("\n");
  return {
    host_cpu: os.cpus()[0]?.model,
    host_cores: os.cpus().length,
    machine_memory_mb: Number(machine.ssh("free -m | awk '/^Mem:/ {print $2}'").trim()),
    versions,
    megaweb_pool: pool,
  };
}

/** Runs by page, then by side, in round order. */
type Runs = Record<string, Partial<Record<Side, Run[]>>>;

function runRounds(machine: Machine): Runs {
  const runs: Runs = Object.fromEntries(pages.map((page) => [page.name, Object.fromEntries(page.targets.map((target) => [target.side, []]))]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const page of pages) {
      // The order rotates every round, so a drift in the host's load falls on every side alike.
      const order = page.targets.map((_, index) => page.targets[(index + round) % page.targets.length]!);
      for (const target of order) {
        const run = measure(machine, target);
        runs[page.name]![target.side]!.push(run);
        const cpu = Object.values(run.cpuUsPerRequest).reduce((sum, us) => sum + us, 0);
        log(
          `round ${round + 1}/${ROUNDS} ${page.name} ${target.side}: ${Math.round(run.rps)} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, server CPU ${cpu} µs/request`,
        );
      }
    }
  }
  return runs;
}

function summarize(runs: Runs) {
  const medians = (sideRuns: Run[]) => ({
    rps: Math.round(median(sideRuns.map((run) => run.rps))),
    p50_ms: round2(median(sideRuns.map((run) => run.p50Ms))),
    p99_ms: round2(median(sideRuns.map((run) => run.p99Ms))),
    cpu_us_per_request: Object.fromEntries(
      Object.keys(sideRuns[0]!.cpuUsPerRequest).map((unit) => [unit, median(sideRuns.map((run) => run.cpuUsPerRequest[unit]!))]),
    ),
  });
  // Ratios are taken per round, between runs that stood next to each other, and then their median.
  const ratio = (ours: Run[], theirs: Run[]) => round2(median(ours.map((run, index) => run.rps / theirs[index]!.rps)));
  const summary = pages.map((page) => {
    const { megaweb, stock, ceiling: ceilingRuns } = runs[page.name]! as Record<Side, Run[]>;
    return {
      page: page.name,
      megaweb: medians(megaweb),
      stock: medians(stock),
      ratio: ratio(megaweb, stock),
      ...(ceilingRuns === undefined ? {} : { ceiling: medians(ceilingRuns), of_ceiling: ratio(megaweb, ceilingRuns) }),
    };
  });
  const by = (name: string) => summary.find((entry) => entry.page === name)!;
  const echo = by("echo");
  const targets = [
    { target: "echo ≥ 1.0× stock", pass: echo.ratio >= 1.0, figure: `${echo.ratio}×` },
    { target: "echo p99 no worse than stock", pass: echo.megaweb.p99_ms <= echo.stock.p99_ms, figure: `${echo.megaweb.p99_ms} ms vs ${echo.stock.p99_ms} ms` },
    { target: "db+redis ≥ 1.3× stock", pass: by("db+redis").ratio >= 1.3, figure: `${by("db+redis").ratio}×` },
    { target: "static ≥ 0.8× ceiling", pass: by("static 10 KB").of_ceiling! >= 0.8, figure: `${by("static 10 KB").of_ceiling}×` },
    { target: "micro-cached ≥ 0.8× ceiling", pass: by("micro-cached").of_ceiling! >= 0.8, figure: `${by("micro-cached").of_ceiling}×` },
  ];
  return { pages: summary, targets };
}

function printTable(summary: ReturnType<typeof summarize>): void {
  const cpu = (figures: { cpu_us_per_request: Record<string, number> }) => Object.values(figures.cpu_us_per_request).reduce((sum, us) => sum + us, 0);
  const cells = (figures: { rps: number; p50_ms: number; p99_ms: number; cpu_us_per_request: Record<string, number> }) =>
    [`${figures.rps}`.padStart(7), `${figures.p50_ms}`.padStart(7), `${figures.p99_ms}`.padStart(7), `${cpu(figures)}`.padStart(6)].join(" ");
  const rows = summary.pages.map((entry) =>
    [
      entry.page.padEnd(13),
      cells(entry.megaweb),
      cells(entry.stock),
      `${entry.ratio}×`.padStart(6),
      entry.ceiling === undefined ? "" : `${cells(entry.ceiling)} ${`${entry.of_ceiling}×`.padStart(6)}`,
    ].join(" │ "),
  );
  console.log(
    [
      "",
      `              │ megaweb req/s  p50 ms  p99 ms  CPU µs │   stock req/s  p50 ms  p99 ms  CPU µs │  ratio │ ceiling req/s  p50 ms  p99 ms  CPU µs  of it`,
      ...rows,
      "",
      ...summary.targets.map((target) => `${target.pass ? "pass" : "FAIL"}  ${target.target}: ${target.figure}`),
    ].join("\n"),
  );
}

async function main() {
  if (process.platform !== "linux" || process.getuid?.() !== 0) throw new Error("bench:web needs Linux and root (it boots a systemd-nspawn machine)");
  if (spawnSync("sh", ["-c", "command -v wrk"]).status !== 0) throw new Error("wrk is not installed: bash scripts/setup/00-apt.sh");
  const local = new LocalStack("bench", "bench-web", path.join(__dirname, "Pulumi.bench-web.yaml"));
  const reuse = KEEP && existsSync(`/var/lib/megaweb/machines/${local.machineSet}/hosts.json`);
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    rounds: ROUNDS,
    seconds: SECONDS,
    connections: CONNECTIONS,
    load_average_at_start: os.loadavg()[0],
  };
  let machine: Machine | undefined;
  try {
    if (!reuse) local.destroy();
    log(reuse ? `reusing machine set ${local.machineSet}` : `booting machine set ${local.machineSet} and running pulumi up`);
    local.prepare();
    local.pulumiOk(["up", "--yes", "--skip-preview"], 1200);
    machine = local.machine();
    installFixtures(machine);
    await checkTargets(machine.address);
    results.machine = describeMachine(machine);
    const runsPerRound = pages.reduce((sum, page) => sum + page.targets.length, 0);
    log(`${ROUNDS} rounds × ${runsPerRound} runs of ${SECONDS} s (after ${WARMUP_SECONDS} s unrecorded), wrk -t1 -c${CONNECTIONS}`);
    const runs = runRounds(machine);
    const summary = summarize(runs);
    results.summary = summary;
    results.runs = runs;
    results.load_average_at_end = os.loadavg()[0];
    printTable(summary);
  } finally {
    if (KEEP) {
      if (machine !== undefined) machine.ssh("bash -s -- stop", machineScript());
      log(`kept machine set ${local.machineSet} (BENCH_WEB_KEEP=1); a run without it removes the set at its end`);
    } else {
      local.destroyOk();
    }
  }
  const reportDir = path.join(repo, "test-output");
  mkdirSync(reportDir, { recursive: true });
  const report = path.join(reportDir, "bench-web.json");
  writeFileSync(report, `${JSON.stringify(results, null, 2)}\n`);
  log(`report: ${report}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
