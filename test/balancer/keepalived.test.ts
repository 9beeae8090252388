import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderKeepalived } from "../../lib/render/keepalived";
import { removeRoot, scratchRoot, writeHostFile } from "../daemons/harness";
import { eventually, summarize, type LoadRecord } from "../faults/measure";
import { subnet, VrrpNetwork } from "./vrrp-network";

/**
 * Two load balancers sharing a virtual address through the rendered keepalived files, for real:
 * each in a network namespace on a private bridge, HAProxy answering with the node's name, and a
 * client in a third namespace sending a bounded HTTP load at the address while a node fails.
 */

const virtualAddress = `${subnet}.50`;
const nodes = { "lb-1": 11, "lb-2": 12, client: 100 } as const;
const balancers = ["lb-1", "lb-2"] as const;
type Balancer = (typeof balancers)[number];

let network: VrrpNetwork;
const roots: Record<Balancer, string> = { "lb-1": "", "lb-2": "" };
const haproxy: Partial<Record<Balancer, number>> = {};
const keepalived: Partial<Record<Balancer, number>> = {};

beforeAll(() => {
  network = new VrrpNetwork();
  network.create(nodes);
  for (const [index, node] of balancers.entries()) {
    const root = scratchRoot(`keepalived-${node}`);
    roots[node] = root;
    const files = renderKeepalived({
      nodes: balancers.map((name) => ({ name, privateAddress: `${subnet}.${nodes[name]}` })),
      index,
      interface: "eth0",
      virtualAddress: `${virtualAddress}/24`,
      root,
    });
    for (const file of [files.config, files.check]) writeHostFile(file.path, file.content, file.mode);
    // HAProxy stands for the node's balancer: it answers with the node's name on every address.
    writeFileSync(
      join(root, "haproxy.cfg"),
      [
        "defaults",
        "  mode http",
        "  timeout client 5s",
        "  timeout connect 5s",
        "  timeout server 5s",
        "frontend http",
        "  bind :80",
        `  http-request return status 200 content-type text/plain string ${node}`,
        "",
      ].join("\n"),
    );
    startHaproxy(node);
    startKeepalived(node);
  }
});
afterAll(() => {
  network?.remove();
  for (const root of Object.values(roots)) if (root) removeRoot(root);
});

function startHaproxy(node: Balancer): void {
  haproxy[node] = network.run(node, ["haproxy", "-db", "-f", join(roots[node], "haproxy.cfg")]).pid!;
}

function startKeepalived(node: Balancer): void {
  const root = roots[node];
  keepalived[node] = network.run(node, [
    "keepalived",
    "--dont-fork",
    "--vrrp",
    "--log-console",
    "-f",
    join(root, "etc/keepalived/keepalived.conf"),
    "-p",
    join(root, "keepalived.pid"),
    "-r",
    join(root, "vrrp.pid"),
  ]).pid!;
}

/** A crash, not a stop: the parent is frozen so it cannot restart its VRRP child, then both get SIGKILL. */
function crashKeepalived(node: Balancer): void {
  const parent = keepalived[node]!;
  process.kill(parent, "SIGSTOP");
  process.kill(Number(readFileSync(join(roots[node], "vrrp.pid"), "utf8")), "SIGKILL");
  process.kill(parent, "SIGKILL");
}

/** The client's bounded load at the virtual address, in its own namespace; resolves with its record. */
function clientLoad(seconds: number): Promise<LoadRecord<string>> {
  const tsx = join(__dirname, "../../node_modules/.bin/tsx");
  const child = spawn(
    "ip",
    ["netns", "exec", network.ns("client"), tsx, join(__dirname, "../faults/http-load.ts"), `http://${virtualAddress}/`, String(seconds), "20", "1000"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  return new Promise((resolve, reject) =>
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(output.trim().split("\n").pop()!)) : reject(new Error(`client load failed:\n${output}`)))),
  );
}

/** When, after `since` (epoch ms), the client was first answered by `node`. */
function firstAnswerFrom(record: LoadRecord<string>, node: Balancer, since: number): number | undefined {
  const outcome = record.outcomes.find((each) => each.ok && each.value === node && record.startedAt + each.startedMs >= since);
  return outcome && record.startedAt + outcome.endedMs;
}

