import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";

export interface ProjectArgs {
  /** @example "megaweb-prod" */
  readonly projectName: string;
  /** @default "Production" */
  readonly environment: "Development" | "Staging" | "Production";
  /** DigitalOcean URNs (`do:droplet:…`), not Pulumi URNs: droplets, load balancer, reserved IP. */
  readonly resourceUrns: pulumi.Input<string>[];
}

/** A DigitalOcean project holding everything the phase made, so the control panel groups and bills it together. */
export class Project extends pulumi.ComponentResource {
  readonly project: digitalocean.Project;

  constructor(name: string, args: ProjectArgs, opts?: pulumi.ComponentResourceOptions) {
    super("megaweb:digitalocean:Project", name, {}, opts);
    this.project = new digitalocean.Project(
      name,
      {
        name: args.projectName,
        purpose: "Web Application",
        environment: args.environment,
        description: "Managed by megaweb",
        resources: args.resourceUrns,
      },
      { parent: this },
    );
    this.registerOutputs({ project: this.project });
  }
}
