import { addressFrom, type ClusterSecret, localSockets, redisMasterName, secretPlaceholder, socketFrom } from "../plan/cluster";
import { privatePorts } from "../plan/firewall";
import type { PlannedHost } from "../plan/topology";
import type { CertificateRender } from "../render/certbot";
import type { HostDirectory, HostFile, SiteRender, WebHostRender } from "../render/files";
import { renderSiteEnvironment } from "../render/site-environment";
import { renderTemplate } from "../render/template";
import { siteSlug, type Site } from "../schema/site";
import { renderBalancedWeb } from "../render/balanced-web";
import { renderBalancerAgent } from "../render/balancer-agent";
import { resolveWebHost } from "../render/context";
import { renderFpmSessions } from "../render/php-fpm";
import { balancedWebInput, haproxyHosts } from "./balancer";
import type { ServerFacts } from "./facts";
import { haproxyStep } from "./haproxy";
import { acmeIssuerUpstream, letsencryptRender, letsencryptVhost } from "./certificates";
import { databaseMoveHost, databaseMoveStep, redisMoveOf } from "./data-move";
import { firewallStep } from "./host";
import { databaseStepsNamedFor, mysqlStep, siteDatabaseStep } from "./mysql";
import type { PlanContext, StepPlanner } from "./plan";
import { redisStep } from "./redis";
import { siteRedisEndpoint } from "./redis-proxy";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, type DeployFacts, factsOf, type PlannedStep, privateIpOf } from "./step";
import { sharesSessions, webHostFacts } from "./web-host";

/**
 * Every web host: the web tier (nginx, PHP-FPM per version, Apache or OpenLiteSpeed when a site
 * uses them), then per site its files, its custom TLS key, and its `.env`. A site's steps render
 * only that site's share of the host, so changing one site updates only its own steps.
 */

export const webStep = (host: string) => `${host}-web`;
export const siteStep = (host: string, domain: string) => `${host}-site-${siteSlug(domain)}`;
export const siteTlsKeyStep = (host: string, domain: string) => `${siteStep(host, domain)}-tls-key`;
export const siteEnvironmentStep = (host: string, domain: string) => `${siteStep(host, domain)}-env`;
export const siteSessionsStep = (host: string, domain: string) => `${siteStep(host, domain)}-sessions`;
export const webBalancerStep = (host: string) => `${host}-balancer`;
export const siteDatabaseMoveStep = (host: string, domain: string) => `${siteStep(host, domain)}-database-move`;

export const webSteps: StepPlanner = (context) =>
  context.topology.hosts
    .filter((host) => host.roles.includes("web"))
    .flatMap((host) => [
      webTierStep(context, host),
      ...context.stack.sites.flatMap((site, index) => siteSteps(context, host, site, index)),
      ...(haproxyHosts(context.topology).length > 0 ? [balancerStep(context, host)] : []),
    ]);

/** The modules of `lib/render/` that render the files of these sites. */
function renderersOf(sites: readonly Site[]): string {
  const servers = new Set(sites.map((site) => site.webServer));
  return [
    "nginx",
    ...(servers.has("apache") ? ["apache"] : []),
    ...(servers.has("openlitespeed") ? ["openlitespeed"] : []),
    ...(sites.some((site) => site.kind === "php") ? ["php-fpm"] : []),
  ].join(", ");
}

function webTierStep({ stack, topology, webHost }: PlanContext, host: PlannedHost): CommandStep {
  const upstream = acmeIssuerUpstream(topology, host);
  return {
    kind: "command",
    name: webStep(host.name),
    owner: "provisioning",
    host: host.name,
    dependsOn: [firewallStep(host.name)],
    inputs: [factsOf(host.name), ...upstream.inputs],
    reads: ["sites", "healthPath"],
    secrets: [],
    renderer: renderersOf(stack.sites),
    render: (at) => {
      const rendered = webHost(host, at);
      const render = { ...rendered, host: [...rendered.host, ...upstream.files(at)] };
      return { files: [...render.host, ...render.fpmUnits], create: webTierCommand(render, at.facts(host.name)) };
    },
  };
}

