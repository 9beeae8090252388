import type { PlannedHost } from "../plan/topology";
import { resolveWebHost, type HostContext, type SiteContext } from "../render/context";
import { renderDeployScript, renderSiteDeploy, renderSiteDeployStep } from "../render/deploy";
import { codeRuntimePackages } from "../render/files";
import { renderSiteWorkers, renderSiteWorkersDeleteStep, renderSiteWorkersStep } from "../render/site-workers";
import { renderTemplate } from "../render/template";
import type { SiteCode } from "../schema/deploy";
import type { Site } from "../schema/site";
import { firewallStep } from "./host";
import type { PlanContext, StepPlanner } from "./plan";
import { redisStep } from "./redis";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, type DeployFacts, factsOf } from "./step";
import { haproxyHosts } from "./balancer";
import { phpRepositoryScript, siteEnvironmentCommandStep, siteEnvironmentStep, siteStep, webBalancerStep } from "./web";
import { sizingFacts } from "./web-host";

/**
 * Sites with code (lib/render/DEPLOY.md): on every host that runs a site's code, its deploy step
 * (megaweb-deploy and the site's settings, then a deploy); on the phase's worker hosts its
 * workers and schedule as systemd units. A worker host that serves no site gets the site's PHP
 * command line, account, home and `.env` from its own steps, so the workers find what the web
 * hosts have. Deploys run one after another (`codeDeploys`): a site's first host takes the
 * migration, and a failed one stops the rest with every other host still serving its live release.
 */

export const codeRuntimeStep = (host: string) => `${host}-code-runtime`;
export const siteWorkersStep = (host: string, domain: string) => `${siteStep(host, domain)}-workers`;
export const siteDeployStep = (host: string, domain: string) => `${siteStep(host, domain)}-deploy`;

type CodeSite = Site & { code: SiteCode };

const hasCode = (site: Site): site is CodeSite => site.code !== undefined;
const hasWorkers = (site: Site) => site.workers.length > 0 || site.schedule.length > 0;

/** The sites a worker host that serves no site still gets an account, a home and a `.env` for. */
export const workerOnlyHostSites = (stack: PlanContext["stack"]): Site[] => stack.sites.filter((site) => hasCode(site) && hasWorkers(site));

export const deploySteps: StepPlanner = (context) => {
  const { stack, topology } = context;
  const workerHosts = topology.hosts.filter((host) => host.roles.includes("worker"));
  const steps: CommandStep[] = workerHosts
    .filter((host) => !host.roles.includes("web"))
    .flatMap((host) => workerOnlyHostSteps(context, host, workerOnlyHostSites(stack)));
  let previousDeploy: string | undefined;
  for (const { host, site, index } of codeDeploys(context)) {
    const worker = host.roles.includes("worker") && hasWorkers(site) ? workersStep(context, host, site, index, host === workerHosts[0]) : undefined;
    if (worker) steps.push(worker);
    const deploy = deployStep(context, host, site, index, worker, previousDeploy);
    steps.push(deploy);
    previousDeploy = deploy.name;
  }
  return steps;
};

/**
 * Every deploy of the plan in the one order they run: site by site, each on its web hosts first
 * (the first of them runs the migration while the others keep serving), then on the worker hosts
 * that run its workers. One at a time across sites too, so behind balancers at most one node is
 * drained (megaweb-drain) whatever number of sites deploy in the same `pulumi up`.
 */
function codeDeploys({ stack, topology }: PlanContext): { host: PlannedHost; site: CodeSite; index: number }[] {
  const webHosts = topology.hosts.filter((host) => host.roles.includes("web"));
  const workerOnlyHosts = topology.hosts.filter((host) => host.roles.includes("worker") && !host.roles.includes("web"));
  return stack.sites.flatMap((site, index) =>
    hasCode(site) ? [...webHosts, ...(hasWorkers(site) ? workerOnlyHosts : [])].map((host) => ({ host, site, index })) : [],
  );
}

/** The deploy that runs last; what the orchestrator's rolling restart waits for. */
export function lastSiteDeployStep(context: PlanContext): string | undefined {
  const last = codeDeploys(context).at(-1);
  return last && siteDeployStep(last.host.name, last.site.domain);
}

/** The host and site facts the deploy and workers renderers take, from the host's facts. */
function contextsOf({ stack }: PlanContext, host: PlannedHost, at: DeployFacts): { host: HostContext; sites: SiteContext[] } {
  return resolveWebHost(stack.sites, sizingFacts(host, at));
}

