import { execFile, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { parseDocument } from "yaml";

/**
 * A stack of the real program on a local machine, driven through the real Pulumi CLI: the same
 * workspace `npm run demo` makes (scripts/demo.sh prepare), under its own machine set and stack.
 */

export const repo = join(__dirname, "..", "..");

/**
 * A test's machine set name, prefixed with MEGAWEB_SET_PREFIX (up to two letters) so checkouts
 * running the suite side by side on one host boot sets of their own.
 */
export function machineSetName(name: string): string {
  const prefix = process.env.MEGAWEB_SET_PREFIX ?? "";
  if (!/^[a-z]{0,2}$/.test(prefix)) throw new Error(`MEGAWEB_SET_PREFIX: "${prefix}" must be at most two lower-case letters`);
  return `${prefix}${name}`;
}

/** Wall-clock seconds an e2e records for its issue note, kept in test-output/<file> after the run. */
export class Timings {
  readonly seconds: Record<string, number> = {};

  constructor(private readonly file: string) {}

  readonly time = async <T>(label: string, work: () => T | Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await work();
    } finally {
      this.seconds[label] = Math.round((Date.now() - started) / 100) / 10;
    }
  };

  save(): void {
    mkdirSync(join(repo, "test-output"), { recursive: true });
    writeFileSync(join(repo, "test-output", this.file), `${JSON.stringify(this.seconds, null, 2)}\n`);
    console.log(`${this.file}:`, this.seconds);
  }
}

export interface CommandResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Every test that boots machines starts with `destroy` then `prepare`: both refuse a host that cannot boot them, before any work. */
function requireMachineHost(): void {
  if (process.platform !== "linux" || process.getuid?.() !== 0) {
    throw new Error("the end-to-end tests need Linux and root (they boot systemd-nspawn machines)");
  }
}

export class LocalStack {
  readonly workspace: string;
  readonly configFile: string;
  private readonly env: NodeJS.ProcessEnv;
  /** Everything the CLI printed, so a test can check that no secret was ever shown. */
  readonly transcript: string[] = [];

  /** The set's name with this checkout's MEGAWEB_SET_PREFIX. */
  readonly machineSet: string;

  /**
   * `stackFile` is the stack file the workspace starts from. @default "stacks/Pulumi.local.yaml"
   * `roles` gives each machine's planned role, in order, one machine per entry. @default ["web"]
   */
  constructor(
    machineSet: string,
    readonly stack: string,
    stackFile?: string,
    roles: readonly string[] = ["web"],
  ) {
    this.machineSet = machineSetName(machineSet);
    this.workspace = join(repo, "test-output", stack);
    this.configFile = join(this.workspace, `Pulumi.${stack}.yaml`);
    const cache = process.env.MEGAWEB_CACHE ?? "/var/cache/megaweb";
    this.env = {
      ...process.env,
      PATH: `${join(cache, "bin")}:${process.env.PATH}`,
      MEGAWEB_DEMO_SET: this.machineSet,
      MEGAWEB_DEMO_STACK: stack,
      MEGAWEB_WORKSPACE: this.workspace,
      ...(stackFile === undefined ? {} : { MEGAWEB_STACK_FILE: stackFile }),
      MEGAWEB_DEMO_ROLES: roles.join(","),
      PULUMI_BACKEND_URL: `file://${join(this.workspace, "state")}`,
      PULUMI_CONFIG_PASSPHRASE: "megaweb-e2e-local-only",
      PULUMI_SKIP_UPDATE_CHECK: "true",
    };
  }

  /** Boots the machine and points the stack at it. */
  prepare(): void {
    requireMachineHost();
    this.run("bash", ["scripts/demo.sh", "prepare"], repo, 900);
  }

  /**
   * Removes the machine and the stack; safe to call when either is already gone. A dozen machines
   * on a loaded host took longer than 5 minutes to stop and remove.
   */
  destroy(): CommandResult {
    requireMachineHost();
    return this.exec("bash", ["scripts/demo.sh", "destroy"], repo, 900);
  }

  /** Like `destroy`, but machines left behind fail the caller (a test's afterAll). */
  destroyOk(): void {
    const result = this.destroy();
    if (result.status !== 0) throw new Error(`demo.sh destroy failed:\n${result.stderr}`);
  }

