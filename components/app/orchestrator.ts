import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { planTopology } from "../../lib/plan/topology";
import type { Stack } from "../../lib/schema/stack";
import type { Host } from "../host";
import { databaseCommand, databaseDeleteCommand, type SiteDatabase } from "../provision/data";
import type { Provisioning } from "../provision/provisioning";
import { derivedPassword } from "../provision/secrets";
import { remoteStep } from "../provision/step";
import { defaultArtifactPath, readArtifact } from "./artifact";
import { environmentCommand, environmentDeleteCommand, installCommand, type OrchestratorUnit, uninstallCommand, uploadPath } from "./commands";
import { environmentFile, type RedisEndpoint } from "./environment";

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
  /** The phase's provisioning: the app starts after the web tier, its site, MySQL and Redis are configured. */
  readonly provisioning: Provisioning;
}

/** What the component runs on one host. */
export interface OrchestratorHostSteps {
  readonly upload: command.remote.CopyToRemote;
  readonly environment: command.remote.Command;
  readonly install: command.remote.Command;
}

/**
 * The MegaWeb Orchestrator on the phase's hosts: the artifact uploaded to every web and worker
 * host, Node.js from the distribution, systemd units rendered from `templates/systemd`, an
 * environment file written by a secret-only step, and the app's database on the MySQL primary.
 * A host's units restart only when its release or its environment changed.
 */
export class Orchestrator extends pulumi.ComponentResource {
  /** Where the control panel and the API answer, through nginx on the web hosts. */
  readonly url: string;
  readonly version: string;
  /** sha256 of the deployed tarball. */
  readonly artifactSha256: string;
  /** Per host name, for the web and worker hosts. */
  readonly steps: Record<string, OrchestratorHostSteps>;
  /** The app's database and user, on the MySQL primary. */
  readonly database: command.remote.Command;

  constructor(name: string, args: OrchestratorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("megaweb:app:Orchestrator", name, {}, opts);
    const { config, hosts } = args;
    const app = config.app;
    if (!app?.enabled) throw new Error("the Orchestrator component needs an enabled app section (megaweb:app)");
    const artifact = readArtifact(app.artifact ?? defaultArtifactPath());
    const plan = planTopology(config);
    const byName = new Map(hosts.map((host) => [host.name, host]));
    const hostNamed = (hostName: string) => {
      const host = byName.get(hostName);
      if (host === undefined) throw new Error(`the plan's host ${hostName} is not among the hosts given to the Orchestrator`);
      return host;
    };
    const mysqlPrimary = hostNamed(plan.mysql.primary);
    const redisPrimary = hostNamed(plan.redis.primary);
    const appHosts = hosts.filter((host) => unitsOf(host).length > 0);
    const stepsOf = (host: Host) => args.provisioning.steps[host.name] ?? failMissingSteps(host);

    // The same derivations as provisioning's, from the same root secret, so no password needs state of its own.
    const rootSecret = hosts[0]?.connection.privateKey;
    if (rootSecret === undefined) throw new Error("the Orchestrator needs the hosts' SSH private key (megaweb:sshPrivateKey)");
    const databasePassword = derivedPassword(rootSecret, `mysql:${app.domain}`);
    const redisPassword = derivedPassword(rootSecret, "redis");

    /** How `client` reaches `server`: loopback when they are one host (MySQL and Redis listen there), else the private address. */
    const addressFrom = (client: Host, server: Host) => (client === server ? pulumi.output("127.0.0.1") : pulumi.output(server.privateIp));

    // MySQL sees a client on its own host at loopback; the others at their private addresses.
    const clients = appHosts.map((host) => (host === mysqlPrimary ? pulumi.output("127.0.0.1") : pulumi.output(host.privateIp)));
    const database: pulumi.Output<SiteDatabase> = pulumi.all(clients).apply((addresses) => ({
      domain: app.domain,
      database: app.database.name,
      user: app.database.user,
      charset: "utf8mb4",
      clients: [...new Set(addresses)].sort(),
    }));
    this.database = remoteStep(
      `${name}-${mysqlPrimary.name}-database`,
      {
        host: mysqlPrimary,
        create: database.apply(databaseCommand),
        delete: database.apply(databaseDeleteCommand),
        secretStdin: pulumi.interpolate`${databasePassword}\n`,
        dependsOn: [stepsOf(mysqlPrimary).roles.mysql ?? failMissingSteps(mysqlPrimary)],
      },
      this,
    );
    const redisStep = stepsOf(redisPrimary).roles.redis ?? failMissingSteps(redisPrimary);

    /** The host's environment file, with every address as this host reaches it. */
    const environmentOf = (host: Host): pulumi.Output<string> => {
      const reach = (hostName: string) => addressFrom(host, hostNamed(hostName));
      const redis: pulumi.Output<RedisEndpoint> =
        plan.redis.sentinels.length > 0
          ? pulumi.all([redisPassword, pulumi.all(plan.redis.sentinels.map(reach))]).apply(([password, sentinels]) => ({ password, sentinels }))
          : pulumi.all([redisPassword, reach(plan.redis.primary)]).apply(([password, address]) => ({ password, address }));
      const values = pulumi.all([args.apiToken, databasePassword, reach(plan.mysql.primary), pulumi.all(plan.mysql.replicas.map(reach)), redis]);
      return pulumi.secret(
        values.apply(([apiToken, password, primary, replicas, redisEndpoint]) =>
          environmentFile({ app, apiToken, database: { name: app.database.name, user: app.database.user, password, primary, replicas }, redis: redisEndpoint }),
        ),
      );
    };

    this.steps = {};
    for (const host of appHosts) {
      const prefix = `${name}-${host.name}`;
      const units = unitsOf(host);
      const hostSteps = stepsOf(host);
      const upload = new command.remote.CopyToRemote(
        `${prefix}-artifact`,
        { connection: host.connection, source: new pulumi.asset.FileAsset(artifact.path), remotePath: uploadPath(artifact) },
        { parent: this, dependsOn: [hostSteps.base], deletedWith: host.server, replaceWith: host.server === undefined ? undefined : [host.server] },
      );
      const environment = remoteStep(
        `${prefix}-environment`,
        {
          host,
          create: environmentCommand(units, app.port),
          delete: environmentDeleteCommand(),
          secretStdin: environmentOf(host),
          dependsOn: [hostSteps.base],
        },
        this,
      );
      const siteStep = hostSteps.sites[app.domain];
      const install = remoteStep(
        `${prefix}-install`,
        {
          host,
          create: installCommand(units, app.port, artifact),
          delete: uninstallCommand(units),
          dependsOn: [upload, environment, this.database, redisStep, hostSteps.firewall, ...(siteStep === undefined ? [] : [siteStep])],
        },
        this,
      );
      this.steps[host.name] = { upload, environment, install };
    }

    this.url = `${app.tls.mode === "none" ? "http" : "https"}://${app.domain}/`;
    this.version = artifact.version;
    this.artifactSha256 = artifact.sha256;
    this.registerOutputs({ url: this.url, version: this.version, artifactSha256: this.artifactSha256 });
  }
}

/** The units a host runs by its roles; the single box runs both. */
export function unitsOf(host: Pick<Host, "roles">): OrchestratorUnit[] {
  return [
    ...(host.roles.includes("web") ? (["orchestrator-web.service"] as const) : []),
    ...(host.roles.includes("worker") ? (["orchestrator-worker.service"] as const) : []),
  ];
}

function failMissingSteps(host: Host): never {
  throw new Error(`provisioning has no steps for ${host.name}'s roles (${host.roles.join(", ")}); the Orchestrator must get the phase's own Provisioning`);
}
