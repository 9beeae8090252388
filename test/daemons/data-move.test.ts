import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMariaDb, type MariaDbServer } from "../../app/test/support/backends";
import { type DatabaseMoveInput, renderDatabaseMove } from "../../lib/render/data-move";
import { renderTemplate } from "../../lib/render/template";
import { startLoad, summarize } from "../faults/measure";

/**
 * A site's database moved between two real MariaDB servers on loopback by the rendered step,
 * while a pooled client keeps inserting rows as the site's user on the old copy: every insert the
 * old copy acknowledged is on the new one, and the window without writes is measured.
 * `mariadb` and `mariadb-dump` reach the old server as root through the host's own client
 * defaults, as they do on a host (here a defaults file, on a host the root socket).
 */

let old: MariaDbServer;
let target: MariaDbServer;
let root: string;

const database = "shop";

function clientDefaults(url: string): string {
  const parsed = new URL(url);
  return [
    "[client]",
    `host=${parsed.hostname}`,
    `port=${parsed.port}`,
    `user=${decodeURIComponent(parsed.username)}`,
    `password=${decodeURIComponent(parsed.password)}`,
    "",
  ].join("\n");
}

function runStep(script: string, stdin: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      "bash",
      ["-c", [renderTemplate("provision/lib.sh", {}).replace(/^install -d -m 755 \/run\/lock\nexec 9>.*\nflock 9\n/m, ""), script].join("\n")],
      {
        env: { ...process.env, PATH: `${join(root, "bin")}:${process.env.PATH}` },
      },
    );
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.stdin.end(stdin);
    child.once("exit", (status) => resolve({ status, output }));
  });
}

beforeAll(async () => {
  [old, target] = await Promise.all([startMariaDb(), startMariaDb()]);
  root = mkdtempSync(join(tmpdir(), "megaweb-data-move-"));
  mkdirSync(join(root, "bin"));
  writeFileSync(join(root, "root.cnf"), clientDefaults(old.rootUrl), { mode: 0o600 });
  for (const [name, real] of [
    ["mariadb", "/usr/bin/mariadb"],
    ["mariadb-dump", "/usr/bin/mariadb-dump"],
  ] as const) {
    writeFileSync(
      join(root, "bin", name),
      `#!/bin/bash\ncase \${1:-} in --defaults-extra-file=*) exec ${real} "$@" ;; esac\nexec ${real} --defaults-extra-file=${root}/root.cnf "$@"\n`,
    );
    chmodSync(join(root, "bin", name), 0o755);
  }
  const url = await old.createDatabase(database);
  const connection = await mysql.createConnection({ uri: url });
  await connection.query("CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(64), created TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))");
  await connection.query("CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64))");
  await connection.query("INSERT INTO customers (name) VALUES ('ada'), ('grace'), ('linus')");
  await connection.end();
  await target.createDatabase(database);
  // Where the site's data is now, by the name the previous phase gave it.
  writeFileSync(join(root, ".env"), `DB_HOST=the-box\nDB_DATABASE=${database}\n`);
}, 120_000);

afterAll(async () => {
  await Promise.all([old?.stop(), target?.stop()]);
  if (root) rmSync(root, { recursive: true, force: true });
});

const move = (hostVariable: DatabaseMoveInput["hostVariable"] = "DB_HOST") => {
  const targetUrl = new URL(target.urlFor(database));
  return renderDatabaseMove({
    domain: "shop.example.com",
    database,
    user: "megaweb",
    envFile: join(root, ".env"),
    hostVariable,
    target: { host: "127.0.0.1", port: Number(targetUrl.port) },
    password: decodeURIComponent(targetUrl.password),
  });
};

describe("a site's database moved to the host the plan names", () => {
  it("loses no insert the old copy acknowledged while the move ran, and says how long writes were refused", async () => {
    const pool = mysql.createPool({ uri: old.urlFor(database), connectionLimit: 4 });
    let next = 0;
    const load = startLoad(
      async () => {
        const id = ++next;
        await pool.query("INSERT INTO orders (id, note) VALUES (?, ?)", [id, `order ${id}`]);
        return id;
      },
      { maxOperations: 100_000, maxSeconds: 20, concurrency: 4, pauseMs: 5, timeoutMs: 5000 },
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const rendered = move();
    const step = await runStep(rendered.script, rendered.stdin);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    load.stop();
    const record = await load.done;
    await pool.end();
    expect(step.status, step.output).toBe(0);
    const acknowledged = record.outcomes.filter((outcome) => outcome.ok).map((outcome) => outcome.value as number);
    const moved = await mysql.createConnection({ uri: target.urlFor(database) });
    const [rows] = await moved.query<mysql.RowDataPacket[]>("SELECT id FROM orders ORDER BY id");
    const [customers] = await moved.query<mysql.RowDataPacket[]>("SELECT name FROM customers ORDER BY id");
    await moved.end();
    const ids = new Set(rows.map((row) => Number(row.id)));
    const lost = acknowledged.filter((id) => !ids.has(id));
    const refused = record.outcomes.filter((outcome) => !outcome.ok);
    const firstRefused = Math.min(...refused.map((outcome) => outcome.startedMs));
    const figures = {
      inserts: record.outcomes.length,
      acknowledged: acknowledged.length,
      lost: lost.length,
      refused: refused.length,
      rowsOnNewCopy: ids.size,
      stepSays: /\(([^)]*)\)/.exec(step.output.split("\n").find((line) => line.includes("is on")) ?? "")?.[1],
      secondsFromFirstRefusedToEnd: refused.length > 0 ? (Math.max(...record.outcomes.map((outcome) => outcome.endedMs)) - firstRefused) / 1000 : 0,
      errors: summarize(record).errors,
    };
    console.log(`data move figures: ${JSON.stringify(figures)}`);
    expect(lost).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(50);
    expect(refused.length).toBeGreaterThan(0);
    expect(customers.map((row) => row.name)).toEqual(["ada", "grace", "linus"]);
  }, 120_000);

  it("moves nothing for a site with no .env yet, once the .env names the new host, and refuses to overwrite a copy that has tables", async () => {
    rmSync(join(root, ".env"));
    const fresh = await runStep(move().script, move().stdin);
    expect(fresh.status, fresh.output).toBe(0);
    expect(fresh.output).toContain("nothing to move");
    writeFileSync(join(root, ".env"), "DB_HOST=127.0.0.1\n");
    const again = await runStep(move().script, move().stdin);
    expect(again.status, again.output).toBe(0);
    expect(again.output).toContain("nothing to move");
    writeFileSync(join(root, ".env"), "DB_HOST=the-box\n");
    const refused = await runStep(move().script, move().stdin);
    expect(refused.status).toBe(1);
    expect(refused.output).toMatch(/has 2 tables already .* both copies are kept/);
  });

  it("reads where the app's data is from the host in its database URL", async () => {
    const appMove = move("MEGAWEB_DB_URL");
    writeFileSync(join(root, ".env"), "MEGAWEB_DB_URL=mysql://megaweb:p%40ss%2Fword@127.0.0.1:3306/shop?connectionLimit=10\n");
    const there = await runStep(appMove.script, appMove.stdin);
    expect(there.status, there.output).toBe(0);
    expect(there.output).toContain("nothing to move");
    writeFileSync(join(root, ".env"), "MEGAWEB_DB_URL=mysql://megaweb:p%40ss%2Fword@the-box:3306/shop\n");
    const elsewhere = await runStep(appMove.script, appMove.stdin);
    expect(elsewhere.status).toBe(1);
    expect(elsewhere.output).toMatch(/still names the-box; both copies are kept/);
  });
});
