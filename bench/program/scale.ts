import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { loadStackFile } from "../../cli/stack-file";

/**
 * The program's cost against the number of sites: parsing, planning and rendering a stack file
 * (what `megaweb plan` and the program's first lines do), the Pulumi program evaluated with mocks
 * (every component and step registered, no engine), and `megaweb plan` as a user runs it.
 */

// Not in the public typings: resolves once every in-flight registration has been answered.
const runtimeSettings = createRequire(__filename)("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };

const repo = path.join(__dirname, "..", "..");
const adminCidr = "203.0.113.0/24";
const sshKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnmPRvX2XbQ3RRkXhhD0yRSsOEv7Ba9rTfZrgqlIWcm ops@example";

/**
 * N PHP sites on the single box as a user would list them: a database each, Redis, an explicit
 * small pool, on a droplet with the memory for a thousand of them (pools must fit in RAM).
 */
export function stackWithSites(count: number): Record<string, unknown> {
  const sites = Array.from({ length: count }, (_, index) => ({
    domain: `site-${index + 1}.megaweb.test`,
    php: { memoryLimit: "64M", extensions: ["mysql", "redis"] },
    pool: { pm: "ondemand", maxChildren: 1 },
    database: {},
  }));
  return {
    config: {
      "megaweb:phase": "single",
      "megaweb:region": "ams3",
      "megaweb:sizes": { web: "m-16vcpu-128gb" },
      "megaweb:adminCidrs": [adminCidr],
      "megaweb:sshPublicKeys": [sshKey],
      "megaweb:sites": sites,
    },
  };
}

export interface ScaleSample {
  readonly sites: number;
  /** loadStackFile: parse, validate, plan the topology and the steps, render every file. */
  readonly planSeconds: number;
  /** The phase component under Pulumi mocks, until every registration has been answered. */
  readonly programSeconds: number;
  readonly resources: number;
  /** `megaweb plan --steps` in a fresh process, as a user runs it (node, tsx, the plan, the printing). */
  readonly cliSeconds: number;
}

let mocksInstalled = false;
let registered = 0;

async function installMocks(): Promise<void> {
  if (mocksInstalled) return;
  await pulumi.runtime.setMocks(
    {
      newResource: ({ name, inputs }) => {
        registered++;
        return { id: `${name}-id`, state: { ...inputs, ipv4Address: "198.51.100.2", ipv4AddressPrivate: "10.10.0.2", fingerprint: "00" } };
      },
      call: ({ inputs }) => inputs,
    },
    "megaweb",
    "bench",
    // As in a preview: what the hosts report back (their facts) stays unknown, so nothing needs faking.
    true,
  );
  mocksInstalled = true;
}

async function evaluateProgram(file: string, label: string): Promise<{ seconds: number; resources: number }> {
  await installMocks();
  // Imported after the mocks, as a program's modules are loaded after the runtime is set up.
  const { phaseComponent } = await import("../../components/phases");
  registered = 0;
  const started = performance.now();
  const { stack } = loadStackFile(file);
  phaseComponent(`megaweb-${label}`, { config: stack, sshPrivateKey: pulumi.secret("bench-key-not-used") });
  await runtimeSettings.waitForRPCs();
  return { seconds: (performance.now() - started) / 1000, resources: registered };
}

function timePlan(file: string): number {
  const started = performance.now();
  loadStackFile(file);
  return (performance.now() - started) / 1000;
}

function timeCli(file: string): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, [path.join(repo, "dist/cli/megaweb.js"), "plan", "--steps", file], {
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
  });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`megaweb plan ${file} exited ${result.status}:\n${result.stderr}`);
  return seconds;
}

/** Rounds of every site count, the order rotating each round so a drift in the host's load falls on all alike. */
export async function measureScale(counts: readonly number[], rounds: number, log: (line: string) => void): Promise<ScaleSample[]> {
  const workdir = mkdtempSync(path.join(tmpdir(), "megaweb-bench-program-"));
  try {
    const files = new Map(
      counts.map((count) => {
        const file = path.join(workdir, `Pulumi.sites${count}.yaml`);
        writeFileSync(file, stringify(stackWithSites(count)));
        return [count, file];
      }),
    );
    // One unrecorded pass: module loading and the JIT's warm-up belong to no site count.
    for (const count of counts) {
      timePlan(files.get(count)!);
      await evaluateProgram(files.get(count)!, `warmup-${count}`);
    }
    const samples: ScaleSample[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = counts.map((_, index) => counts[(index + round) % counts.length]!);
      for (const count of order) {
        const file = files.get(count)!;
        const planSeconds = timePlan(file);
        const program = await evaluateProgram(file, `r${round}-${count}`);
        const cliSeconds = timeCli(file);
        samples.push({ sites: count, planSeconds, programSeconds: program.seconds, resources: program.resources, cliSeconds });
        log(
          `round ${round + 1}/${rounds} ${count} sites: plan ${planSeconds.toFixed(3)} s, program ${program.seconds.toFixed(3)} s (${program.resources} resources), megaweb plan ${cliSeconds.toFixed(2)} s`,
        );
      }
    }
    return samples;
  } finally {
    rmSync(workdir, { recursive: true, force: true });
  }
}