  pulumi(args: readonly string[], timeoutSeconds = 900): CommandResult {
    return this.exec("pulumi", [...args, "--stack", this.stack, "--non-interactive"], this.workspace, timeoutSeconds);
  }

  /** Like `pulumi`, but a non-zero exit fails with the CLI's own output. */
  pulumiOk(args: readonly string[], timeoutSeconds = 900): CommandResult {
    const result = this.pulumi(args, timeoutSeconds);
    if (result.status !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
    return result;
  }

  /** Like `pulumiOk`, without blocking: a load the test runs beside it keeps going. */
  pulumiAsync(args: readonly string[], timeoutSeconds = 900): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      const child = spawn("pulumi", [...args, "--stack", this.stack, "--non-interactive"], {
        cwd: this.workspace,
        env: this.env,
        timeout: timeoutSeconds * 1000,
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("error", reject);
      child.on("close", (status) => {
        this.transcript.push(stdout, stderr);
        if (status !== 0) reject(new Error(`pulumi ${args.join(" ")} exited ${status}:\n${stdout}\n${stderr}`));
        else resolve({ status, stdout, stderr });
      });
    });
  }

  /**
   * Sets a secret stack value, handing it to the CLI on stdin so it never stands on a command line.
   * `key` may be a path into a structured value (`megaweb:sites[0].tls.key`).
   */
  setSecret(key: string, value: string): void {
    const result = this.exec("pulumi", ["config", "set", "--secret", "--path", key, "--stack", this.stack, "--non-interactive"], this.workspace, 60, value);
    if (result.status !== 0) throw new Error(`pulumi config set --secret ${key} exited ${result.status}:\n${result.stderr}`);
  }

  /** Edits the stack's `megaweb:sites` in the workspace's stack file, keeping everything else as it is. */
  editSites(edit: (sites: Record<string, unknown>[]) => void): void {
    const document = parseDocument(readFileSync(this.configFile, "utf8"));
    const sites = (document.getIn(["config", "megaweb:sites"]) as { toJSON(): Record<string, unknown>[] }).toJSON();
    edit(sites);
    document.setIn(["config", "megaweb:sites"], document.createNode(sites));
    writeFileSync(this.configFile, document.toString());
  }

  /**
   * Sets a plain (non-secret) stack value, structured or not, in the workspace's stack file, keeping
   * everything else as it is; `key` may be a path into a structured value (`megaweb:certificates.acmeDirectory`).
   */
  setConfig(key: string, value: unknown): void {
    const document = parseDocument(readFileSync(this.configFile, "utf8"));
    document.setIn(["config", ...key.split(".")], document.createNode(value));
    writeFileSync(this.configFile, document.toString());
  }

  /** The host's own address on the set's bridge, which the machines reach it at. */
  gateway(): string {
    return (JSON.parse(readFileSync(`/var/lib/megaweb/machines/${this.machineSet}/hosts.json`, "utf8")) as { gateway: string }).gateway;
  }

  /**
   * The host's PID of a machine's init (its PID 1), for `nsenter`: the child of the set's
   * systemd-nspawn that is PID 1 in its own namespace (scripts/machines.sh machine_init_pid).
   */
  machinePid(index = 0): number {
    const setDir = `/var/lib/megaweb/machines/${this.machineSet}`;
    const dir = readdirSync(setDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(setDir, entry.name, "nspawn.pid")))
      .map((entry) => entry.name)
      .sort()[index]!;
    const nspawn = readFileSync(join(setDir, dir, "nspawn.pid"), "utf8").trim();
    const children = readFileSync(`/proc/${nspawn}/task/${nspawn}/children`, "utf8").trim().split(/\s+/);
    const init = children.find((pid) => /^NSpid:.*\s1$/m.test(readFileSync(`/proc/${pid}/status`, "utf8")));
    if (init === undefined) throw new Error(`machine ${dir} of set ${this.machineSet} has no init process`);
    return Number(init);
  }

  /** A machine of the set (the first by default) with a command runner on it over SSH, from the set's hosts.json. */
  machine(index = 0): Machine {
    const hosts = JSON.parse(readFileSync(`/var/lib/megaweb/machines/${this.machineSet}/hosts.json`, "utf8")) as {
      privateKeyPath: string;
      machines: { address: string }[];
    };
    return new Machine(hosts.machines[index]!.address, hosts.privateKeyPath);
  }

  private run(command: string, args: readonly string[], cwd: string, timeoutSeconds: number): CommandResult {
    const result = this.exec(command, args, cwd, timeoutSeconds);
    if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
    return result;
  }

  private exec(command: string, args: readonly string[], cwd: string, timeoutSeconds: number, input?: string): CommandResult {
    const result = spawnSync(command, args, { cwd, env: this.env, input, encoding: "utf8", timeout: timeoutSeconds * 1000, maxBuffer: 256 * 1024 * 1024 });
    const outcome = {
      status: result.status ?? -1,
      stdout: result.stdout ?? "",
      stderr: `${result.stderr ?? ""}${result.error ? `\n${result.error.message}` : ""}`,
    };
    this.transcript.push(outcome.stdout, outcome.stderr);
    return outcome;
  }
}

