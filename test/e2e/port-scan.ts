import { execFile } from "node:child_process";
import type { Machine } from "./local-stack";

/**
 * The firewall matrix as nmap sees it (Debian's package, a connect scan): which of the ports the
 * stack's daemons listen on answer, from a machine or from this host. Shared by the phases with a
 * load balancer, whose matrices differ only in roles.
 */

/** SSH, HTTP(S), the app, Apache's and OpenLiteSpeed's loopback ports, MySQL, Redis, the balancer agent, Sentinel. */
const scannedPorts = "22,80,443,3000,3306,6379,8080,8088,9777,26379";
const nmapArgs = (targets: readonly Machine[]) => [
  ...["-Pn", "-n", "-sT", "--max-retries", "1", "--host-timeout", "60s", "-p", scannedPorts, "--open", "-oG", "-"],
  ...targets.map((target) => target.address),
];

/** Installs nmap on each machine, in parallel (the set's apt cache is shared). */
export const installNmap = (machines: readonly Machine[]) =>
  Promise.all(machines.map((machine) => machine.sshAsync("apt-get install -y -qq --no-install-recommends nmap >/dev/null", 300_000)));

/** The open ports of each target an nmap connect scan from `from` (a machine, or this host) finds, as `address:port`, sorted. */
export async function openPorts(from: Machine | "this host", targets: readonly Machine[]): Promise<string[]> {
  const output =
    from === "this host"
      ? await new Promise<string>((resolve, reject) =>
          execFile("nmap", nmapArgs(targets), { encoding: "utf8", timeout: 300_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
        )
      : await from.sshAsync(`nmap ${nmapArgs(targets).join(" ")}`);
  return output
    .split("\n")
    .flatMap((line) => {
      const match = /^Host: (\S+) .*Ports: (.*)$/.exec(line);
      if (match === null) return [];
      return match[2]!.split(", ").flatMap((entry) => (entry.split("/")[1] === "open" ? [`${match[1]}:${entry.split("/")[0]}`] : []));
    })
    .sort();
}

/** `address:port` for each machine and port, sorted: what a scan is expected to find. */
export const portsOf = (machines: readonly Machine[], ports: readonly number[]) =>
  machines.flatMap((machine) => ports.map((port) => `${machine.address}:${port}`)).sort();
