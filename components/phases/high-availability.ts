import type * as pulumi from "@pulumi/pulumi";
import { type PhaseArgs, PhaseComponent } from "./phase";

/** The ha phase: redundant load balancing, N web droplets, Redis primary and replicas watched by Sentinels, MySQL primary and replicas, and workers. */
export class HighAvailability extends PhaseComponent {
  constructor(name: string, args: PhaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ha", name, args, opts);
  }
}
