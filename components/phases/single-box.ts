import type * as pulumi from "@pulumi/pulumi";
import { type PhaseArgs, PhaseComponent } from "./phase";

/** The single phase: one droplet running the web server, PHP-FPM, MySQL, Redis and the queue worker. */
export class SingleBox extends PhaseComponent {
  constructor(name: string, args: PhaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("single", name, args, opts);
  }
}
