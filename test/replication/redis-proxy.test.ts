import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveWebHost } from "../../lib/render/context";
import { renderFpmSessions } from "../../lib/render/php-fpm";
import { renderRedisProxy, type RedisProxyRender } from "../../lib/render/redis-proxy";
import { renderTemplate } from "../../lib/render/template";
import { parseStack } from "../../lib/schema/stack";
import { putFiles } from "../../lib/steps/script";
import { eventually } from "../faults/measure";
import { hostCommands } from "../daemons/host-commands";
import { removeRoot, scratchRoot } from "../daemons/harness";
import { portsBelowEphemeral } from "../monitoring/loopback";
import { masterName, RedisCluster, runScript } from "./redis-cluster";

/**
 * PHP sessions behind Sentinels, through the web node's Redis proxy as the step provisions it: a
 * primary, two replicas and three Sentinels on loopback, the proxy's rendered step run with
 * HAProxy standing where systemd would start it, and PHP's own session handler (phpredis) given
 * the site's rendered session settings. Then the primary is killed.
 */

let cluster: RedisCluster;
let proxy: RedisProxyRender;
let root: string;
let proxyPort: number;
let sessionIni: string;

beforeAll(async () => {
  const ports = await portsBelowEphemeral(7);
  cluster = await RedisCluster.start(ports.slice(0, 3), ports.slice(3, 6), randomBytes(24).toString("base64url"), randomBytes(24).toString("base64url"));
  proxyPort = ports[6]!;
  const [primary, ...replicas] = cluster.servers;
  await cluster.runRedisStep(primary!);
  for (const replica of replicas) await cluster.runRedisStep(replica);
  for (const sentinel of cluster.sentinels) await cluster.runSentinelStep(sentinel);

  root = scratchRoot("redis-proxy");
  mkdirSync(join(root, "run"), { recursive: true });
  proxy = renderRedisProxy({
    servers: cluster.servers.map((server) => ({ name: `redis-${server.index + 1}`, host: "127.0.0.1", port: server.port })),
    password: cluster.password,
    listen: { host: "127.0.0.1", port: proxyPort },
    root,
  });
  // The site's session settings as its FPM pool gets them, pointed at the proxy, as an ini PHP's command line reads.
  const stack = parseStack({ sites: [{ domain: "shop.example.com" }] });
  const context = resolveWebHost(stack.sites, { name: "web-1", memoryMb: 2048, roles: ["web"], sharedSessions: true }).sites[0]!;
  const sessions = renderFpmSessions(
    stack.sites[0]!,
    { ...context, pool: context.pool! },
    { address: "127.0.0.1", port: proxyPort, password: cluster.password },
  );
  sessionIni = join(root, "php");
  mkdirSync(sessionIni);
  writeFileSync(join(sessionIni, "sessions.ini"), sessions.content.replace(/^php_admin_value\[(.+?)\] = /gm, "$1 = ").replace(/^\[.*\]$/m, ""), {
    mode: 0o600,
  });
}, 120_000);

afterAll(async () => {
  const pid = proxyPid();
  if (pid !== undefined) process.kill(pid, "SIGTERM");
  await cluster?.stop();
  if (root) removeRoot(root);
});

const pidFile = () => join(root, "run/megaweb-redis-proxy.pid");
function proxyPid(): number | undefined {
  const result = spawnSync("cat", [pidFile()], { encoding: "utf8" });
  return result.status === 0 ? Number(result.stdout.trim()) : undefined;
}

/** The proxy's step as provisioning runs it: the password file on stdin, HAProxy standing in for the unit. */
function runProxyStep(): Promise<string> {
  const files = `-f ${proxy.password.path} -f ${proxy.config.path}`;
  // Started by systemd it would hold none of the step's descriptors (its lock on fd 9).
  const detached = "</dev/null >/dev/null 2>&1 9>&-";
  const commands = hostCommands(root, {
    "megaweb-redis-proxy": {
      pidFile: pidFile(),
      start: `haproxy -D ${files} -p ${pidFile()} ${detached}`,
      reload: `haproxy -D ${files} -p ${pidFile()} -sf $(cat ${pidFile()}) ${detached}`,
    },
  });
  const script = [renderTemplate("provision/lib.sh", {}), proxy.step(putFiles)].join("\n");
  return runScript(script, proxy.password.content, commands.env, "the Redis proxy step");
}

/** One PHP request's session through the proxy: what it holds after an optional write. */
function phpSession(id: string, value = ""): { ok: boolean; session?: Record<string, string>; output: string } {
  const result = spawnSync("php", [join(__dirname, "session-probe.php"), id, value], {
    encoding: "utf8",
    env: { ...process.env, PHP_INI_SCAN_DIR: `/etc/php/8.2/cli/conf.d:${sessionIni}` },
    timeout: 10_000,
  });
  const output = `${result.stdout}${result.stderr}`;
  return result.status === 0 ? { ok: true, session: JSON.parse(result.stdout) as Record<string, string>, output } : { ok: false, output };
}