function siteSteps(context: PlanContext, host: PlannedHost, site: Site, index: number): PlannedStep[] {
  const { topology, webHost } = context;
  const siteOf = (at: DeployFacts): SiteRender => webHost(host, at).sites[index]!;
  const keyStep: CommandStep[] =
    site.tls.mode === "custom"
      ? [
          {
            kind: "command",
            name: siteTlsKeyStep(host.name, site.domain),
            owner: "provisioning",
            host: host.name,
            // The key must be on disk before nginx checks the vhost that names it.
            dependsOn: [webStep(host.name)],
            inputs: [factsOf(host.name)],
            reads: [`sites[${index}].tls.key`],
            secrets: [{ kind: "tlsKey", domain: site.domain }],
            renderer: "nginx",
            render: (at) => {
              const key = siteOf(at).files.find((file) => file.secret)!;
              return { files: [key], create: secretFileCommand(key), stdin: key.content };
            },
          },
        ]
      : [];
  const sessions = site.kind === "php" && sharesSessions(topology) ? [sessionsStep(context, host, site, index)] : [];
  // A site's PHP talks to the services of its own host, so those come up first.
  const services = [
    ...(host.roles.includes("mysql") ? [mysqlStep(host.name)] : []),
    ...(host.roles.includes("redis") ? [redisStep(host.name)] : []),
    ...(host.roles.includes("loadbalancer") ? [haproxyStep(host.name)] : []),
  ];
  const siteFiles: CommandStep = {
    kind: "command",
    name: siteStep(host.name, site.domain),
    owner: "provisioning",
    host: host.name,
    undoable: true,
    dependsOn: [webStep(host.name), ...keyStep.map((step) => step.name), ...sessions.map((step) => step.name), ...services],
    inputs: [factsOf(host.name)],
    reads: [`sites[${index}]`],
    secrets: [],
    renderer: renderersOf([site]),
    render: (at) => {
      const render = siteOf(at);
      const letsencrypt = site.tls.mode === "letsencrypt" ? letsencryptRender(context.stack, topology, host, index, at).render : undefined;
      return { files: render.files.filter((file) => !file.secret), create: siteCommand(render, letsencrypt), delete: siteDeleteCommand(render) };
    },
  };
  if (site.kind !== "php") return [...keyStep, siteFiles];

  const database = site.database;
  const move =
    database && databaseMoveHost(topology) === host
      ? [
          databaseMoveStep(topology, {
            name: siteDatabaseMoveStep(host.name, site.domain),
            owner: "provisioning",
            host,
            dependsOn: [siteFiles.name, siteDatabaseStep(databaseStepsNamedFor(topology), site.domain)],
            inputs: [factsOf(host.name)],
            reads: [`sites[${index}].database`],
            domain: site.domain,
            database,
            envFile: (at) => `${siteOf(at).home}/.env`,
            hostVariable: "DB_HOST",
          }),
        ]
      : [];
  const environment = siteEnvironmentCommandStep(context, host, site, index, [siteFiles.name, ...move.map((step) => step.name)], (at) => {
    const render = siteOf(at);
    return { home: render.home, group: render.account.group };
  });
  return [...keyStep, ...sessions, siteFiles, ...move, environment];
}

/**
 * A PHP site's `.env` on a host that runs its code (a web host, or a worker host running its
 * workers): its database and Redis, the passwords filled in on the way to stdin.
 */
