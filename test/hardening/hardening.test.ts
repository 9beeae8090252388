import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderHardening } from "../../lib/render/hardening";
import { removeRoot, scratchRoot } from "../daemons/harness";

/**
 * The hardening files, read by the tools that read them on a server: sysctl (inside a network
 * namespace of the test's own, so the machine's settings stay as they are), modprobe, fail2ban's
 * config test with the production jail (journal backend).
 */

const root = scratchRoot("hardening");
const namespace = `megaweb-sysctl-${process.pid}`;
const render = renderHardening({ trustedSources: ["203.0.113.0/24", "2001:db8::/48"], root });
const content = (suffix: string) => render.files.find((file) => file.path.endsWith(suffix))!.content;
for (const file of render.files) {
  mkdirSync(join(file.path, ".."), { recursive: true });
  writeFileSync(file.path, file.content);
}

afterAll(() => {
  spawnSync("ip", ["netns", "del", namespace]);
  removeRoot(root);
});

const settings = content("sysctl.d/90-megaweb.conf")
  .split("\n")
  .filter((line) => line !== "" && !line.startsWith("#"))
  .map((line) => {
    const [key, value] = line.split(" = ");
    return { optional: key!.startsWith("-"), key: key!.replace(/^-/, ""), value: value! };
  });

describe("the rendered hardening files", () => {
  it("name only kernel settings this kernel has, but for the ones marked optional", () => {
    const missing = settings.filter((setting) => !setting.optional && !existsSync(`/proc/sys/${setting.key.replace(/\./g, "/")}`));
    expect(missing).toEqual([]);
  });

  it("apply every per-network setting in a fresh network namespace, and read back", () => {
    execFileSync("ip", ["netns", "add", namespace]);
    const network = settings.filter((setting) => /^net\.ipv[46]\./.test(setting.key));
    expect(network.length).toBeGreaterThan(15);
    for (const { key, value } of network) {
      execFileSync("ip", ["netns", "exec", namespace, "sysctl", "-q", "-w", `${key}=${value}`]);
      expect(execFileSync("ip", ["netns", "exec", namespace, "sysctl", "-n", key], { encoding: "utf8" }).trim()).toBe(value);
    }
  });

  it("make modprobe refuse the protocols and storage a web host never loads", () => {
    const directory = join(root, "etc/modprobe.d");
    for (const module of ["dccp", "sctp", "rds", "tipc", "usb-storage", "firewire-core"]) {
      expect(execFileSync("modprobe", ["-n", "-v", "-C", directory, module], { encoding: "utf8" }).trim()).toBe("install /bin/false");
    }
  });

  it("pass fail2ban's config test with the jail as a server gets it (journal backend, nftables action)", () => {
    const confDir = join(root, "fail2ban-test");
    cpSync("/etc/fail2ban", confDir, { recursive: true });
    writeFileSync(join(confDir, "jail.local"), content("jail.local"));
    expect(execFileSync("fail2ban-client", ["-c", confDir, "-t"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })).toContain(
      "configuration test is successful",
    );
    expect(content("jail.local")).toContain("ignoreip = 127.0.0.1/32 ::1 203.0.113.0/24 2001:db8::/48");
  });

  it("turn core dumps off both ways and put up a login banner", () => {
    expect(content("limits.d/90-megaweb-core.conf")).toContain("* hard core 0");
    expect(content("coredump.conf.d/megaweb.conf")).toContain("Storage=none");
    expect(content("/etc/issue.net")).toContain("Authorized access only.");
  });
});
