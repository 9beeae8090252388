import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "./backends";

/**
 * Real proxies on loopback for the health-check tests: tinyproxy (HTTP) and microsocks (SOCKS5),
 * each in the foreground in its own temp dir, stopped by PID and restartable on the same port so a
 * test can take a proxy away and bring it back.
 */
export interface LoopbackProxy {
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and removes its files. */
  close(): Promise<void>;
}

async function listening(port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || !child.pid) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(child.pid, "SIGTERM");
  await exited;
}

async function loopbackProxy(what: string, command: (port: number, directory: string) => [string, string[]]): Promise<LoopbackProxy> {
  const port = await freePort();
  const directory = mkdtempSync(path.join(os.tmpdir(), `megaweb-${what}-`));
  let child: ChildProcess | undefined;
  const start = async () => {
    const [binary, args] = command(port, directory);
    child = spawn(binary, args, { stdio: "ignore" });
    await listening(port, child, what);
  };
  await start();
  return {
    port,
    start,
    stop: () => stopChild(child),
    async close() {
      await stopChild(child);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export function startTinyproxy(): Promise<LoopbackProxy> {
  return loopbackProxy("tinyproxy", (port, directory) => {
    const config = path.join(directory, "tinyproxy.conf");
    writeFileSync(
      config,
      [
        `Port ${port}`,
        "Listen 127.0.0.1",
        "Timeout 10",
        `LogFile "${path.join(directory, "tinyproxy.log")}"`,
        "LogLevel Warning",
        "MaxClients 20",
        "Allow 127.0.0.1",
        "",
      ].join("\n"),
    );
    return ["tinyproxy", ["-d", "-c", config]];
  });
}

export function startMicrosocks(): Promise<LoopbackProxy> {
  return loopbackProxy("microsocks", (port) => ["microsocks", ["-i", "127.0.0.1", "-p", String(port)]]);
}

/** What the HTTP proxy check fetches through each proxy: a page on loopback. */
export async function startCheckTarget(): Promise<{ url: string; requests: () => number; stop(): Promise<void> }> {
  let requests = 0;
  const server = http.createServer((_request, response) => {
    requests++;
    response.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/health`, requests: () => requests, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}