export function siteEnvironmentCommandStep(
  { stack, topology }: PlanContext,
  host: PlannedHost,
  site: Site,
  index: number,
  after: readonly string[],
  layout: (at: DeployFacts) => { home: string; group: string },
): CommandStep {
  const mysql = topology.mysql.primary;
  const redis = siteRedisEndpoint(stack, topology, host);
  const { replicas } = topology.mysql;
  const { sentinels } = topology.redis;
  const secrets: ClusterSecret[] = [
    { kind: "redis" },
    ...(site.database ? [{ kind: "database" as const, domain: site.domain }] : []),
    ...(sentinels.length > 0 ? [{ kind: "sentinel" as const }] : []),
  ];
  return {
    kind: "command",
    name: siteEnvironmentStep(host.name, site.domain),
    owner: "provisioning",
    host: host.name,
    dependsOn: [...after, ...redis.after, ...(site.database ? [siteDatabaseStep(databaseStepsNamedFor(topology), site.domain)] : []), ...redisMoveOf(topology)],
    inputs: [
      factsOf(host.name),
      ...[...new Set([...redis.hosts, ...sentinels, ...(site.database ? [mysql, ...replicas] : [])])].filter((other) => other !== host.name).map(privateIpOf),
    ],
    reads: [`sites[${index}].database`],
    secrets,
    renderer: "site-environment",
    render: (at) => {
      const { home, group } = layout(at);
      const privateIp = (other: string) => at.privateIp(other);
      const env = renderSiteEnvironment({
        home,
        group,
        database: site.database && {
          host: addressFrom(host.name, mysql, privateIp),
          port: privatePorts.mysql,
          name: site.database.name,
          user: site.database.user,
          password: secretPlaceholder({ kind: "database", domain: site.domain }),
          readHosts: replicas.map((replica) => addressFrom(host.name, replica, privateIp)),
          socket: socketFrom(host.name, mysql, localSockets.mysql),
        },
        redis: { ...redis.at(at), password: secretPlaceholder({ kind: "redis" }) },
        sentinels:
          sentinels.length > 0
            ? {
                addresses: sentinels.map((sentinel) => `${addressFrom(host.name, sentinel, privateIp)}:${privatePorts.sentinel}`),
                masterName: redisMasterName,
                password: secretPlaceholder({ kind: "sentinel" }),
              }
            : undefined,
      });
      return { files: [env], create: secretFileCommand(env), stdin: env.content };
    },
  };
}

/**
 * The root-only file that points a PHP site's sessions at Redis, written before the site's FPM
 * master first starts; the Redis password arrives on stdin.
 */
function sessionsStep({ stack, topology }: PlanContext, host: PlannedHost, site: Site, index: number): CommandStep {
  const redis = siteRedisEndpoint(stack, topology, host);
  return {
    kind: "command",
    name: siteSessionsStep(host.name, site.domain),
    owner: "provisioning",
    host: host.name,
    dependsOn: [webStep(host.name), ...redis.after],
    inputs: [factsOf(host.name), ...redis.hosts.filter((other) => other !== host.name).map(privateIpOf)],
    reads: [`sites[${index}].sessions`],
    secrets: [{ kind: "redis" }],
    renderer: "php-fpm",
    render: (at) => {
      const context = resolveWebHost(stack.sites, webHostFacts(topology, host, at)).sites[index]!;
      const pool = context.pool!;
      const file = renderFpmSessions(
        site,
        { ...context, pool },
        { address: redis.at(at).host, port: redis.at(at).port, password: secretPlaceholder({ kind: "redis" }) },
      );
      const create = renderTemplate("provision/site-sessions.sh", {
        domain: site.domain,
        path: file.path,
        phpVersion: pool.phpVersion,
        master: pool.masterPath,
        unit: pool.unit,
      });
      return { files: [file], create: stepCommand(create), stdin: file.content };
    },
  };
}

/** The balancers' side of a web node (`balanced-web.ts`), once its sites' homes exist: PROXY protocol from the balancers, and their health check. */
function balancerStep({ stack, topology }: PlanContext, host: PlannedHost): CommandStep {
  return {
    kind: "command",
    name: webBalancerStep(host.name),
    owner: "provisioning",
    host: host.name,
    dependsOn: stack.sites.map((site) => siteStep(host.name, site.domain)),
    inputs: [factsOf(host.name), ...haproxyHosts(topology).map((balancer) => privateIpOf(balancer.name))],
    reads: ["sites", "app.port"],
    secrets: [],
    renderer: "balanced-web",
    render: (at) => {
      const input = balancedWebInput(stack, topology, host, at);
      const web = renderBalancedWeb(input);
      const agent = renderBalancerAgent({ host: input.host, balancers: input.balancers, checks: web.checks });
      return {
        files: [...web.files, ...agent.files],
        create: stepCommand(
          renderTemplate("provision/web-balancer.sh", { files: putFiles(web.files), agentFiles: putFiles(agent.files), socketUnit: agent.socketUnit }),
        ),
      };
    },
  };
}