/** test/e2e/probe.php: what a site's PHP sees (its user, limits, MySQL and Redis), for the tests to place. */
export const probePage = readFileSync(join(__dirname, "probe.php"), "utf8");

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

export class Machine {
  constructor(
    readonly address: string,
    private readonly privateKeyPath: string,
  ) {}

  /** ssh's arguments to run `command` as root on this machine, for callers that run ssh their own way. */
  sshArguments(command: string): string[] {
    return [
      "-i",
      this.privateKeyPath,
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
      `root@${this.address}`,
      command,
    ];
  }

  /**
   * A page the test itself places in a site's document root (never megaweb), owned by the site's
   * user and readable by its pool through the web server's group.
   */
  placePage(user: string, documentRoot: string, name: string, content: string): void {
    this.ssh(`install -m 0640 -o ${user} -g www-data /dev/stdin ${documentRoot}/${name}`, content);
  }

  ssh(command: string, stdin?: string, timeoutMs = 60_000): string {
    const result = spawnSync("ssh", this.sshArguments(command), { input: stdin, encoding: "utf8", timeout: timeoutMs });
    if (result.status !== 0) throw new Error(`ssh ${command} exited ${result.status}: ${result.stderr}${result.stdout}`);
    return result.stdout;
  }

  /** Like `ssh`, without blocking the event loop, so a load the test runs meanwhile keeps going. */
  sshAsync(command: string, timeoutMs = 120_000, stdin = ""): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        "ssh",
        this.sshArguments(command),
        { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => (error ? reject(new Error(`ssh ${this.address} ${command}: ${stderr || error.message}${stdout}`)) : resolve(stdout)),
      );
      child.stdin?.end(stdin);
    });
  }

  /** Resident memory of every process on the machine, in MB: its footprint as the machine sees it. */
  memoryMb(): number {
    return Math.round(Number(this.ssh("ps -eo rss= | awk '{ total += $1 } END { print total }'")) / 1024);
  }

  /** An HTTP GET to the machine with the site's Host header, as a browser resolving the domain would send. */
  get(domain: string, path: string): Promise<HttpAnswer> {
    return this.request("GET", domain, path);
  }

  /** An HTTP request to the machine with the site's Host header; a `body` goes as JSON. */
  request(method: string, domain: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}): Promise<HttpAnswer> {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers = { Host: domain, ...(payload === undefined ? {} : { "Content-Type": "application/json" }), ...options.headers };
    return new Promise((resolve, reject) => {
      // A fresh connection each time: a pooled keep-alive one may have been closed by an nginx reload.
      const request = httpRequest({ host: this.address, method, path, headers, timeout: 10_000, agent: false }, (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on("timeout", () => request.destroy(new Error(`${method} http://${domain}${path} timed out`)));
      request.on("error", reject);
      request.end(payload);
    });
  }

  /** Whether a TCP connection from this host to the machine's `port` is accepted within the timeout. */
  answers(port: number, timeoutMs = 1500): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect({ host: this.address, port });
      const done = (open: boolean) => {
        socket.destroy();
        resolve(open);
      };
      socket.setTimeout(timeoutMs, () => done(false));
      socket.once("connect", () => done(true));
      socket.once("error", () => done(false));
    });
  }
}

/** Each machine's resident memory in MB and their total: the cluster's footprint as its machines see it. */
export function memoryOf(machines: readonly Machine[]): Record<string, number> {
  const perMachine = Object.fromEntries(
    machines.map((machine) => {
      try {
        return [machine.address, machine.memoryMb()];
      } catch {
        return [machine.address, Number.NaN];
      }
    }),
  );
  return { ...perMachine, totalMb: Object.values(perMachine).reduce((sum, value) => sum + value, 0) };
}

