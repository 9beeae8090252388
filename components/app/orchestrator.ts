import * as pulumi from "@pulumi/pulumi";
import type { Stack } from "../../lib/schema/stack";
import { appDatabaseStep } from "../../lib/steps/orchestrator";
import { databaseStepsNamedFor } from "../../lib/steps/mysql";
import { stepsOf } from "../../lib/steps/plan";
import type { Host } from "../host";
import type { Provisioning } from "../provision/provisioning";
import { secretValue } from "../provision/secrets";
import { runStep, type StepRunner } from "../provision/step";

export interface OrchestratorArgs {
  /**
   * The phase's servers. Web hosts run the web process behind nginx, worker hosts the worker; the
   * MySQL primary gets the app's database.
   * @example phase.hosts
   */
  readonly hosts: readonly Host[];
  /** The validated stack config; its `app` section must be enabled. */
  readonly config: Stack;
  /**
   * `MEGAWEB_API_TOKEN`, which every POST, PUT and DELETE must present. Pass it as a secret.
   * @example config.requireSecret("apiToken")
   */
  readonly apiToken: pulumi.Input<string>;
  /**
   * The phase's provisioning: its step plan holds the app's steps too, and the app starts after
   * the web tier, its site, MySQL and Redis are configured.
   */
  readonly provisioning: Provisioning;
}

/**
 * The MegaWeb Orchestrator on the phase's hosts: the app's steps of the plan (`lib/steps/orchestrator.ts`),
 * each one remote command named `<name>-<step name>`: the artifact uploaded to every web and worker
 * host, an environment file written by a secret-only step, the units installed from the release,
 * and the app's database on the MySQL primary.
 */
export class Orchestrator extends pulumi.ComponentResource {
  /** Where the control panel and the API answer, through nginx on the web hosts. */
  readonly url: string;
  readonly version: string;
  /** sha256 of the deployed tarball. */
  readonly artifactSha256: string;
  /** Every step made, by its planned name (`web-1-install`). */
  readonly steps: Readonly<Record<string, pulumi.Resource>>;
  /** The app's database and user, on the MySQL primary. */
  readonly database: pulumi.Resource;

  constructor(name: string, args: OrchestratorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("megaweb:app:Orchestrator", name, {}, opts);
    const { plan } = args.provisioning;
    const app = args.config.app;
    if (!app?.enabled) throw new pulumi.ResourceError("the Orchestrator component needs an enabled app section (megaweb:app)", this);
    const artifact = plan.artifact;
    if (artifact === undefined)
      throw new pulumi.ResourceError("the provisioning's step plan was made without the app's artifact (planSteps(…, { artifact }))", this);
    const rootSecret = args.hosts[0]?.connection.privateKey;
    if (rootSecret === undefined) throw new pulumi.ResourceError("the Orchestrator needs the hosts' SSH private key (megaweb:sshPrivateKey)", this);

    // The provisioning's steps are what the app's wait for; both derive their secrets from the same root.
    const made = new Map(Object.entries(args.provisioning.steps));
    const runner: StepRunner = {
      parent: this,
      name,
      hosts: new Map(args.hosts.map((host) => [host.name, host])),
      made,
      facts: (host) => args.provisioning.factsOf(host),
      secret: (secret) => secretValue(secret, { rootSecret, stack: plan.stack, apiToken: args.apiToken }),
    };
    const own = stepsOf(plan, "orchestrator");
    for (const step of own) made.set(step.name, runStep(step, runner));

    this.steps = Object.fromEntries(own.map((step) => [step.name, made.get(step.name)!]));
    this.database = this.steps[appDatabaseStep(databaseStepsNamedFor(plan.topology))]!;
    this.url = `${app.tls.mode === "none" ? "http" : "https"}://${app.domain}/`;
    this.version = artifact.version;
    this.artifactSha256 = artifact.sha256;
    this.registerOutputs({ url: this.url, version: this.version, artifactSha256: this.artifactSha256 });
  }
}
