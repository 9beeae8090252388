import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { createServer, request, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import { startDaemon, type Daemon } from "../daemons/harness";

/**
 * What the firing test needs around the rendered files: the daemons started the way Debian's
 * units start them (the rendered /etc/default ARGS), a webhook receiver that records when each
 * notice arrives, and Redis servers that can be stopped and started again on their port.
 */

/**
 * `count` ports free on loopback, below the kernel's ephemeral range (32768 and up), so the ports
 * other daemons and tests pick with port 0 while this test starts its own never take them.
 */
export async function portsBelowEphemeral(count: number): Promise<number[]> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createNetServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
  const ports: number[] = [];
  for (let port = 20_000 + Math.floor(Math.random() * 10_000); ports.length < count && port < 32_768; port++) {
    if (await free(port)) ports.push(port);
  }
  if (ports.length < count) throw new Error(`fewer than ${count} free loopback ports below 32768`);
  return ports;
}

/** `ARGS="…"` of a rendered /etc/default file, split the way systemd splits `$ARGS`. */
export function defaultsArgs(content: string): string[] {
  const line = content.split("\n").find((candidate) => candidate.startsWith("ARGS="));
  if (line === undefined) throw new Error(`no ARGS= line in:\n${content}`);
  const value = /^ARGS="(.*)"$/.exec(line)![1]!;
  // systemd would need these escaped; the renderers never produce them.
  if (/["'\\]/.test(value)) throw new Error(`ARGS holds quoting systemd would read differently: ${value}`);
  return value.split(" ").filter((word) => word !== "");
}

/** `KEY=value` lines of a rendered /etc/default file (mtail's). */
export function defaultsValues(content: string): Record<string, string> {
  return Object.fromEntries(
    content
      .split("\n")
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

export function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    // An answer that starts and then stalls counts as none.
    req.setTimeout(5_000, () => req.destroy(new Error(`${url} timed out`)));
    req.end();
  });
}

/** One HTTPS request to a site on loopback, by its name (SNI and Host); any certificate is taken. */
export function httpsStatus(port: number, servername: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, path, servername, headers: { Host: servername }, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(5_000, () => req.destroy(new Error(`https://${servername}${path} timed out`)));
    req.end();
  });
}

const answers = (url: string) => async () => {
  try {
    return (await httpGet(url)).status === 200;
  } catch {
    return false;
  }
};

/** Starts a daemon and waits until `readyUrl` answers 200. */
export function startServing(command: string, args: string[], readyUrl: string): Promise<Daemon> {
  return startDaemon(command, args, { check: answers(readyUrl), awaited: `${readyUrl} answering 200` });
}

export interface Notice {
  readonly status: "firing" | "resolved";
  readonly labels: Record<string, string>;
  readonly at: number;
}