function workersStep(context: PlanContext, host: PlannedHost, site: CodeSite, index: number, schedule: boolean): CommandStep {
  const render = (at: DeployFacts) => {
    const contexts = contextsOf(context, host, at);
    return renderSiteWorkers(site, contexts.sites[index]!, contexts.host, { schedule });
  };
  return {
    kind: "command",
    name: siteWorkersStep(host.name, site.domain),
    owner: "provisioning",
    host: host.name,
    undoable: true,
    dependsOn: [siteStep(host.name, site.domain)],
    inputs: [factsOf(host.name)],
    reads: [`sites[${index}].workers`, `sites[${index}].schedule`],
    secrets: [],
    renderer: "site-workers",
    render: (at) => {
      const workers = render(at);
      return { files: workers.files, create: stepCommand(renderSiteWorkersStep(workers, putFiles)), delete: stepCommand(renderSiteWorkersDeleteStep(workers)) };
    },
  };
}

function deployStep(
  context: PlanContext,
  host: PlannedHost,
  site: CodeSite,
  index: number,
  workers: CommandStep | undefined,
  previousDeploy?: string,
): CommandStep {
  const { topology } = context;
  const redis = topology.redis.primary;
  return {
    kind: "command",
    name: siteDeployStep(host.name, site.domain),
    owner: "provisioning",
    host: host.name,
    undoable: true,
    dependsOn: [
      siteStep(host.name, site.domain),
      // The migration runs against the site's database and takes its lock in the site's Redis.
      ...(site.kind === "php" ? [siteEnvironmentStep(host.name, site.domain), redisStep(redis)] : []),
      ...(workers ? [workers.name] : []),
      ...(previousDeploy ? [previousDeploy] : []),
      // Its switch drains the node through the agent this step installs.
      ...(haproxyHosts(topology).length > 0 && host.roles.includes("web") ? [webBalancerStep(host.name)] : []),
    ],
    inputs: [factsOf(host.name)],
    reads: [`sites[${index}].code`],
    secrets: [],
    renderer: "deploy",
    render: (at) => {
      const contexts = contextsOf(context, host, at);
      const workerUnits = workers ? renderSiteWorkers(site, contexts.sites[index]!, contexts.host).workerUnits : [];
      const deploy = renderSiteDeploy(site, contexts.sites[index]!, contexts.host, { workerUnits });
      const script = renderDeployScript(contexts.host);
      return {
        files: [script, deploy.config],
        create: stepCommand(renderSiteDeployStep(deploy, script, putFiles)),
        // The releases stay in the home, which the site's own step keeps aside when the site goes.
        delete: stepCommand(`rm -f ${deploy.config.path}`),
      };
    },
  };
}

/** A worker host that serves no site: the code's runtime, and per site with workers its account, home and `.env`. */
function workerOnlyHostSteps(context: PlanContext, host: PlannedHost, sites: readonly Site[]): CommandStep[] {
  if (sites.length === 0) return [];
  const runtime: CommandStep = {
    kind: "command",
    name: codeRuntimeStep(host.name),
    owner: "provisioning",
    host: host.name,
    dependsOn: [firewallStep(host.name)],
    inputs: [factsOf(host.name)],
    reads: ["sites"],
    secrets: [],
    render: (at) => {
      const versions = [...new Set(sites.filter((site) => site.kind === "php").map((site) => site.phpVersion))].sort();
      const body = renderTemplate("provision/code-runtime.sh", {
        phpRepository: phpRepositoryScript(at.facts(host.name), versions),
        packages: codeRuntimePackages(sites).join(" "),
      });
      return { files: [], create: stepCommand(body) };
    },
  };
  return [
    runtime,
    ...sites.flatMap((site) => {
      const index = context.stack.sites.indexOf(site);
      const siteOf = (at: DeployFacts) => contextsOf(context, host, at).sites[index]!;
      const account: CommandStep = {
        kind: "command",
        name: siteStep(host.name, site.domain),
        owner: "provisioning",
        host: host.name,
        undoable: true,
        dependsOn: [runtime.name],
        inputs: [factsOf(host.name)],
        reads: [`sites[${index}].domain`],
        secrets: [],
        render: (at) => {
          const site = siteOf(at);
          const { user, group } = site.account;
          const view = { domain: site.serverNames[0], slug: site.slug, user, group, home: site.home };
          const directories = [
            { path: site.home, mode: "0750", user, group },
            { path: `${site.home}/logs`, mode: "0750", user, group },
          ];
          return {
            files: [],
            create: stepCommand(renderTemplate("provision/site-account.sh", { ...view, directories })),
            delete: stepCommand(renderTemplate("provision/site-account-delete.sh", view, { homeAside: "provision/site-home-aside.sh" })),
          };
        },
      };
      const environment =
        site.kind === "php"
          ? [
              siteEnvironmentCommandStep(context, host, site, index, [account.name], (at) => {
                const { home, account } = siteOf(at);
                return { home, group: account.group };
              }),
            ]
          : [];
      return [account, ...environment];
    }),
  ];
}