async function namedPrimary(): Promise<string> {
  const client = cluster.sentinelClient(cluster.sentinels[0]!);
  try {
    return ((await client.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)) as string[]).join(":");
  } finally {
    client.disconnect();
  }
}

async function storedOn(port: number, id: string): Promise<string | null> {
  const client = new Redis({ port, host: "127.0.0.1", password: cluster.password, maxRetriesPerRequest: 1 });
  client.on("error", () => undefined);
  try {
    return await client.get(`PHPREDIS_SESSION:shop.example.com:${id}`);
  } finally {
    client.disconnect();
  }
}

async function roleOf(port: number): Promise<string> {
  const client = new Redis({ port, host: "127.0.0.1", password: cluster.password, maxRetriesPerRequest: 1 });
  client.on("error", () => undefined);
  try {
    return /^role:(\w+)/m.exec(await client.info("replication"))![1]!;
  } finally {
    client.disconnect();
  }
}

describe("PHP sessions through the Redis proxy behind Sentinels", () => {
  it("starts the proxy from the step, with the password in a root-only file and in no process's command line", async () => {
    expect(await runProxyStep()).toContain(`megaweb: the Redis proxy listens on 127.0.0.1:${proxyPort}`);
    const pid = proxyPid()!;
    expect(spawnSync("stat", ["-c", "%a %U", proxy.password.path], { encoding: "utf8" }).stdout.trim()).toBe("600 root");
    expect(spawnSync("cat", [`/proc/${pid}/cmdline`], { encoding: "utf8" }).stdout).not.toContain(cluster.password);
    expect(proxy.config.content).not.toContain(cluster.password);
    // Run again, nothing changed: no reload (the pid stays).
    await runProxyStep();
    expect(proxyPid()).toBe(pid);
  });

  it("sends sessions to the primary only", async () => {
    const primary = cluster.servers[0]!;
    const written = await eventually("a session written through the proxy", async () => {
      const answer = phpSession("beforefailover", "written-before");
      return answer.ok ? answer : undefined;
    });
    expect(written.session).toEqual({ value: "written-before" });
    expect(await storedOn(primary.port, "beforefailover")).toContain("written-before");
  });

  it("reads the session written before a failover, and writes to the new primary, once the Sentinels promote a replica", async () => {
    const oldPrimary = cluster.servers[0]!;
    const killedAt = Date.now();
    cluster.killServer(oldPrimary);
    const firstSeconds: { read?: number; write?: number } = {};
    const answer = await eventually(
      "a session read and written after the failover",
      () => {
        const read = phpSession("beforefailover");
        if (read.ok && read.session?.value === "written-before") firstSeconds.read ??= (Date.now() - killedAt) / 1000;
        const write = phpSession("afterfailover", "written-after");
        if (!write.ok || !read.ok || read.session?.value !== "written-before") return undefined;
        firstSeconds.write = (Date.now() - killedAt) / 1000;
        return write;
      },
      60,
    );
    expect(answer.session).toEqual({ value: "written-after" });
    const primaryAt = await namedPrimary();
    expect(primaryAt).not.toBe(`127.0.0.1:${oldPrimary.port}`);
    const newPrimary = Number(primaryAt.split(":")[1]);
    expect(await storedOn(newPrimary, "afterfailover")).toContain("written-after");
    console.log(
      `sessions through the Redis proxy after the primary was killed: ${JSON.stringify({ secondsToSessionsWorking: firstSeconds.write, secondsToFirstRead: firstSeconds.read })}`,
    );
    expect(firstSeconds.write).toBeLessThan(30);
  }, 90_000);

  it("sends nothing to the old primary when it restarts as a primary without replicas, before the Sentinels demote it", async () => {
    const oldPrimary = cluster.servers[0]!;
    const newPrimary = Number((await namedPrimary()).split(":")[1]);
    await cluster.startServer(oldPrimary);
    // Every session in the seconds it still says role:master lands on the new primary.
    const rolesSeen: string[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      rolesSeen.push(await roleOf(oldPrimary.port));
      const answer = phpSession(`afterreturn${attempt}`, `written-${attempt}`);
      expect(answer.ok, answer.output).toBe(true);
      expect(await storedOn(newPrimary, `afterreturn${attempt}`)).toContain(`written-${attempt}`);
    }
    expect(rolesSeen[0]).toBe("master");
    expect(phpSession("beforefailover").session).toEqual({ value: "written-before" });
  }, 60_000);
});
