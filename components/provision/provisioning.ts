import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { planTopology } from "../../lib/plan/topology";
import { siteSlug } from "../../lib/schema/site";
import { renderWebHost, type SiteRender, type WebHostRender } from "../../lib/render/files";
import type { Site } from "../../lib/schema/site";
import type { Stack } from "../../lib/schema/stack";
import type { Role } from "../../lib/schema/infrastructure";
import type { Host } from "../host";
import { baseCommand, factsCommand, firewallCommand, hostFirewallRules, nftablesConfig, parseFacts, type ServerFacts } from "./base";
import { databaseCommand, databaseDeleteCommand, haproxyCommand, mysqlCommand, redisCommand, type SiteDatabase } from "./data";
import { derivedPassword } from "./secrets";
import { remoteStep } from "./step";
import { homeOf, secretFileCommand, siteCommand, siteDeleteCommand, webRoleCommand } from "./web";

/** The validated stack config as provisioning reads it. */
export type ProvisioningConfig = Stack;

export interface ProvisioningArgs {
  /**
   * The servers to configure, whatever made them (droplets or existing hosts). Each gets the base
   * steps and the steps of its roles; web hosts get every site.
   * @example phase.hosts
   */
  readonly hosts: readonly Host[];
  /** The validated stack config (the `megaweb:*` keys after the root schema parsed them). */
  readonly config: ProvisioningConfig;
}

/** The steps of one host, by what they configure. */
export interface HostSteps {
  readonly facts: command.remote.Command;
  readonly base: command.remote.Command;
  readonly firewall: command.remote.Command;
  readonly roles: Partial<Record<Role, command.remote.Command>>;
  /** Per site domain, on web hosts. */
  readonly sites: Record<string, command.remote.Command>;
}

/**
 * Configures servers over SSH with idempotent remote steps: base system and firewall, then roles
 * (web tier, MariaDB, Redis, HAProxy), then one step per site, so changing a site touches only its steps.
 * The same steps run on droplets and on existing hosts.
 */
export class Provisioning extends pulumi.ComponentResource {
  /** Per host name. */
  readonly steps: Record<string, HostSteps>;
  /** What each host reported about itself (OS, release, memory), per host name. */
  readonly facts: pulumi.Output<Record<string, ServerFacts>>;

