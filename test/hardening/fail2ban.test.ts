import { execFileSync, spawn, spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderHardening } from "../../lib/render/hardening";
import { renderSshd } from "../../lib/render/sshd";
import { removeRoot, scratchRoot, startDaemon, type Daemon } from "../daemons/harness";

/**
 * A brute force against SSH, banned for real: sshd with the rendered drop-in and fail2ban with the
 * rendered jail run in a network namespace of their own (fail2ban's nftables table lands there,
 * not on the machine), an attacker tries wrong keys from 127.0.0.2, and the host's own address
 * keeps getting in. Two settings differ from a server, because this machine has no journal: the
 * jail reads sshd's log from a file (backend polling), which the test writes with syslog's prefix.
 */

const namespace = `megaweb-f2b-${process.pid}`;
const sshPort = 2222;
let root: string;
const daemons: Daemon[] = [];
let sshdLog: string;

const inNamespace = (command: string, args: string[]) => ["netns", "exec", namespace, command, ...args];

function syslogDate(date: Date): string {
  const month = date.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
  return `${month} ${String(date.getUTCDate()).padStart(2, " ")} ${date.toISOString().slice(11, 19)}`;
}

/** One SSH login attempt from `source`; true when it got in. */
function login(source: string, key: string): { in: boolean; output: string } {
  const result = spawnSync(
    "ip",
    inNamespace("ssh", [
      "-b",
      source,
      "-p",
      String(sshPort),
      "-i",
      key,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=3",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "root@127.0.0.1",
      "echo in",
    ]),
    { encoding: "utf8", timeout: 15_000 },
  );
  return { in: result.stdout.trim() === "in", output: `${result.stdout}${result.stderr}` };
}

function fail2banClient(...args: string[]): string {
  return execFileSync("ip", inNamespace("fail2ban-client", ["-c", join(root, "fail2ban"), ...args]), { encoding: "utf8" });
}

beforeAll(async () => {
  root = scratchRoot("fail2ban");
  execFileSync("ip", ["netns", "add", namespace]);
  execFileSync("ip", inNamespace("ip", ["link", "set", "lo", "up"]));

  mkdirSync(join(root, "etc/ssh"), { recursive: true });
  execFileSync("ssh-keygen", ["-A", "-f", root]);
  for (const name of ["client_key", "attacker_key"]) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(root, name)]);
  copyFileSync(join(root, "client_key.pub"), join(root, "authorized_keys"));
  const sshd = renderSshd(root);
  mkdirSync(join(root, "etc/ssh/sshd_config.d"), { recursive: true });
  writeFileSync(sshd.path, sshd.content);
  writeFileSync(
    join(root, "sshd_config"),
    [
      `Include ${root}/etc/ssh/sshd_config.d/*.conf`,
      `Port ${sshPort}`,
      "ListenAddress 127.0.0.1",
      `PidFile ${root}/sshd.pid`,
      `AuthorizedKeysFile ${root}/authorized_keys`,
      "StrictModes no",
      "UsePAM no",
      "",
    ].join("\n"),
  );

  // fail2ban's own configuration from Debian, the rendered jail, and the two test settings.
  const confDir = join(root, "fail2ban");
  cpSync("/etc/fail2ban", confDir, { recursive: true });
  const jail = renderHardening({ trustedSources: ["198.51.100.0/24"], sshPort, root: confDir.slice(0, -"/fail2ban".length) }).files.find((file) =>
    file.path.endsWith("jail.local"),
  )!;
  writeFileSync(join(confDir, "jail.local"), jail.content);
  sshdLog = join(root, "auth.log");
  writeFileSync(sshdLog, "");
  writeFileSync(join(confDir, "jail.d/zz-no-journal.local"), `[DEFAULT]\nbackend = polling\n\n[sshd]\nlogpath = ${sshdLog}\n`);
  writeFileSync(
    join(confDir, "fail2ban.local"),
    `[Definition]\nlogtarget = ${root}/fail2ban.log\nsocket = ${root}/fail2ban.sock\npidfile = ${root}/fail2ban.pid\ndbfile = ${root}/fail2ban.sqlite3\n`,
  );

  daemons.push(
    await startDaemon("ip", inNamespace("fail2ban-server", ["-f", "-x", "-c", confDir]), {
      check: () => existsSync(join(root, "fail2ban.sock")) && spawnSync("ip", inNamespace("fail2ban-client", ["-c", confDir, "status", "sshd"])).status === 0,
      awaited: "the sshd jail answering",
    }),
  );

  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  // sshd -e logs to stderr; written here with syslog's prefix, as the journal would give it to fail2ban.
  const daemon = spawn("ip", inNamespace("/usr/sbin/sshd", ["-D", "-e", "-f", join(root, "sshd_config")]), { stdio: ["ignore", "ignore", "pipe"] });
  let partial = "";
  daemon.stderr!.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop()!;
    for (const line of lines) appendFileSync(sshdLog, `${syslogDate(new Date())} megaweb sshd[${daemon.pid}]: ${line}\n`);
  });
  daemons.push({
    pid: daemon.pid!,
    stop: async () => {
      if (daemon.exitCode !== null) return;
      const exited = new Promise((resolve) => daemon.once("exit", resolve));
      daemon.kill("SIGTERM");
      await exited;
    },
  });
  const deadline = Date.now() + 10_000;
  while (!existsSync(join(root, "sshd.pid")) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
}, 60_000);

