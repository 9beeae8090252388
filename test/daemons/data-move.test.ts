import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMariaDb, type MariaDbServer } from "../../app/test/support/backends";
import { type DatabaseMoveInput, renderDatabaseForget, renderDatabaseMove } from "../../lib/render/data-move";
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

/** Runs a rendered step; its `mariadb` reaches the old server as root, unless `path` gives it other commands. */
function runStep(script: string, stdin: string, path = `${join(root, "bin")}:${process.env.PATH}`): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      "bash",
      ["-c", [renderTemplate("provision/lib.sh", {}).replace(/^install -d -m 755 \/run\/lock\nexec 9>.*\nflock 9\n/m, ""), script].join("\n")],
      {
        env: { ...process.env, PATH: path },
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

/** What the move and the forget of the site's database are rendered from; `on` is the server the plan names. */
const stepInput = (hostVariable: DatabaseMoveInput["hostVariable"] = "DB_HOST", on: MariaDbServer = target): DatabaseMoveInput => {
  const targetUrl = new URL(on.urlFor(database));
  return {
    domain: "shop.example.com",
    database,
    user: "megaweb",
    envFile: join(root, ".env"),
    hostVariable,
    target: { host: "127.0.0.1", port: Number(targetUrl.port) },
    password: decodeURIComponent(targetUrl.password),
    root,
  };
};
const move = (hostVariable?: DatabaseMoveInput["hostVariable"]) => renderDatabaseMove(stepInput(hostVariable));

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

/** The `orders` ids and the tables of the site's database on a server, as root; none when it has no such database. */
async function copyOn(server: MariaDbServer): Promise<{ orders: number[]; tables: string[] }> {
  const connection = await mysql.createConnection({ uri: server.rootUrl });
  try {
    const [tables] = await connection.query<mysql.RowDataPacket[]>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name",
      [database],
    );
    if (tables.length === 0) return { orders: [], tables: [] };
    const [orders] = await connection.query<mysql.RowDataPacket[]>(`SELECT id FROM \`${database}\`.orders ORDER BY id`);
    return { orders: orders.map((row) => Number(row.id)), tables: tables.map((row) => String(row.name)) };
  } finally {
    await connection.end();
  }
}

async function accountsOf(server: MariaDbServer, user: string): Promise<number> {
  const connection = await mysql.createConnection({ uri: server.rootUrl });
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM mysql.user WHERE User = ?", [user]);
    return Number(rows[0]!.n);
  } finally {
    await connection.end();
  }
}

async function asRoot(server: MariaDbServer, statement: string): Promise<void> {
  const connection = await mysql.createConnection({ uri: server.rootUrl });
  await connection.query(statement);
  await connection.end();
}