describe("keepalived from the rendered files, between two namespaces", () => {
  it("passes keepalived's own config test on each node", () => {
    for (const node of balancers) {
      const test = spawnSync(
        "ip",
        ["netns", "exec", network.ns(node), "keepalived", "--config-test", "-l", "-f", join(roots[node], "etc/keepalived/keepalived.conf")],
        {
          encoding: "utf8",
        },
      );
      expect(test.status, test.stdout + test.stderr).toBe(0);
      expect(test.stdout + test.stderr).not.toMatch(/WARNING|ERROR|unsafe|not executable/i);
    }
  });

  it("ranks the first load balancer higher, so it wins when both are eligible", () => {
    const priority = (node: Balancer) => Number(/^\s*priority (\d+)$/m.exec(readFileSync(join(roots[node], "etc/keepalived/keepalived.conf"), "utf8"))?.[1]);
    expect(priority("lb-1")).toBeGreaterThan(priority("lb-2"));
  });

  // Both start as backups with nopreempt, so the first election goes to the higher priority only
  // when both are eligible at once; on a loaded host lb-1's check can still be failing when lb-2's
  // timer ends (seen in CI), and lb-2 then keeps the address. Either is a correct outcome: the
  // tests that follow take the roles from who holds it.
  let elected: Balancer;
  let standby: Balancer;

  it("gives the address to exactly one load balancer, and the client reaches that one", async () => {
    elected = await eventually("one load balancer to hold the address", () => balancers.find((node) => network.holds(node, virtualAddress)));
    standby = balancers.find((node) => node !== elected)!;
    expect(network.holds(standby, virtualAddress)).toBe(false);
    const record = await clientLoad(1);
    expect(new Set(record.outcomes.map((outcome) => outcome.value))).toEqual(new Set([elected]));
  });

  it("moves the address to the standby when the master's keepalived is killed", async () => {
    const load = clientLoad(12);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const killedAt = Date.now();
    crashKeepalived(elected);
    const heldAt = await eventually("the standby to hold the address", () => (network.holds(standby, virtualAddress) ? Date.now() : undefined));
    const record = await load;
    const answeredAt = firstAnswerFrom(record, standby, killedAt);
    const summary = summarize(record);
    const figures = {
      secondsUntilBackupHoldsAddress: (heldAt - killedAt) / 1000,
      secondsUntilClientsReachBackup: answeredAt === undefined ? null : (answeredAt - killedAt) / 1000,
      failedRequests: summary.failed,
      requests: summary.operations,
      longestOutageSeconds: summary.longestOutageSeconds,
    };
    console.log(`keepalived SIGKILL figures: ${JSON.stringify(figures)}`);
    expect(answeredAt).toBeDefined();
    expect(figures.secondsUntilBackupHoldsAddress).toBeLessThan(10);
  });

  it("leaves the address where it is when the old master comes back (nopreempt)", async () => {
    startKeepalived(elected);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    expect(network.holds(standby, virtualAddress)).toBe(true);
    // The crash left the address on the old master's interface; keepalived, started as a backup, removes it.
    expect(network.holds(elected, virtualAddress)).toBe(false);
    const record = await clientLoad(2);
    expect(new Set(record.outcomes.map((outcome) => outcome.value))).toEqual(new Set([standby]));
  });

  it("moves the address when the master's HAProxy dies, within the check window", async () => {
    // The standby has held the address since the first master's crash.
    const load = clientLoad(12);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const killedAt = Date.now();
    process.kill(haproxy[standby]!, "SIGKILL");
    const heldAt = await eventually("the first-elected balancer to hold the address again", () =>
      network.holds(elected, virtualAddress) ? Date.now() : undefined,
    );
    const record = await load;
    const answeredAt = firstAnswerFrom(record, elected, killedAt);
    const summary = summarize(record);
    const figures = {
      secondsUntilBackupHoldsAddress: (heldAt - killedAt) / 1000,
      secondsWithoutService: summary.longestOutageSeconds,
      failedRequests: summary.failed,
      requests: summary.operations,
    };
    console.log(`HAProxy SIGKILL figures: ${JSON.stringify(figures)}`);
    expect(answeredAt).toBeDefined();
    expect(network.holds(standby, virtualAddress)).toBe(false);
    // Two failed checks a second apart, then an advert: the address moves within about four seconds.
    expect(figures.secondsWithoutService).toBeLessThan(8);
  });
});
