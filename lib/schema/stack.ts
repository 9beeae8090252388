import { z } from "zod";
import { phpBudget, sizePools, type PhpBudget } from "../render/pool-sizing";
import { ConfigError, formatPath, problemsFromZod, type Problem } from "./errors";
import { sizeCpus, sizeMemoryMb } from "../plan/droplet-sizes";
import { hostCountsPerRole, Infrastructure, type InfrastructureInput, type Role, singleBoxRoles } from "./infrastructure";
import { App, appPortProblems, appSiteInput, type AppInput } from "./app";
import { Site, type SiteInput } from "./site";
import { Backups, backupSecretKeys, type BackupsInput } from "./backups";
import { Certificates, certificateProblems, defaultCertificates, type CertificatesInput } from "./certificates";
import { Monitoring, type MonitoringInput } from "./monitoring";

/**
 * The whole input of a stack: the `megaweb:*` keys of `stacks/Pulumi.<stack>.yaml` with the
 * prefix stripped. Rules that span sites (unique names, the PHP memory budget) live here.
 */
const Sites = z.array(Site).default([]);
/**
 * Day-two operations, each in its own module: certificates (lib/schema/certificates.ts), backups
 * (lib/schema/backups.ts) and monitoring (lib/schema/monitoring.ts).
 */
const Operations = z.object({ certificates: Certificates.default(defaultCertificates), backups: Backups.optional(), monitoring: Monitoring });

/**
 * The parts are parsed side by side, so the infrastructure schema keeps its own refinements
 * (which zod's `extend` refuses), and problems in all of them are reported together under their own paths.
 * An enabled app brings its own proxy site, appended to `sites`, so provisioning serves it like any site.
 */
export const Stack = z.looseObject({ sites: z.unknown().optional(), app: z.unknown().optional() }).transform((input, ctx) => {
  const { sites: sitesInput, app: appInput, certificates, backups, monitoring, ...infrastructureInput } = input;
  const infrastructure = Infrastructure.safeParse(infrastructureInput, { reportInput: true });
  const operations = Operations.safeParse({ certificates, backups, monitoring }, { reportInput: true });
  const sites = Sites.safeParse(sitesInput, { reportInput: true });
  const app = App.optional().safeParse(appInput, { reportInput: true });
  const forward = (issues: readonly z.core.$ZodIssue[], prefix: (string | number)[]) =>
    issues.forEach((issue) => ctx.addIssue({ ...issue, path: [...prefix, ...issue.path] as (string | number)[] } as z.core.$ZodRawIssue));
  if (!infrastructure.success) forward(infrastructure.error.issues, []);
  if (!sites.success) forward(sites.error.issues, ["sites"]);
  if (!app.success) forward(app.error.issues, ["app"]);
  if (!operations.success) forward(operations.error.issues, []);
  if (!infrastructure.success || !sites.success || !app.success || !operations.success) return z.NEVER;
  const deployedApp = app.data?.enabled ? app.data : undefined;
  const stack = {
    ...infrastructure.data,
    ...operations.data,
    app: app.data,
    sites: [...sites.data, ...(deployedApp ? [Site.parse(appSiteInput(deployedApp))] : [])],
  };
  const problems = [
    ...duplicateNames(sites.data, deployedApp?.domain),
    ...(deployedApp ? appPortProblems(deployedApp, sites.data) : []),
    ...budgetProblems(stack),
    ...certificateProblems(stack.sites),
    ...operationProblems(stack),
  ];
  for (const problem of problems) {
    ctx.addIssue({ code: "custom", path: [...problem.path] as (string | number)[], message: problem.message });
  }
  return stack;
});
export type Stack = z.output<typeof Stack>;
export type StackInput = InfrastructureInput & {
  sites?: SiteInput[];
  app?: AppInput;
  certificates?: CertificatesInput;
  backups?: BackupsInput;
  monitoring?: MonitoringInput;
};

/** Validates once, at the edge; everything past this point trusts the result. */
export function parseStack(input: unknown): Stack {
  // reportInput: messages tell a missing field from a mistyped one by the value that was given.
  const result = Stack.safeParse(input, { reportInput: true });
  if (!result.success) throw new ConfigError(problemsFromZod(result.error));
  return result.data;
}

/** Every domain and alias answers for exactly one site (the app's included), or two server blocks would claim it. */
function duplicateNames(sites: readonly Site[], appDomain: string | undefined): Problem[] {
  const owners = new Map<string, string>();
  const problems: Problem[] = [];
  const claim = (name: string, path: (string | number)[]) => {
    const owner = owners.get(name);
    if (owner === undefined) owners.set(name, formatPath(path));
    else problems.push({ path, message: `"${name}" is already used by ${owner}` });
  };
  sites.forEach((site, index) => claim(site.domain, ["sites", index, "domain"]));
  sites.forEach((site, index) => site.aliases.forEach((alias, aliasIndex) => claim(alias, ["sites", index, "aliases", aliasIndex])));
  if (appDomain !== undefined) claim(appDomain, ["app", "domain"]);
  return problems;
}

/** What the operations need of the topology: SFTP backups without a host of their own go to the stack's backup host. */
function operationProblems(stack: Pick<Stack, "phase" | "nodes" | "loadBalancer" | "sentinelHosts" | "backups">): Problem[] {
  const destination = stack.backups?.destination;
  if (destination?.kind === "sftp" && destination.host === undefined && hostCountsPerRole(stack).backup === 0) {
    return [
      {
        path: ["backups", "destination", "host"],
        message: "is required when the stack has no backup host (give one: nodes.backup: 1, or hosts.backup on existing hosts)",
      },
    ];
  }
  return [];
}

/**
 * Explicit pool sizes are checked against the web host the plan creates; existing hosts are
 * checked at render time instead, when the host's real memory is known.
 */
function budgetProblems(stack: Pick<Stack, "phase" | "target" | "sizes" | "sites" | "monitoring">): readonly Problem[] {
  const budget = plannedWebBudget(stack);
  return budget === undefined ? [] : sizePools(stack.sites, budget).problems;
}

/** The single box is the one web host and runs every other role too (as the plan has it); later, web hosts only serve. */
export function plannedWebBudget(stack: Pick<Stack, "phase" | "target" | "sizes" | "sites" | "monitoring">): PhpBudget | undefined {
  if (stack.target !== "digitalocean") return undefined;
  const single = stack.phase === "single";
  const size = stack.sizes.web;
  const memoryMb = sizeMemoryMb(size);
  const roles: Role[] = single ? singleBoxRoles(stack.monitoring.enabled) : ["web"];
  return phpBudget({ memoryMb, cpus: sizeCpus(size) }, roles, stack.sites, `a ${size} ${single ? "single box" : "web host"} of ${memoryMb} MB`);
}

/** Secrets the Pulumi program reads on its own, outside the schema (credentials, not the stack's shape). */
export const programSecretKeys: readonly string[] = [
  "megaweb:sshPrivateKey",
  "megaweb:apiToken",
  "megaweb:reservedIpToken",
  ...Object.values(backupSecretKeys),
];

/**
 * Pulumi stack config as written in a stack file: `megaweb:` keys become the stack's input;
 * other namespaces (`digitalocean:token`, …) belong to their providers and are left out.
 */
export function stackInputFromConfig(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config)
      .filter(([key]) => key.startsWith("megaweb:") && !programSecretKeys.includes(key))
      .map(([key, value]) => [key.slice("megaweb:".length), value]),
  );
}
