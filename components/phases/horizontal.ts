import type * as pulumi from "@pulumi/pulumi";
import { type PhaseArgs, PhaseComponent } from "./phase";

/** The horizontal phase: a load balancer (DigitalOcean's, or an HAProxy droplet behind a reserved IP) in front of N web droplets, with Redis, MySQL and M workers. */
export class Horizontal extends PhaseComponent {
  constructor(name: string, args: PhaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("horizontal", name, args, opts);
  }
}
