import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { putFiles } from "../../lib/steps/script";
import { renderRedisReplication, renderSentinel, type RedisReplicationRender, type SentinelRender } from "../../lib/render/redis-replication";
import { renderTemplate } from "../../lib/render/template";
import { hostCommands } from "../daemons/host-commands";
import { scratchRoot, startDaemon, type Daemon } from "../daemons/harness";

/**
 * Redis servers and Sentinels on loopback, each with its own file tree, provisioned by the rendered
 * step scripts (shared helpers included, `systemctl` standing in for systemd). A server's redis.conf
 * is Debian's, with the paths and port of the tree, and the password include the Redis step writes.
 */

export const masterName = "megaweb";

export interface RedisInstance {
  readonly index: number;
  readonly port: number;
  readonly root: string;
  readonly render: RedisReplicationRender;
  daemon?: Daemon;
}

export interface SentinelInstance {
  readonly index: number;
  readonly port: number;
  readonly root: string;
  readonly render: SentinelRender;
}

export class RedisCluster {
  readonly servers: RedisInstance[] = [];
  readonly sentinels: SentinelInstance[] = [];

  constructor(
    readonly password: string,
    readonly sentinelPassword: string,
  ) {}

  static async start(serverPorts: readonly number[], sentinelPorts: readonly number[], password: string, sentinelPassword: string): Promise<RedisCluster> {
    const cluster = new RedisCluster(password, sentinelPassword);
    const servers = serverPorts.map((port) => ({ host: "127.0.0.1", port }));
    const sentinels = sentinelPorts.map((port) => ({ host: "127.0.0.1", port }));
    for (const [index, port] of serverPorts.entries()) {
      const root = scratchRoot(`redis-${index + 1}`);
      for (const dir of ["etc/redis/megaweb.d", "var/lib/redis", "var/log/redis", "run/redis"]) mkdirSync(join(root, dir), { recursive: true });
      const debian = readFileSync("/etc/redis/redis.conf", "utf8")
        .replace(/^port .*$/m, `port ${port}`)
        .replace(/^bind .*$/m, "bind 127.0.0.1")
        .replace(/^daemonize .*$/m, "daemonize no")
        .replace(/^pidfile .*$/m, `pidfile ${root}/run/redis/redis-server.pid`)
        .replace(/^logfile .*$/m, `logfile ${root}/var/log/redis/redis-server.log`)
        .replace(/^dir .*$/m, `dir ${root}/var/lib/redis`);
      // What the Redis step writes before replication: the password include, last in redis.conf.
      writeFileSync(join(root, "etc/redis/megaweb.d/secrets.conf"), `requirepass ${password}\n`);
      writeFileSync(join(root, "etc/redis/redis.conf"), `${debian}include ${root}/etc/redis/megaweb.d/secrets.conf\n`);
      const render = renderRedisReplication({ servers, index, sentinels, masterName, password, sentinelPassword, root });
      cluster.servers.push({ index, port, root, render });
    }
    for (const [index, port] of sentinelPorts.entries()) {
      const root = scratchRoot(`sentinel-${index + 1}`);
      for (const dir of ["etc/redis", "var/lib/redis", "var/log/redis", "run/sentinel"]) mkdirSync(join(root, dir), { recursive: true });
      const render = renderSentinel({ sentinels, index, servers, masterName, quorum: 2, bindAddresses: ["127.0.0.1"], password, sentinelPassword, root });
      cluster.sentinels.push({ index, port, root, render });
    }
    await Promise.all(cluster.servers.map((server) => cluster.startServer(server)));
    return cluster;
  }

  /** redis-server on the tree's redis.conf, in the foreground of a child process. */
  async startServer(server: RedisInstance): Promise<void> {
    const client = this.client(server);
    server.daemon = await startDaemon("redis-server", [join(server.root, "etc/redis/redis.conf")], {
      check: () =>
        client.ping().then(
          (answer) => answer === "PONG",
          () => false,
        ),
      awaited: `redis-server ${server.index + 1} answering PING`,
    });
    client.disconnect();
  }

  killServer(server: RedisInstance): void {
    process.kill(server.daemon!.pid, "SIGKILL");
  }

  /** A client of one server, as root of the cluster (the password). */
  client(server: RedisInstance): Redis {
    const client = new Redis({ port: server.port, host: "127.0.0.1", password: this.password, lazyConnect: false, maxRetriesPerRequest: 1 });
    client.on("error", () => undefined);
    return client;
  }

  sentinelClient(sentinel: SentinelInstance): Redis {
    const client = new Redis({ port: sentinel.port, host: "127.0.0.1", password: this.sentinelPassword, maxRetriesPerRequest: 1 });
    client.on("error", () => undefined);
    return client;
  }

  runRedisStep(server: RedisInstance): Promise<string> {
    const script = [renderTemplate("provision/lib.sh", {}), server.render.step(putFiles)].join("\n");
    return runScript(script, server.render.stdin, hostCommands(server.root, {}).env, `the Redis step on server ${server.index + 1}`);
  }

  runSentinelStep(sentinel: SentinelInstance): Promise<string> {
    const pidFile = join(sentinel.root, "run/sentinel/redis-sentinel.pid");
    // What the redis-sentinel unit runs; started by systemd it would hold none of the step's descriptors (its lock on fd 9).
    const start = `redis-server ${sentinel.root}/etc/redis/sentinel.conf --sentinel --daemonize yes </dev/null >/dev/null 2>&1 9>&-`;
    const commands = hostCommands(sentinel.root, { "redis-sentinel": { pidFile, start } });
    const script = [renderTemplate("provision/lib.sh", {}), sentinel.render.step].join("\n");
    return runScript(script, sentinel.render.seed.content, commands.env, `the Sentinel step on Sentinel ${sentinel.index + 1}`);
  }

  sentinelPid(sentinel: SentinelInstance): number | undefined {
    const pidFile = join(sentinel.root, "run/sentinel/redis-sentinel.pid");
    return existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : undefined;
  }

  async stop(): Promise<void> {
    for (const sentinel of this.sentinels) {
      const pid = this.sentinelPid(sentinel);
      if (pid !== undefined) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    await Promise.all(this.servers.map((server) => server.daemon?.stop().catch(() => undefined)));
    for (const each of [...this.servers, ...this.sentinels]) rmSync(each.root, { recursive: true, force: true });
  }
}

/** Runs a rendered step script with its stdin; resolves with what it printed, rejects with it when it fails. */
export function runScript(script: string, input: string, env: NodeJS.ProcessEnv, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", script], { stdio: ["pipe", "pipe", "pipe"], env });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.stdin.end(input);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${what} failed (exit ${code}):\n${output}`));
    });
  });
}
