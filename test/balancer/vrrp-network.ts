import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";

/**
 * A private network made of network namespaces for VRRP tests: a switch namespace holding a
 * bridge, and one namespace per node, each with an eth0 on that bridge and an address in
 * 198.19.77.0/24 (the benchmark range, and inside namespaces only: nothing is added to the host's
 * own network). Removing the namespaces removes every link with them.
 */

export const subnet = "198.19.77";

export class VrrpNetwork {
  readonly prefix = `mwha${randomBytes(2).toString("hex")}`;
  private readonly namespaces: string[] = [];
  private readonly processes: ChildProcess[] = [];

  /** The namespace's name for a node. */
  ns(node: string): string {
    return `${this.prefix}-${node}`;
  }

  create(nodes: Readonly<Record<string, number>>): void {
    const sw = this.ns("sw");
    this.add(sw);
    ip("-n", sw, "link", "add", "br0", "type", "bridge");
    ip("-n", sw, "link", "set", "br0", "up");
    for (const [node, host] of Object.entries(nodes)) {
      const ns = this.ns(node);
      this.add(ns);
      ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", `p-${node}`, "netns", sw);
      ip("-n", sw, "link", "set", `p-${node}`, "master", "br0", "up");
      ip("-n", ns, "link", "set", "lo", "up");
      ip("-n", ns, "link", "set", "eth0", "up");
      ip("-n", ns, "addr", "add", `${subnet}.${host}/24`, "dev", "eth0");
    }
  }

  /** Starts a command inside a node's namespace; it is killed when the network is removed. */
  run(node: string, command: string[], options: { output?: boolean } = {}): ChildProcess {
    const child = spawn("ip", ["netns", "exec", this.ns(node), ...command], {
      stdio: ["ignore", options.output ? "pipe" : "ignore", options.output ? "pipe" : "ignore"],
    });
    this.processes.push(child);
    return child;
  }

  /** Whether a node's eth0 holds the address. */
  holds(node: string, address: string): boolean {
    return execFileSync("ip", ["-n", this.ns(node), "-o", "addr", "show", "dev", "eth0"], { encoding: "utf8" }).includes(` ${address}/`);
  }

  remove(): void {
    for (const child of this.processes) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const ns of this.namespaces.reverse()) {
      try {
        ip("netns", "del", ns);
      } catch {
        // already gone
      }
    }
  }

  private add(ns: string): void {
    ip("netns", "add", ns);
    this.namespaces.push(ns);
  }
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}
