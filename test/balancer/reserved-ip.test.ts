import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderKeepalived } from "../../lib/render/keepalived";
import { removeRoot, scratchRoot, writeHostFile } from "../daemons/harness";

/**
 * keepalived's notify hook on DigitalOcean, run for real against a local HTTP endpoint standing in
 * for the DigitalOcean API: the exact request, and the token nowhere in a process list.
 */

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
  /** Every process's command line while the request was being answered. */
  readonly commandLines: string;
}

const token = `dop_v1_${randomBytes(32).toString("hex")}`;
let server: Server;
let received: Received[] = [];
let answers: number[] = [];
let root: string;

function commandLines(): string {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      } catch {
        return "";
      }
    })
    .join("\n");
}

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      // The hook's curl is still running: look at every command line now.
      received.push({ method: request.method!, url: request.url!, headers: request.headers, body, commandLines: commandLines() });
      const status = answers.shift() ?? 201;
      response.writeHead(status, { "content-type": "application/json" });
      response.end(status === 201 ? JSON.stringify({ action: { id: 1, status: "in-progress", type: "assign_ip" } }) : JSON.stringify({ id: "server_error" }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  root = scratchRoot("reserved-ip");
  const files = renderKeepalived({
    nodes: [
      { name: "loadbalancer-1", privateAddress: "10.20.0.2" },
      { name: "loadbalancer-2", privateAddress: "10.20.0.3" },
    ],
    index: 1,
    interface: "eth1",
    reservedIp: { address: "203.0.113.10", dropletId: 387_654_321, token, api: `http://127.0.0.1:${(server.address() as AddressInfo).port}` },
    root,
  });
  for (const file of [files.check, files.reservedIp!.hook, files.reservedIp!.settings, files.reservedIp!.token])
    writeHostFile(file.path, file.content, file.mode);
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  removeRoot(root);
});

function runHook(): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", [`${root}/usr/local/libexec/megaweb/reserved-ip-assign`], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.once("exit", (code) => resolve({ status: code ?? -1, output }));
  });
}

describe("the reserved IP hook keepalived runs on becoming master", () => {
  it("asks the DigitalOcean API to assign the reserved IP to this droplet, with the token as a bearer", async () => {
    received = [];
    const result = await runHook();
    expect(result.status, result.output).toBe(0);
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.method).toBe("POST");
    expect(request!.url).toBe("/v2/reserved_ips/203.0.113.10/actions");
    expect(request!.headers.authorization).toBe(`Bearer ${token}`);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request!.body)).toEqual({ type: "assign", droplet_id: 387_654_321 });
    expect(request!.commandLines).toContain("curl");
    expect(request!.commandLines).not.toContain(token);
    expect(result.output).not.toContain(token);
  });

  it("tries again when the API fails, and gives up after five attempts", async () => {
    received = [];
    answers = [500, 503];
    expect((await runHook()).status).toBe(0);
    expect(received.map((request) => request.url)).toEqual(Array(3).fill("/v2/reserved_ips/203.0.113.10/actions"));

    received = [];
    answers = [500, 500, 500, 500, 500];
    const failed = await runHook();
    expect(failed.status).toBe(1);
    expect(received).toHaveLength(5);
    expect(failed.output).toContain("HTTP 500 (attempt 5 of 5)");
  }, 60_000);

  it("keeps the token in a root-only file, and the hook passes shellcheck", () => {
    const files = renderKeepalived({
      nodes: [
        { name: "loadbalancer-1", privateAddress: "10.20.0.2" },
        { name: "loadbalancer-2", privateAddress: "10.20.0.3" },
      ],
      index: 0,
      interface: "eth1",
      reservedIp: { address: "203.0.113.10", dropletId: 1, token: "<secret:reserved-ip-token>" },
    });
    expect(files.reservedIp!.token).toMatchObject({ path: "/etc/megaweb/digitalocean-reserved-ip-token", mode: "0600", secret: true });
    expect(files.config.content).toContain('notify_master "/usr/local/libexec/megaweb/reserved-ip-assign"');
    expect(files.config.content).not.toContain("virtual_ipaddress");
    for (const script of [files.reservedIp!.hook.content, files.check.content]) {
      expect(spawnSync("shellcheck", ["-s", "bash", "-"], { input: script, encoding: "utf8" }).stdout).toBe("");
    }
  });
});
