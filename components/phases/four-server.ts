import type * as pulumi from "@pulumi/pulumi";
import { type PhaseArgs, PhaseComponent } from "./phase";

/** The four-server phase: web, Redis, MySQL and queue-worker droplets in one VPC. */
export class FourServer extends PhaseComponent {
  constructor(name: string, args: PhaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("four-server", name, args, opts);
  }
}