  constructor(name: string, args: ProvisioningArgs, opts?: pulumi.ComponentResourceOptions) {
    super("megaweb:provision:Provisioning", name, {}, opts);
    const { config, hosts } = args;
    const plan = planTopology(config);
    const byName = new Map(hosts.map((host) => [host.name, host]));
    const mysqlHost = byName.get(plan.mysql.primary);
    const redisHost = byName.get(plan.redis.primary);
    const rootSecret = hosts[0]?.connection.privateKey;
    if (rootSecret === undefined) throw new Error("provisioning needs the hosts' SSH private key (megaweb:sshPrivateKey)");
    const redisPassword = derivedPassword(rootSecret, "redis");
    const privateIps = pulumi.all(hosts.map((host) => host.privateIp));
    /** The other hosts, as a host's firewall sees them; its own traffic to itself arrives on loopback. */
    const peersOf = (self: Host) =>
      privateIps.apply((addresses) => hosts.flatMap((host, index) => (host === self ? [] : [{ privateIp: addresses[index]!, roles: host.roles }])));
    /** Whether any host other than `self` has one of `roles`: then a service must listen beyond loopback. */
    const servesOthers = (self: Host, roles: readonly Role[]) => hosts.some((other) => other !== self && other.roles.some((role) => roles.includes(role)));

    const steps: Record<string, HostSteps> = {};
    const allFacts: pulumi.Output<[string, ServerFacts]>[] = [];
    const databaseSteps = new Map<string, command.remote.Command>();

    for (const host of hosts) {
      const prefix = `${name}-${host.name}`;
      const facts = remoteStep(`${prefix}-facts`, { host, create: factsCommand(), dialErrorLimit: 60 }, this);
      const serverFacts = facts.stdout.apply(parseFacts);
      allFacts.push(serverFacts.apply((value) => [host.name, value] as [string, ServerFacts]));
      const base = remoteStep(`${prefix}-base`, { host, create: baseCommand(config.sshPublicKeys), dependsOn: [facts] }, this);
      const firewall = remoteStep(
        `${prefix}-firewall`,
        {
          host,
          create: peersOf(host).apply((peers) =>
            firewallCommand(nftablesConfig(host.name, host.roles, hostFirewallRules(host.roles, plan.firewall, peers, config.adminCidrs))),
          ),
          dependsOn: [base],
        },
        this,
      );
      const roles: Partial<Record<Role, command.remote.Command>> = {};
      if (host.roles.includes("mysql")) {
        const bindAddress = servesOthers(host, ["web", "worker", "mysql"]) ? pulumi.output(host.privateIp) : pulumi.output("127.0.0.1");
        roles.mysql = remoteStep(`${prefix}-mysql`, { host, create: bindAddress.apply(mysqlCommand), dependsOn: [firewall] }, this);
      }
      if (host.roles.includes("redis")) {
        const bind = servesOthers(host, ["web", "worker", "redis", "sentinel"])
          ? pulumi.output(host.privateIp).apply((ip) => ["127.0.0.1", ip])
          : pulumi.output(["127.0.0.1"]);
        const dedicated = host.roles.every((role) => role === "redis" || role === "sentinel");
        roles.redis = remoteStep(
          `${prefix}-redis`,
          {
            host,
            create: pulumi.all([bind, serverFacts]).apply(([addresses, { memoryMb }]) => redisCommand(addresses, memoryMb, dedicated)),
            secretStdin: pulumi.interpolate`${redisPassword}\n`,
            dependsOn: [firewall],
          },
          this,
        );
      }
      if (host.roles.includes("loadbalancer")) {
        const webHosts = hosts.filter((each) => each.roles.includes("web"));
        const backends = pulumi
          .all(webHosts.map((each) => each.privateIp))
          .apply((addresses) => webHosts.map((each, index) => ({ name: each.name, address: addresses[index]! })));
        roles.loadbalancer = remoteStep(
          `${prefix}-haproxy`,
          { host, create: backends.apply((all) => haproxyCommand(all, config.healthPath)), dependsOn: [firewall] },
          this,
        );
      }
      if (mysqlHost === host) {
        for (const site of config.sites.filter((each) => each.database !== undefined)) {
          const database = siteDatabase(site, host, hosts);
          databaseSteps.set(
            site.domain,
            remoteStep(
              `${prefix}-db-${siteSlug(site.domain)}`,
              {
                host,
                create: database.apply(databaseCommand),
                delete: database.apply(databaseDeleteCommand),
                secretStdin: pulumi.interpolate`${derivedPassword(rootSecret, `mysql:${site.domain}`)}\n`,
                dependsOn: [roles.mysql!],
              },
              this,
            ),
          );
        }
      }
      steps[host.name] = { facts, base, firewall, roles, sites: {} };
    }

    for (const host of hosts.filter((each) => each.roles.includes("web"))) {
      const prefix = `${name}-${host.name}`;
      const hostSteps = steps[host.name]!;
      const render: pulumi.Output<WebHostRender> = hostSteps.facts.stdout.apply((stdout) =>
        renderWebHost(config, { name: host.name, memoryMb: parseFacts(stdout).memoryMb, roles: host.roles }),
      );
      const web = remoteStep(
        `${prefix}-web`,
        {
          host,
          create: pulumi.all([render, hostSteps.facts.stdout]).apply(([rendered, stdout]) => webRoleCommand(rendered, parseFacts(stdout))),
          dependsOn: [hostSteps.firewall],
        },
        this,
      );
      hostSteps.roles.web = web;
      config.sites.forEach((site, index) => {
        const slug = siteSlug(site.domain);
        const siteRender: pulumi.Output<SiteRender> = render.apply((rendered) => rendered.sites[index]!);
        const sitePrefix = `${prefix}-site-${slug}`;
        // A custom TLS key must be on disk before nginx checks the vhost that names it.
        const keys = site.tls.mode === "custom" && typeof site.tls.key === "string" ? [site.tls.key] : [];
        const keySteps = keys.map((key) =>
          remoteStep(
            `${sitePrefix}-tls-key`,
            {
              host,
              create: siteRender.apply((rendered) => secretFileCommand(rendered.files.find((file) => file.secret)!)),
              secretStdin: key,
              dependsOn: [web],
            },
            this,
          ),
        );
        const siteStep = remoteStep(
          sitePrefix,
          {
            host,
            create: siteRender.apply(siteCommand),
            delete: siteRender.apply(siteDeleteCommand),
            dependsOn: [web, ...keySteps, ...Object.values(hostSteps.roles).filter((step) => step !== web)],
          },
          this,
        );
        hostSteps.sites[site.domain] = siteStep;
        if (site.kind !== "php") return;
        const databaseStep = databaseSteps.get(site.domain);
        const environment = pulumi
          .all([
            pulumi.output(redisHost === host || redisHost === undefined ? "127.0.0.1" : redisHost.privateIp),
            redisPassword,
            databaseStep === undefined ? undefined : siteDatabase(site, mysqlHost!, hosts),
            databaseStep === undefined ? undefined : derivedPassword(rootSecret, `mysql:${site.domain}`),
            pulumi.output(mysqlHost === host || mysqlHost === undefined ? "localhost" : mysqlHost.privateIp),
          ])
          .apply(([redisAddress, redisSecret, database, databasePassword, databaseAddress]) =>
            [
              ...(database === undefined || databasePassword === undefined
                ? []
                : [
                    `DB_HOST=${databaseAddress}`,
                    "DB_PORT=3306",
                    `DB_DATABASE=${database.database}`,
                    `DB_USERNAME=${database.user}`,
                    `DB_PASSWORD=${databasePassword}`,
                  ]),
              `REDIS_HOST=${redisAddress}`,
              "REDIS_PORT=6379",
              `REDIS_PASSWORD=${redisSecret}`,
              "",
            ].join("\n"),
          );
        remoteStep(
          `${sitePrefix}-env`,
          {
            host,
            create: siteRender.apply((rendered) =>
              secretFileCommand({ path: `${homeOf(rendered)}/.env`, mode: "0640", owner: `root:${rendered.account.group}` }),
            ),
            secretStdin: environment,
            dependsOn: [siteStep, ...(databaseStep === undefined ? [] : [databaseStep])],
          },
          this,
        );
      });
    }

    this.steps = steps;
    this.facts = pulumi.all(allFacts).apply((entries) => Object.fromEntries(entries));
    this.registerOutputs({ facts: this.facts });
  }
}

/** The site's database as MySQL sees it: names default to the slug, clients are its web and worker hosts. */
function siteDatabase(site: Site, mysqlHost: Host, hosts: readonly Host[]): pulumi.Output<SiteDatabase> {
  const clientHosts = hosts.filter((host) => host.roles.includes("web") || host.roles.includes("worker"));
  const clients = pulumi.all(clientHosts.map((host) => (host === mysqlHost ? pulumi.output("localhost") : pulumi.output(host.privateIp))));
  return clients.apply((addresses) => ({
    domain: site.domain,
    database: site.database!.name,
    user: site.database!.user,
    charset: site.database!.charset,
    clients: [...new Set(addresses)].sort(),
  }));
}
