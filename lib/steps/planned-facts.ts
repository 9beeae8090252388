import { sizeCpus } from "../plan/droplet-sizes";
import type { PlannedHost } from "../plan/topology";
import type { Stack } from "../schema/stack";
import type { StepPlan } from "./plan";
import { plannedBackupOutput } from "./backup";
import { plannedCertificateOutput } from "./certificates";
import type { DeployFacts } from "./step";

/**
 * The deploy-time values as the plan expects them, for rendering steps without servers
 * (`megaweb render`, tests): Debian 12 with the planned size's memory and vCPUs, and the private addresses
 * the stack file lists for existing hosts, or a placeholder for a droplet's (DigitalOcean assigns
 * those when it creates the droplet).
 */
export function plannedFacts(plan: Pick<StepPlan, "stack" | "topology">): DeployFacts {
  const hosts = new Map(plan.topology.hosts.map((host) => [host.name, host]));
  const planned = (name: string): PlannedHost => {
    const host = hosts.get(name);
    if (host === undefined) throw new Error(`the plan has no host ${name}`);
    return host;
  };
  return {
    facts: (name) => ({
      os: "debian",
      codename: "bookworm",
      memoryMb: planned(name).memoryMb,
      cpus: sizeCpus(planned(name).size),
      openFilesLimit: systemdOpenFilesLimit,
    }),
    privateIp: (name) => existingAddress(plan.stack, planned(name)) ?? `<${name} private IP>`,
    output: (step) => plannedBackupOutput(step) ?? plannedCertificateOutput(step) ?? `<output of ${step}>`,
    // DigitalOcean assigns both when it creates the droplets and the address.
    dropletId: (name) => `<${planned(name).name} droplet id>`,
    reservedIp: () => "<reserved IP>",
  };
}

/** systemd's default hard open-files limit (since v240), what a droplet's PID 1 reports. */
const systemdOpenFilesLimit = 524_288;

function existingAddress(stack: Stack, host: PlannedHost): string | undefined {
  return stack.target === "existing" ? stack.hosts[host.plannedAs]?.[host.ordinal - 1]?.privateAddress : undefined;
}
