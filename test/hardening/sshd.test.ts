import { execFileSync, type ExecFileSyncOptions } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Audit, sshAudit } from "./ssh-audit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderSshd } from "../../lib/render/sshd";
import { freePort, removeRoot, scratchRoot, startDaemon, type Daemon } from "../daemons/harness";

/**
 * The rendered sshd drop-in on a real sshd, on a loopback port, with host keys made the way a
 * Debian host makes them (`ssh-keygen -A`: RSA, ECDSA and Ed25519): ssh-audit grades it, OpenSSH's
 * client and Go's (the command provider's library, at the provider's pinned version) log in.
 * Debian's stock configuration is graded beside it for the before/after figures.
 */

const repo = join(__dirname, "../..");
let root: string;
const daemons: Daemon[] = [];

const audit = (port: number): Audit => sshAudit("127.0.0.1", port);

/** Debian's own sshd_config, its Include pointed at the scratch tree, on a loopback port. */
async function startSshd(name: string, dropIn: string | undefined, hostKeys: string[]): Promise<number> {
  const dir = join(root, name);
  mkdirSync(join(dir, "sshd_config.d"), { recursive: true });
  if (dropIn !== undefined) writeFileSync(join(dir, "sshd_config.d/50-megaweb.conf"), dropIn);
  const port = await freePort();
  const debian = readFileSync("/usr/share/openssh/sshd_config", "utf8").replace("Include /etc/ssh/sshd_config.d/*.conf", `Include ${dir}/sshd_config.d/*.conf`);
  writeFileSync(
    join(dir, "sshd_config"),
    [
      debian,
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      ...hostKeys.map((key) => `HostKey ${key}`),
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${root}/authorized_keys`,
      // The scratch tree's modes are not a home directory's.
      "StrictModes no",
      "",
    ].join("\n"),
  );
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  execFileSync("/usr/sbin/sshd", ["-t", "-f", join(dir, "sshd_config")]);
  daemons.push(
    await startDaemon("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], {
      check: () => existsSync(join(dir, "sshd.pid")),
      awaited: `${dir}/sshd.pid`,
    }),
  );
  return port;
}

let stockPort: number;
let megawebPort: number;

beforeAll(async () => {
  root = scratchRoot("sshd");
  // As on a fresh Debian host: every default host key type.
  mkdirSync(join(root, "etc/ssh"), { recursive: true });
  execFileSync("ssh-keygen", ["-A", "-f", root]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(root, "client_key")]);
  copyFileSync(join(root, "client_key.pub"), join(root, "authorized_keys"));
  const keys = ["rsa", "ecdsa", "ed25519"].map((type) => join(root, `etc/ssh/ssh_host_${type}_key`));
  stockPort = await startSshd("stock", undefined, keys);
  // Debian's sshd_config names no HostKey, so sshd offers every key present; the drop-in names one.
  megawebPort = await startSshd("megaweb", renderSshd(root).content, []);
});

afterAll(async () => {
  for (const daemon of daemons) await daemon.stop();
  removeRoot(root);
});

describe("the rendered sshd drop-in, graded by ssh-audit on a real sshd", () => {
  it("leaves Debian's stock sshd with failures and warnings to compare against", () => {
    const stock = audit(stockPort);
    console.log(`ssh-audit of Debian 12's stock sshd: ${stock.fail.length} fail, ${stock.warn.length} warn`);
    expect(stock.fail.length).toBeGreaterThan(0);
  });

  it("has no failure and no warning", () => {
    const graded = audit(megawebPort);
    console.log(`ssh-audit of the megaweb drop-in: ${graded.fail.length} fail, ${graded.warn.length} warn`, graded.warn);
    expect(graded.fail).toEqual([]);
    expect(graded.warn).toEqual([]);
  });

  it("offers only the Ed25519 host key", () => {
    const scanned = execFileSync("ssh-keyscan", ["-p", String(megawebPort), "127.0.0.1"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    expect(
      scanned
        .trim()
        .split("\n")
        .map((line) => line.split(" ")[1]),
    ).toEqual(["ssh-ed25519"]);
  });

  it("lets OpenSSH's client in with a key and refuses a password", () => {
    const ssh = (extra: string[]) =>
      execFileSync(
        "ssh",
        [
          "-p",
          String(megawebPort),
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "BatchMode=yes",
          ...extra,
          "root@127.0.0.1",
          "echo in",
        ],
        {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
    expect(ssh(["-i", join(root, "client_key")]).trim()).toBe("in");
    expect(() => ssh(["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password"])).toThrow(/Permission denied/);
  });

  it("lets Go's x/crypto/ssh in with its default algorithms, at the command provider's version", () => {
    // The provider's module files, from the copy scripts/setup/30-engine.sh built it from, or its upstream source.
    const providerSource = [
      join(process.env.MEGAWEB_CACHE ?? "/var/cache/megaweb", "src/pulumi-command-v1.2.1/provider"),
      join(process.env.MEGAWEB_UPSTREAM ?? join(repo, "../shared/upstream"), "pulumi-command-v1.2.1/provider"),
    ].find((dir) => existsSync(join(dir, "go.mod")))!;
    const providerGoMod = readFileSync(join(providerSource, "go.mod"), "utf8");
    const version = /golang\.org\/x\/crypto (v\S+)/.exec(providerGoMod)![1];
    const build = join(root, "go-ssh-client");
    mkdirSync(build, { recursive: true });
    copyFileSync(join(__dirname, "go-ssh-client/main.go"), join(build, "main.go"));
    copyFileSync(join(providerSource, "go.sum"), join(build, "go.sum"));
    writeFileSync(join(build, "go.mod"), `module megaweb/go-ssh-client\n\ngo 1.22\n\nrequire golang.org/x/crypto ${version}\n`);
    // The engine build's module cache holds that version; elsewhere the Go module proxy serves it.
    const moduleCache = join(process.env.MEGAWEB_CACHE ?? "/var/cache/megaweb", "go/mod");
    const options: ExecFileSyncOptions = {
      cwd: build,
      encoding: "utf8",
      // Where scripts/setup/30-engine.sh finds Go when it is not on PATH.
      env: { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin`, GOFLAGS: "-mod=mod", ...(existsSync(moduleCache) && { GOMODCACHE: moduleCache }) },
      stdio: ["ignore", "pipe", "pipe"],
    };
    execFileSync("nice", ["go", "build", "-o", "client", "."], options);
    const answer = execFileSync(join(build, "client"), [`127.0.0.1:${megawebPort}`, join(root, "client_key")], options);
    expect(String(answer).trim()).toBe("connected, host key ssh-ed25519");
  }, 300_000);
});