describe("the copy a move left, forgotten", () => {
  const forget = (hostVariable?: DatabaseMoveInput["hostVariable"], on?: MariaDbServer) => renderDatabaseForget(stepInput(hostVariable, on));
  const runForget = (hostVariable?: DatabaseMoveInput["hostVariable"], on?: MariaDbServer) => {
    const rendered = forget(hostVariable, on);
    return runStep(rendered.script, rendered.stdin);
  };
  let moved: { orders: number[]; tables: string[] };

  beforeAll(async () => {
    // The first test's move left both copies: every row of the old one is on the new one.
    moved = await copyOn(target);
    const kept = await copyOn(old);
    expect(kept.orders.length).toBeGreaterThan(50);
    expect(kept.orders.filter((id) => !moved.orders.includes(id))).toEqual([]);
  });

  it("keeps the old copy while the environment file still names the old host, a site's DB_HOST or the app's URL", async () => {
    writeFileSync(join(root, ".env"), "DB_HOST=the-box\n");
    const site = await runForget();
    expect(site.status, site.output).toBe(1);
    expect(site.output).toContain(
      `megaweb: shop.example.com: \`shop\` on this host is kept: ${join(root, ".env")} names the-box in DB_HOST, not 127.0.0.1, so its clients may still read this copy`,
    );
    writeFileSync(join(root, ".env"), "MEGAWEB_DB_URL=mysql://megaweb:p%40ss%2Fword@the-box:3306/shop\n");
    const app = await runForget("MEGAWEB_DB_URL");
    expect(app.status, app.output).toBe(1);
    expect(app.output).toContain("names the-box in MEGAWEB_DB_URL, not 127.0.0.1");
    rmSync(join(root, ".env"));
    const none = await runForget();
    expect(none.status, none.output).toBe(1);
    expect(none.output).toContain("names no host in DB_HOST");
    expect((await copyOn(old)).tables).toEqual(["customers", "orders"]);
  });

  it("keeps the old copy when the new one lacks one of its tables, or is the old one itself", async () => {
    writeFileSync(join(root, ".env"), "DB_HOST=127.0.0.1\n");
    await asRoot(old, `CREATE TABLE \`${database}\`.audit (id INT PRIMARY KEY)`);
    const missing = await runForget();
    await asRoot(old, `DROP TABLE \`${database}\`.audit`);
    expect(missing.status, missing.output).toBe(1);
    expect(missing.output).toContain("megaweb: shop.example.com: `shop` on this host is kept: 127.0.0.1 lacks 1 of its 3 tables (audit)");
    // Two roles given one address: the plan's MySQL host is this host's own server.
    const itself = await runForget("DB_HOST", old);
    expect(itself.status, itself.output).toBe(1);
    expect(itself.output).toContain("megaweb: shop.example.com: `shop` on this host is kept: 127.0.0.1 answers as this host's own MariaDB");
    const kept = await copyOn(old);
    expect(kept.tables).toEqual(["customers", "orders"]);
    expect(kept.orders.length).toBeGreaterThan(50);
  });

  it("keeps the old copy when the new host's MariaDB does not answer, naming no secret", async () => {
    const unreachable = { ...forget(), stdin: forget().stdin.replace(/^port=\d+$/m, "port=1") };
    const down = await runStep(unreachable.script, unreachable.stdin);
    expect(down.status, down.output).toBe(1);
    expect(down.output).toMatch(/`shop` on this host is kept: MariaDB on 127\.0\.0\.1 does not answer \(ERROR 2002 .*\)/);
    const wrongPassword = { ...forget(), stdin: forget().stdin.replace(/^password=.*$/m, "password=not-it") };
    const refused = await runStep(wrongPassword.script, wrongPassword.stdin);
    expect(refused.status, refused.output).toBe(1);
    expect(refused.output).toMatch(/does not answer \(ERROR 1045 .*Access denied for user '\.\.\.'@'\.\.\.'/);
    expect(refused.output).not.toContain(stepInput().password);
    expect((await copyOn(old)).tables).toEqual(["customers", "orders"]);
  });

  it("drops the old copy once its clients use the new one, which keeps every row; a second run has nothing to forget", async () => {
    writeFileSync(join(root, ".env"), "DB_HOST=127.0.0.1\n");
    const dropped = await runForget();
    expect(dropped.status, dropped.output).toBe(0);
    expect(dropped.output).toMatch(
      /megaweb: shop\.example\.com: dropped `shop` on this host \(2 tables, each also on 127\.0\.0\.1\) and [1-9] account\(s\) of megaweb; its data is on 127\.0\.0\.1 only/,
    );
    expect(await copyOn(old)).toEqual({ orders: [], tables: [] });
    // Its account went with it here, and stays on the new host.
    expect(await accountsOf(old, "megaweb")).toBe(0);
    expect(await accountsOf(target, "megaweb")).toBeGreaterThan(0);
    expect(await copyOn(target)).toEqual(moved);
    const again = await runForget();
    expect(again.status, again.output).toBe(0);
    expect(again.output).toContain("megaweb: shop.example.com: no `shop` on this host; nothing to forget");
    // A move run again after the forget has nothing to move either: the file names the new host.
    const moveAgain = await runStep(move().script, move().stdin);
    expect(moveAgain.status, moveAgain.output).toBe(0);
    expect(moveAgain.output).toContain("nothing to move");
  });

  it("has nothing to forget on a host without MariaDB or with the box's masked, and keeps what one whose MariaDB is down may hold", async () => {
    // The real client, pointed at a socket nothing listens on: the host's MariaDB is not running.
    mkdirSync(join(root, "down"));
    writeFileSync(join(root, "down", "mariadb"), `#!/bin/bash\nexec /usr/bin/mariadb --no-defaults --protocol=socket --socket=${root}/nothing.sock "$@"\n`, {
      mode: 0o755,
    });
    const rendered = forget();
    const withoutServer = await runStep(rendered.script, rendered.stdin, `${join(root, "down")}:/usr/bin:/bin`);
    expect(withoutServer.status, withoutServer.output).toBe(0);
    expect(withoutServer.output).toContain("megaweb: shop.example.com: no MariaDB on this host; nothing to forget");
    const serverDown = await runStep(rendered.script, rendered.stdin, `${join(root, "down")}:/usr/sbin:/usr/bin:/bin`);
    expect(serverDown.status, serverDown.output).toBe(1);
    expect(serverDown.output).toContain("megaweb: shop.example.com: `shop` on this host is kept: MariaDB is installed here but does not answer");
    // Masked, as the box's retirement leaves it once it held nothing: a site added later has nothing to forget.
    mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
    symlinkSync("/dev/null", join(root, "etc/systemd/system/mariadb.service"));
    const retired = await runStep(rendered.script, rendered.stdin, `${join(root, "down")}:/usr/sbin:/usr/bin:/bin`);
    rmSync(join(root, "etc"), { recursive: true });
    expect(retired.status, retired.output).toBe(0);
    expect(retired.output).toContain("megaweb: shop.example.com: this host's MariaDB was stopped once it held nothing; nothing to forget");
  });
});
