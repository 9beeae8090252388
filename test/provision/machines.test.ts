import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Machine, machineSetName } from "../e2e/local-stack";

/** scripts/machines.sh for real: two nspawn machines on their own bridge, then nothing left behind. */

const repo = join(__dirname, "..", "..");
const machineSet = machineSetName("mtest");

function machines(...args: string[]) {
  const result = spawnSync("bash", ["scripts/machines.sh", ...args, "--set", machineSet], { cwd: repo, encoding: "utf8", timeout: 600_000 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function sh(command: string): string {
  return spawnSync("bash", ["-c", command], { encoding: "utf8" }).stdout;
}

/** An exited process may stay a zombie until init reaps it; that is not running. */
function running(pid: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "")[0] !== "Z";
  } catch {
    return false;
  }
}

interface HostsFile {
  subnet: string;
  privateKeyPath: string;
  machines: { name: string; address: string; port: number; user: string }[];
}

describe.runIf(process.getuid?.() === 0)("local machines", () => {
  afterAll(() => {
    machines("down");
  }, 120_000);

  it("boots two machines on a bridge in 198.18.0.0/15 that answer SSH with their own host keys", () => {
    machines("down");
    const up = machines("up", "--count", "2");
    expect(up.status, up.stderr).toBe(0);
    const hosts = JSON.parse(up.stdout) as HostsFile;
    expect(hosts.subnet).toMatch(/^198\.1[89]\.\d+\.0\/24$/);
    expect(hosts.machines.map((machine) => machine.name)).toEqual([`${machineSet}-1`, `${machineSet}-2`]);
    const hostKeys = hosts.machines.map((machine) => {
      const ssh = spawnSync(
        "ssh",
        new Machine(machine.address, hosts.privateKeyPath).sshArguments(
          "hostname; cat /etc/ssh/ssh_host_ed25519_key.pub; grep -c security /etc/apt/sources.list",
        ),
        { encoding: "utf8", timeout: 30_000 },
      );
      expect(ssh.status, ssh.stderr).toBe(0);
      const [hostname, hostKey, securitySources] = ssh.stdout.trim().split("\n");
      expect(hostname).toBe(machine.name);
      expect(securitySources).toBe("1");
      return hostKey;
    });
    expect(new Set(hostKeys).size).toBe(2);
  }, 600_000);

  it("refuses a second set of the same name and bad arguments before touching anything", () => {
    expect(machines("up").stderr).toContain(`set "${machineSet}" exists already`);
    const badCount = spawnSync("bash", ["scripts/machines.sh", "up", "--set", "other", "--count", "0"], { cwd: repo, encoding: "utf8" });
    expect(badCount.stderr).toContain('--count: "0" must be a number from 1 to 99');
    const badName = spawnSync("bash", ["scripts/machines.sh", "up", "--set", "Bad_Name"], { cwd: repo, encoding: "utf8" });
    expect(badName.stderr).toContain('--set: "Bad_Name" must be 1-11 lower-case letters and digits');
    expect(existsSync("/var/lib/megaweb/machines/other")).toBe(false);
  });

  it("takes down the machines, their bridge, nftables table and directories, and only its own processes", () => {
    const pids = [1, 2]
      .map((index) => `${machineSet}-${index}`)
      .map((name) => readFileSync(`/var/lib/megaweb/machines/${machineSet}/${name}/nspawn.pid`, "utf8").trim());
    const down = machines("down");
    expect(down.status, down.stderr).toBe(0);
    for (const pid of pids) expect(running(pid), `machine process ${pid}`).toBe(false);
    expect(sh(`ip -o link show mw-${machineSet} 2>/dev/null`)).toBe("");
    expect(sh(`nft list tables`)).not.toContain(`megaweb-${machineSet}`);
    expect(existsSync(`/var/lib/megaweb/machines/${machineSet}`)).toBe(false);
    expect(machines("down").status).toBe(0);
  }, 120_000);
});