afterAll(async () => {
  for (const daemon of daemons.reverse()) await daemon.stop();
  spawnSync("ip", ["netns", "del", namespace]);
  removeRoot(root);
});

describe("fail2ban with the rendered jail, against a brute force on a real sshd", () => {
  it("lets four failed logins pass, bans the fifth's source in its own nftables table, and keeps letting the right key in from elsewhere", async () => {
    const banned = (source: string) => fail2banClient("status", "sshd").includes(source);
    const waitForBan = async (source: string, ms: number) => {
      const deadline = Date.now() + ms;
      while (!banned(source) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
      return banned(source);
    };
    expect(login("127.0.0.1", join(root, "client_key")).in).toBe(true);

    // Below maxretry: four wrong keys, and a few polls later still no ban.
    for (let attempt = 0; attempt < 4; attempt++) expect(login("127.0.0.3", join(root, "attacker_key")).in).toBe(false);
    expect(await waitForBan("127.0.0.3", 3_000)).toBe(false);

    // The fifth failure bans; bounded at 10 s.
    for (let attempt = 0; attempt < 5; attempt++) expect(login("127.0.0.2", join(root, "attacker_key")).in).toBe(false);
    const fifth = Date.now();
    expect(await waitForBan("127.0.0.2", 10_000)).toBe(true);
    console.log(`fail2ban banned 127.0.0.2 ${(Date.now() - fifth) / 1000} s after its fifth failed login`);
    // fail2ban reports the ban as it starts its action; the nftables element follows (bounded 5 s).
    const inTable = () => execFileSync("ip", inNamespace("nft", ["list", "table", "inet", "f2b-table"]), { encoding: "utf8" }).includes("127.0.0.2");
    const tableDeadline = Date.now() + 5_000;
    while (!inTable() && Date.now() < tableDeadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(inTable()).toBe(true);

    // Banned: even the right key no longer reaches sshd from there; the host's own address still does.
    const fromBanned = login("127.0.0.2", join(root, "client_key"));
    expect(fromBanned.in).toBe(false);
    expect(fromBanned.output).toMatch(/timed out|Connection refused|Connection closed/);
    expect(login("127.0.0.1", join(root, "client_key")).in).toBe(true);
  }, 120_000);

  it("never bans the host itself or the admin networks", () => {
    const ignored = fail2banClient("get", "sshd", "ignoreip");
    expect(ignored).toContain("127.0.0.1");
    expect(ignored).toContain("198.51.100.0/24");
  });

  it("reads failures the way sshd logs them on a server (the aggressive filter, VERBOSE log level)", () => {
    const log = readFileSync(sshdLog, "utf8");
    expect(log).toMatch(/Failed publickey for root from 127\.0\.0\.2/);
  });
});
