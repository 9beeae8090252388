import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A throw-away sshd on loopback that lets one generated key in as root, for remote command tests. */
export class LoopbackSshd {
  private constructor(
    private readonly dir: string,
    private readonly daemon: ChildProcess,
    readonly port: number,
    readonly privateKey: string,
    /** Its host key as a known_hosts entry takes it: `ssh-ed25519 AAAA…`. */
    readonly hostKey: string,
  ) {}

  static async start(): Promise<LoopbackSshd> {
    const dir = await mkdtemp(join(tmpdir(), "megaweb-sshd-"));
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
    await writeFile(join(dir, "authorized_keys"), await readFile(join(dir, "client_key.pub")), { mode: 0o600 });
    const port = await freePort();
    await writeFile(
      join(dir, "sshd_config"),
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${join(dir, "host_key")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        // The key files live in a temp dir whose modes sshd's owner checks would reject.
        "StrictModes no",
        // CopyToRemote writes over SFTP, as on any Debian host.
        "Subsystem sftp internal-sftp",
      ].join("\n") + "\n",
    );
    // sshd refuses to start without its privilege separation directory.
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    const daemon = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    daemon.stderr?.on("data", (chunk) => (log += chunk));
    await waitForPort(port, () => (daemon.exitCode !== null ? `sshd exited: ${log}` : undefined));
    const hostKey = (await readFile(join(dir, "host_key.pub"), "utf8")).split(" ").slice(0, 2).join(" ");
    return new LoopbackSshd(dir, daemon, port, await readFile(join(dir, "client_key"), "utf8"), hostKey);
  }

  async stop(): Promise<void> {
    if (this.daemon.exitCode === null) {
      const exited = new Promise((resolve) => this.daemon.once("exit", resolve));
      this.daemon.kill("SIGTERM");
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

async function waitForPort(port: number, failure: () => string | undefined): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const reason = failure();
    if (reason) throw new Error(reason);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`sshd did not listen on 127.0.0.1:${port} within 10 s`);
}
