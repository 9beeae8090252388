import type { ClusterSecret } from "../plan/cluster";
import type { HostFile } from "../render/files";
import type { ServerFacts } from "./facts";

/**
 * What provisioning runs, as data: every step of every host, with what it waits for, what it is
 * rendered from and whether it carries secrets. `planSteps` makes the plan without Pulumi; the
 * `Provisioning` and `Orchestrator` components turn each step into one remote command.
 */

/** The component that runs a step; the step's resource is named `<component's name>-<step name>`. */
export type StepOwner = "provisioning" | "orchestrator";

/** A value a step is rendered from that exists only once the servers do. */
export type DeployInput =
  /** What the host's facts step printed: its OS, release and memory. */
  | { readonly kind: "facts"; readonly host: string }
  /** The address the other hosts reach the host at. */
  | { readonly kind: "privateIp"; readonly host: string }
  /** What an earlier step on `host` printed (a public key it made); the step must not carry secrets. */
  | { readonly kind: "output"; readonly host: string; readonly step: string }
  /** The id of the droplet behind `host` (DigitalOcean only), in decimal. */
  | { readonly kind: "dropletId"; readonly host: string }
  /** The reserved IP the load balancer pair `host` belongs to shares (DigitalOcean only). */
  | { readonly kind: "reservedIp"; readonly host: string };

/** The deploy-time values a step declared, as its render function reads them. */
export interface DeployFacts {
  facts(host: string): ServerFacts;
  privateIp(host: string): string;
  /** The standard output of an earlier step, by its name. */
  output(step: string): string;
  dropletId(host: string): string;
  reservedIp(host: string): string;
}

/** A step rendered: its files and the scripts that write them. */
export interface RenderedStep {
  /** What the step leaves on the host, as `megaweb render` writes it; secret files hold placeholders. */
  readonly files: readonly HostFile[];
  /** The idempotent script (`stepCommand`); its files are inline, so a preview shows the changed line. */
  readonly create: string;
  /** Undoes the step when it leaves the plan (a removed site). */
  readonly delete?: string;
  /** Secret input with placeholders (`secretPlaceholder`), filled in by the component on the way to stdin. */
  readonly stdin?: string;
}

interface StepBase {
  /** Unique in the plan, e.g. `web-1-site-shop_example_com`. */
  readonly name: string;
  readonly owner: StepOwner;
  /** The plan's name of the host it runs on. */
  readonly host: string;
  /** Steps (by name) that must have finished first. */
  readonly dependsOn: readonly string[];
  /** Deploy-time values it is rendered from; a change to one updates the step. */
  readonly inputs: readonly DeployInput[];
  /** The stack settings it is rendered from, as paths (`sites[0]`, `adminCidrs`); a change to one updates the step. */
  readonly reads: readonly string[];
  /** Secrets its stdin carries; a step with any logs nothing and keeps its output secret. */
  readonly secrets: readonly ClusterSecret[];
  /** The module of `lib/render/` that renders its files (`nginx`, `mariadb`, …), or none. */
  readonly renderer?: string;
}

/** A script run over SSH (`command.remote.Command`). */
export interface CommandStep extends StepBase {
  readonly kind: "command";
  /** It renders a `delete` script, run when the step leaves the plan (a removed site). */
  readonly undoable?: boolean;
  /** Connection attempts before giving up, raised for the first step of a fresh server. */
  readonly dialErrorLimit?: number;
  /**
   * It moves data to a new host (lib/steps/data-move.ts): writes are refused on the old copy from
   * its start until the steps that wait for it point the clients at the new one. `planSteps` makes
   * it wait for everything else those steps wait for, and nothing of its output is logged (its
   * tools may print rows or keys).
   */
  readonly movesData?: boolean;
  /**
   * A move's other half: drops the old copy it leaves (refusing writes) once the new one has been
   * checked. Run by a step of its own, `<move>-forget`, when the stack sets `forgetMovedData`
   * (`forgetSteps`), with the move's host, inputs and secrets.
   */
  readonly forget?: (at: DeployFacts) => RenderedStep;
  readonly render: (at: DeployFacts) => RenderedStep;
}

/** A file copied from the machine running Pulumi to the host (`command.remote.CopyToRemote`). */
export interface UploadStep extends StepBase {
  readonly kind: "upload";
  readonly source: string;
  readonly remotePath: string;
}

export type PlannedStep = CommandStep | UploadStep;

/** A step is rendered from the host's facts, or from its private address. */
export const factsOf = (host: string): DeployInput => ({ kind: "facts", host });
export const privateIpOf = (host: string): DeployInput => ({ kind: "privateIp", host });
export const outputOf = (host: string, step: string): DeployInput => ({ kind: "output", host, step });
export const dropletIdOf = (host: string): DeployInput => ({ kind: "dropletId", host });
export const reservedIpOf = (host: string): DeployInput => ({ kind: "reservedIp", host });