/** PHP each release ships itself; other versions come from Ondřej Surý's repositories. */
const distributionPhp: Readonly<Record<string, string>> = { bookworm: "8.2", trixie: "8.4", jammy: "8.1", noble: "8.3" };

/** The repository step for PHP versions the host's release does not ship; empty when it ships them all. */
export function phpRepositoryScript(facts: Pick<ServerFacts, "os" | "codename">, versions: readonly string[]): string {
  const foreign = versions.filter((version) => distributionPhp[facts.codename] !== version);
  if (foreign.length === 0) return "";
  if (facts.os !== "debian" && facts.os !== "ubuntu") throw new Error(`PHP ${foreign.join(", ")} needs Debian or Ubuntu, not ${facts.os}`);
  return renderTemplate(`provision/php-repository-${facts.os}.sh`, { versions: foreign.join(", "), codename: facts.codename });
}

/** Host-wide web tier: packages, nginx.conf and its snippets, php.ini settings, the per-site FPM units, Apache's listener. */
export function webTierCommand(render: WebHostRender, facts: ServerFacts): string {
  const versions = render.phpVersions;
  const packages = [...render.packages, ...versions.map((version) => `php${version}-cli`)];
  const body = renderTemplate("provision/web.sh", {
    phpRepository: phpRepositoryScript(facts, versions),
    openLiteSpeedRepository: render.openlitespeed ? renderTemplate("provision/openlitespeed-repository.sh", { codename: facts.codename }) : "",
    openlitespeed: render.openlitespeed,
    packages: [...new Set(packages)].sort().join(" "),
    phpVersions: versions,
    units: putFiles(render.fpmUnits),
    directories: render.hostDirectories.map(directoryView),
    files: putFiles(render.host),
    apache: render.apache && { modules: render.apache.modules.join(" "), confs: render.apache.confs.join(" ") },
  });
  return stepCommand(body);
}

/** What the site scripts branch on: which daemons serve the site. */
function siteView(site: SiteRender) {
  return {
    domain: site.domain,
    slug: site.slug,
    user: site.account.user,
    home: site.home,
    apacheSite: site.apache && { slug: site.slug },
    olsSite: site.openlitespeed,
    fpm: site.fpm ?? false,
  };
}

/**
 * One site's account, directories and non-secret files, checked by its daemons before they reload.
 * A Let's Encrypt site's vhost is chosen on the host: HTTP-only until its certificate exists.
 */
export function siteCommand(site: SiteRender, letsencrypt?: CertificateRender): string {
  const files = site.files.filter((file) => !file.secret && file.path !== letsencrypt?.tlsVhost.path);
  return stepCommand(
    renderTemplate("provision/site.sh", {
      ...siteView(site),
      directories: site.directories.map(directoryView),
      files: [putFiles(files), ...(letsencrypt ? [letsencryptVhost(letsencrypt)] : [])].join("\n"),
    }),
  );
}

/** Removes what `siteCommand` made: vhost, pool, FPM master and account; the home is moved aside. */
export function siteDeleteCommand(site: SiteRender): string {
  return stepCommand(
    renderTemplate(
      "provision/site-delete.sh",
      { ...siteView(site), paths: site.files.map((file) => file.path).join(" ") },
      { homeAside: "provision/site-home-aside.sh" },
    ),
  );
}

/**
 * A secret file (a site's credentials, a custom TLS key): the script is visible, the content
 * arrives on stdin, so it never stands in a command string, a log or the preview.
 */
export function secretFileCommand(file: Pick<HostFile, "path" | "mode" | "owner">): string {
  return stepCommand(renderTemplate("provision/secret-file.sh", { path: file.path, mode: file.mode ?? "0600", owner: file.owner ?? "root:root" }));
}

function directoryView(directory: HostDirectory) {
  const [user, group] = directory.owner.split(":");
  return { path: directory.path, mode: directory.mode, user, group: group ?? user };
}