/** An Alertmanager webhook receiver (on loopback, or the bridge address local machines reach) that keeps every alert of every notice it gets. */
export class WebhookReceiver {
  readonly notices: Notice[] = [];
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(address = "127.0.0.1"): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        const at = Date.now();
        const payload = JSON.parse(body) as { alerts: { status: Notice["status"]; labels: Record<string, string> }[] };
        for (const alert of payload.alerts) receiver!.notices.push({ status: alert.status, labels: alert.labels, at });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, address, resolve));
    const { port } = server.address() as { port: number };
    receiver = new WebhookReceiver(server, `http://${address}:${port}/alerts`);
    return receiver;
  }

  /**
   * Waits until a notice with `status` for an alert matching `labels` arrives after `since`;
   * returns the seconds it took. Bounded by `timeoutMs`.
   */
  async arrival(labels: Record<string, string>, status: Notice["status"], since: number, timeoutMs = 45_000): Promise<number> {
    const deadline = since + timeoutMs;
    for (;;) {
      const notice = this.notices.find(
        (candidate) => candidate.at >= since && candidate.status === status && Object.entries(labels).every(([key, value]) => candidate.labels[key] === value),
      );
      if (notice !== undefined) return (notice.at - since) / 1000;
      if (Date.now() > deadline) {
        const seen = this.notices.map((candidate) => `${candidate.status} ${JSON.stringify(candidate.labels)}`).join("\n");
        throw new Error(`no ${status} notice for ${JSON.stringify(labels)} within ${timeoutMs / 1000} s; notices so far:\n${seen}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A Redis server or Sentinel on a fixed loopback port, so it can be killed and started again
 * where its exporter and replicas expect it. Passwords sit in its config file, never on a
 * command line.
 */
export class RestartableRedis {
  private daemon: Daemon | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly sentinel: boolean,
    readonly password?: string,
  ) {}

  static server(port: number, password: string, dir: string, replicaOf?: number): RestartableRedis {
    const server = new RestartableRedis(port, dir, false, password);
    server.writeConfig([
      "save ''",
      "appendonly no",
      `requirepass ${password}`,
      `masterauth ${password}`,
      ...(replicaOf === undefined ? [] : [`replicaof 127.0.0.1 ${replicaOf}`]),
    ]);
    return server;
  }

  /** A Sentinel watching `primary` as `megaweb`, quorum 1. */
  static watching(port: number, dir: string, primary: RestartableRedis): RestartableRedis {
    const sentinel = new RestartableRedis(port, dir, true);
    sentinel.writeConfig([`sentinel monitor megaweb 127.0.0.1 ${primary.port} 1`, `sentinel auth-pass megaweb ${primary.password}`]);
    return sentinel;
  }

  private writeConfig(lines: string[]): void {
    mkdirSync(this.dir, { recursive: true });
    const common = [`port ${this.port}`, "bind 127.0.0.1", `dir ${this.dir}`, "daemonize no", `logfile ${this.dir}/redis.log`];
    writeFileSync(join(this.dir, "redis.conf"), `${[...common, ...lines].join("\n")}\n`, { mode: 0o600 });
  }

  async start(): Promise<void> {
    // Sentinel rewrites its config file as it learns the topology; it stays in the same place.
    const args = [join(this.dir, "redis.conf"), ...(this.sentinel ? ["--sentinel"] : [])];
    this.daemon = await startDaemon("redis-server", args, { check: () => this.cli("PING") === "PONG", awaited: `PONG on ${this.port}` });
  }

  /** One command through redis-cli, the password in its environment (never on a command line). */
  cli(...command: string[]): string {
    try {
      return execFileSync("redis-cli", ["-h", "127.0.0.1", "-p", String(this.port), ...command], {
        encoding: "utf8",
        env: { ...process.env, ...(this.password !== undefined && { REDISCLI_AUTH: this.password }) },
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    } catch {
      return "";
    }
  }

  /** SIGKILL, as a crash. */
  async kill(): Promise<void> {
    const daemon = this.daemon;
    this.daemon = undefined;
    if (daemon === undefined) return;
    process.kill(daemon.pid, "SIGKILL");
    await daemon.stop();
  }

  async stop(): Promise<void> {
    await this.daemon?.stop();
    this.daemon = undefined;
  }
}

/**
 * node_exporter in a mount and PID namespace of its own, with a small ext4 filesystem (a loop
 * image) mounted there: filling that disk touches nothing of the machine's, and the mount goes
 * away with the namespace. node_exporter reads /proc/1/mounts, so it runs as PID 1 there.
 */
export async function startNodeExporterWithDisk(
  args: string[],
  image: string,
  mountPoint: string,
  readyUrl: string,
): Promise<{ daemon: Daemon; diskPath: string }> {
  execFileSync("truncate", ["-s", "48M", image]);
  execFileSync("mkfs.ext4", ["-q", "-F", image]);
  mkdirSync(mountPoint, { recursive: true });
  const script = `mount -o loop "$1" "$2" && shift 2 && exec prometheus-node-exporter "$@"`;
  const unshare = await startServing(
    "unshare",
    ["--mount", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", script, "sh", image, mountPoint, ...args],
    readyUrl,
  );
  // unshare --fork ignores SIGTERM while it waits, so the exporter (its one child) is the one stopped.
  const exporterPid = Number(readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, "utf8").trim());
  const daemon: Daemon = {
    pid: exporterPid,
    async stop() {
      try {
        process.kill(exporterPid, "SIGTERM");
      } catch {
        // Already gone.
      }
      await unshare.stop();
    },
  };
  // unshare itself joined the new mount namespace before forking, so its root shows the mount.
  return { daemon, diskPath: `/proc/${unshare.pid}/root${mountPoint}` };
}