const memorySamples = "/run/megaweb-memory-samples";

/**
 * Samples each machine's resident memory every 2 s on the machine itself (a loop, like the
 * horizontal drain sampler), so the peak of a run is known without SSH polling beside its loads.
 * Lines are `epoch-seconds kilobytes`; the loop ends with the machine.
 */
export const startMemorySampler = (machines: readonly Machine[]) =>
  Promise.all(
    machines.map((machine) =>
      machine.sshAsync(
        `nohup sh -c 'while :; do echo "$(date +%s) $(ps -eo rss= | awk "{ t += \\$1 } END { print t }")"; sleep 2; done' >${memorySamples} 2>/dev/null </dev/null &`,
      ),
    ),
  );

/**
 * The machines' highest total resident memory over the samples, in MB, and each machine's share
 * then: at each second both ends of the run sampled, every machine's latest sample summed (the
 * machines share the host's clock).
 */
export async function peakMemoryOf(machines: readonly Machine[]): Promise<Record<string, number>> {
  const series = await Promise.all(
    machines.map(async (machine) =>
      (await machine.sshAsync(`cat ${memorySamples}`))
        .trim()
        .split("\n")
        .map((line) => line.split(" ").map(Number) as [number, number])
        .filter(([at, kilobytes]) => Number.isFinite(at) && Number.isFinite(kilobytes)),
    ),
  );
  const next = series.map(() => 0);
  let peak = { at: 0, kilobytes: series.map(() => 0) };
  for (let at = Math.max(...series.map((samples) => samples[0]![0])); at <= Math.min(...series.map((samples) => samples.at(-1)![0])); at++) {
    const kilobytes = series.map((samples, index) => {
      while (next[index]! + 1 < samples.length && samples[next[index]! + 1]![0] <= at) next[index]!++;
      return samples[next[index]!]![1];
    });
    if (kilobytes.reduce((sum, value) => sum + value) > peak.kilobytes.reduce((sum, value) => sum + value)) peak = { at, kilobytes };
  }
  const mb = (kilobytes: number) => Math.round(kilobytes / 1024);
  return {
    ...Object.fromEntries(machines.map((machine, index) => [machine.address, mb(peak.kilobytes[index]!)])),
    totalMb: mb(peak.kilobytes.reduce((sum, value) => sum + value)),
    secondsIntoSamples: peak.at - Math.max(...series.map((samples) => samples[0]![0])),
  };
}

/**
 * A shell loop that SIGKILLs every process whose name is one of `names`: `systemctl kill` fails on
 * the local machines' cgroups ("Failed to send signal SIGKILL to auxiliary processes: Input/output
 * error"), whatever it killed before. Every process is SIGSTOPped before any is killed: the loop
 * meets /proc's entries in the glob's order, where PID 1013 comes before 812, and an nginx master
 * that saw its worker die before its own turn forked a new one, which outlived it holding ports 80
 * and 443 and answered the balancers' checks once PHP-FPM restarted (CI on d744e5d, 2026-11-30:
 * "web-2 leaves the pool within 30 s"; reproduced on the host by killing a master 50 ms after its
 * workers: four orphaned workers went on answering).
 */
export const killProcessesNamed = (names: readonly string[]) =>
  `for signal in STOP KILL; do for process in /proc/[0-9]*; do case $(cat $process/comm 2>/dev/null) in ${names.join(" | ")}) kill -$signal \${process#/proc/} 2>/dev/null || true ;; esac; done; done`;

/**
 * Starts `units` again after `killProcessesNamed`, so the next test finds the node serving. On the
 * local machines systemd cannot kill a unit's control group ("Failed to kill control group ...
 * Input/output error"): should the start fail, the units' journal is printed before the error.
 */
export async function restartAfterKill(machine: Machine, units: readonly string[]): Promise<void> {
  const journal = `journalctl ${units.map((unit) => `-u ${unit}`).join(" ")} -n 30 --no-pager`;
  await machine.sshAsync(`systemctl reset-failed; systemctl restart ${units.join(" ")} || { ${journal}; exit 1; }`, 300_000);
}
