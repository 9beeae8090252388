import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./support/backends";
import { API_TOKEN, eventually, startBackends, type Backends } from "./support/orchestrator";

/**
 * The packaged artifact as a server runs it: `node web.js` and `node worker.js` from the unpacked
 * tarball, on Debian 12's own Node.js 18 (scripts/setup/20-app.sh unpacks it).
 */
const appDir = path.resolve(__dirname, "..");
const debianNode = path.join(process.env.MEGAWEB_CACHE ?? "/var/cache/megaweb", "debian-node18");

let backends: Backends;
let unpacked: string;
let tarball: string;
const children: ChildProcess[] = [];

function buildArtifact(): { tarball: string; sha256: string } {
  const output = execFileSync("node", [path.join(appDir, "scripts/build.mjs")], { encoding: "utf8" });
  const [file, digest] = output.trim().split("\n");
  return { tarball: file, sha256: digest.replace("sha256 ", "") };
}

/** Debian's node loads acorn, undici and cjs-module-lexer from /usr/share/nodejs: lay its tree over /usr/share privately. */
function nodeCommand(script: string): [string, string[]] {
  if (!existsSync(path.join(debianNode, "usr/bin/node"))) {
    throw new Error(`Debian's Node 18 is not unpacked in ${debianNode}: run bash scripts/setup/20-app.sh`);
  }
  return [
    "unshare",
    [
      "--mount",
      "sh",
      "-c",
      `mount -t overlay overlay -o lowerdir="$1/usr/share:/usr/share" /usr/share && LD_LIBRARY_PATH="$1/usr/lib/x86_64-linux-gnu" exec "$1/usr/bin/node" "$2"`,
      "node18",
      debianNode,
      script,
    ],
  ];
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function start(entry: "web.js" | "worker.js", env: Record<string, string>): Started {
  const [command, args] = nodeCommand(path.join(unpacked, entry));
  const child = spawn(command, args, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

beforeAll(async () => {
  backends = await startBackends();
  tarball = buildArtifact().tarball;
  unpacked = mkdtempSync(path.join(os.tmpdir(), "megaweb-artifact-"));
  execFileSync("tar", ["-xzf", tarball, "-C", unpacked, "--strip-components=1"]);
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  if (unpacked) rmSync(unpacked, { recursive: true, force: true });
  await backends?.stop();
});

describe("the artifact", () => {
  it("holds the bundles, the migrations and the control panel, and builds to the same bytes twice", () => {
    const entries = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n");
    const version = JSON.parse(readFileSync(path.join(appDir, "package.json"), "utf8")).version;
    const top = `megaweb-orchestrator-${version}/`;
    for (const file of [
      "web.js",
      "worker.js",
      "package.json",
      "public/index.html",
      "public/app.js",
      ...readdirSync(path.join(appDir, "migrations")).map((name) => `migrations/${name}`),
    ]) {
      expect(entries).toContain(top + file);
    }
    const first = readFileSync(`${tarball}.sha256`, "utf8");
    expect(buildArtifact().sha256).toBe(first.split(" ")[0]);
  }, 120_000);

  it("leaves a whole tarball to read while another build runs, as the end-to-end tests copy it", async () => {
    const sha256 = readFileSync(`${tarball}.sha256`, "utf8").split(" ")[0];
    let building = true;
    const build = new Promise<void>((resolve, reject) =>
      execFile("node", [path.join(appDir, "scripts/build.mjs")], (error) => {
        building = false;
        if (error) reject(error);
        else resolve();
      }),
    );
    const seen = new Set<string>();
    while (building) {
      seen.add(createHash("sha256").update(readFileSync(tarball)).digest("hex"));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await build;
    expect([...seen]).toEqual([sha256]);
    expect(readdirSync(path.dirname(tarball)).filter((name) => name.startsWith(".build-"))).toEqual([]);
  }, 120_000);

  it("runs on Debian's Node 18: two web nodes and a worker start at once, migrate once, and serve together", async () => {
    const dbUrl = await backends.mariadb.createDatabase(`megaweb_artifact_${process.pid}`);
    const [portA, portB] = [await freePort(), await freePort()];
    const env = { MEGAWEB_DB_URL: dbUrl, MEGAWEB_REDIS_URL: `${backends.redis.url}/3`, MEGAWEB_API_TOKEN: API_TOKEN, MEGAWEB_LOG_LEVEL: "warn" };
    const webA = start("web.js", { ...env, PORT: String(portA) });
    const webB = start("web.js", { ...env, PORT: String(portB) });
    const worker = start("worker.js", env);
    const health = async (port: number) => {
      const response = await fetch(`http://127.0.0.1:${port}/api/health`).catch(() => undefined);
      return response?.ok ? ((await response.json()) as { status: string; runtime: string }) : undefined;
    };
    const [healthA] = await Promise.all([
      eventually(`web A to answer (output: ${webA.output()})`, () => health(portA), 60_000),
      eventually(`web B to answer (output: ${webB.output()})`, () => health(portB), 60_000),
    ]);
    expect(healthA.runtime).toMatch(/^v18\./);

    const connection = await mysql.createConnection({ uri: dbUrl });
    const [migrations] = await connection.query<mysql.RowDataPacket[]>("SELECT version, COUNT(*) AS n FROM schema_migrations GROUP BY version");
    await connection.end();
    expect(migrations.map((row) => [row.version, Number(row.n)])).toEqual(
      readdirSync(path.join(appDir, "migrations")).map((file) => [file.replace(/\.sql$/, ""), 1]),
    );

    const call = async (port: number, route: string, method = "GET", body?: unknown) => {
      const response = await fetch(`http://127.0.0.1:${port}${route}`, {
        method,
        headers: { authorization: `Bearer ${API_TOKEN}`, ...(body ? { "content-type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, body: (await response.json()) as any };
    };
    const created = await call(portA, "/api/sessions", "POST", { url: "https://artifact.example" });
    expect(created.status).toBe(201);
    expect((await call(portB, `/api/sessions/${created.body.id}`)).body.url).toBe("https://artifact.example");
    await call(portB, `/api/sessions/${created.body.id}/scale`, "POST", { target_replicas: 12 });
    await eventually(`the worker to converge (output: ${worker.output()})`, async () => {
      const session = await call(portA, `/api/sessions/${created.body.id}`);
      return session.body.active_replica_count === 12 ? true : undefined;
    });
    expect(await (await fetch(`http://127.0.0.1:${portA}/`)).text()).toContain("<title>MegaWeb Orchestrator</title>");

    for (const process of [webA, webB, worker]) process.child.kill("SIGTERM");
    expect(await Promise.all([webA.exited, webB.exited, worker.exited])).toEqual([0, 0, 0]);
  }, 180_000);

  it("refuses a bad environment naming each variable, without echoing a secret", async () => {
    const web = start("web.js", { MEGAWEB_DB_URL: "postgres://x", MEGAWEB_API_TOKEN: "short-secret", MEGAWEB_CORS_ORIGINS: "ftp://a" });
    expect(await web.exited).toBe(1);
    expect(web.output()).toContain("MEGAWEB_DB_URL: must be mysql://user:password@host:port/database");
    expect(web.output()).toContain("MEGAWEB_API_TOKEN: must be at least 16 characters");
    expect(web.output()).toContain("MEGAWEB_REDIS_URL: set MEGAWEB_REDIS_URL or MEGAWEB_REDIS_SENTINELS");
    expect(web.output()).toMatch(/MEGAWEB_CORS_ORIGINS\[0\]: /);
    expect(web.output()).not.toContain("short-secret");
  });
});
