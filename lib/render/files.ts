import type { Site } from "../schema/site";
import type { Stack } from "../schema/stack";
import { resolveWebHost, type Account, type HostContext, type HostFacts, type SiteContext } from "./context";
import { renderApacheHost, renderApacheSite } from "./apache";
import { renderNginxHost, renderNginxSite } from "./nginx";
import { renderOpenLiteSpeedHost, renderOpenLiteSpeedSite } from "./openlitespeed";
import { renderFpmIni, renderFpmPool } from "./php-fpm";

/**
 * What rendering produces for a host: files with their absolute paths on that host. Provisioning
 * writes exactly these; per-site files are kept apart from host-wide ones so a change to one site
 * touches only that site's files (and only that site's provisioning step).
 */

export interface HostFile {
  /** Absolute path on the host. */
  readonly path: string;
  readonly content: string;
  /** Octal, e.g. `"0644"`. @default "0644" */
  readonly mode?: string;
  /** `user:group`. @default "root:root" */
  readonly owner?: string;
  /**
   * The content is secret (a TLS private key): provisioning sends it through a secret-only step
   * (stdin, `logging: "none"`, wrapped in `pulumi.secret`), and the CLI never holds such a file
   * because it never decrypts.
   */
  readonly secret?: boolean;
}

/** A directory a site needs before its daemons start (home, document root, logs, sessions). */
export interface HostDirectory {
  readonly path: string;
  readonly mode: string;
  readonly owner: string;
}

/** One site's share of a host: its account, directories and files. */
export interface SiteRender {
  readonly domain: string;
  readonly slug: string;
  readonly account: Account;
  /** In creation order (parents first). */
  readonly directories: readonly HostDirectory[];
  readonly files: readonly HostFile[];
}

/** Everything a web host gets: host-wide files, then each site's own. */
export interface WebHostRender {
  readonly host: readonly HostFile[];
  readonly hostDirectories: readonly HostDirectory[];
  readonly sites: readonly SiteRender[];
  /** Packages the files assume: nginx, apache2 / openlitespeed when a site uses them, php<v>-fpm per version and the sites' extensions. */
  readonly packages: readonly string[];
}

/** What of the stack a web host's files depend on. */
export type WebHostConfig = Pick<Stack, "sites" | "healthPath">;

/** Renders every file of one web host from validated config and the host's facts. */
export function renderWebHost(config: WebHostConfig, facts: HostFacts): WebHostRender {
  const { host, sites } = resolveWebHost(config.sites, facts);
  const siteRenders = config.sites.map((site, index) => renderSite(site, sites[index]!, host));
  const servers = new Set(config.sites.map((site) => site.webServer));
  return {
    host: [
      ...renderNginxHost(host, config.healthPath),
      ...host.phpVersions.map((version) => renderFpmIni(host, version)),
      ...(servers.has("apache") ? renderApacheHost(host) : []),
      // OLS registers every vhost in its one server file, so that file follows the OLS sites.
      ...(servers.has("openlitespeed")
        ? [
            renderOpenLiteSpeedHost(
              host,
              config.sites.map((site, index) => ({ site, context: sites[index]! })),
            ),
          ]
        : []),
    ],
    hostDirectories: [{ path: host.acmeWebroot, mode: "0755", owner: "root:root" }],
    sites: siteRenders,
    packages: webHostPackages(config.sites),
  };
}

/** Host-wide files first, then every site's, as one list (what `megaweb render` writes). */
export function allFiles(render: WebHostRender): HostFile[] {
  return [...render.host, ...render.sites.flatMap((site) => site.files)];
}

function renderSite(site: Site, context: SiteContext, host: HostContext): SiteRender {
  const files = [...renderNginxSite(site, context, host)];
  if (site.webServer === "apache") files.push(renderApacheSite(site, context, host));
  if (site.webServer === "openlitespeed") files.push(renderOpenLiteSpeedSite(site, context, host));
  if (context.pool !== undefined) files.push(renderFpmPool(site, { ...context, pool: context.pool }));
  return { domain: site.domain, slug: context.slug, account: context.account, directories: siteDirectories(context), files };
}

/**
 * The site user owns everything; the web server reads through the group, so other sites' users
 * (and their PHP) cannot read this site's files.
 */
function siteDirectories(context: SiteContext): HostDirectory[] {
  const own = `${context.account.user}:${context.account.group}`;
  const shared = `${context.account.user}:${context.webServerAccount.group}`;
  const directories: HostDirectory[] = [
    { path: context.home, mode: "0750", owner: shared },
    { path: context.documentRoot, mode: "0750", owner: shared },
    { path: `${context.home}/logs`, mode: "0750", owner: own },
  ];
  if (context.pool !== undefined) {
    directories.push({ path: context.pool.sessionDir, mode: "0700", owner: own }, { path: context.pool.tmpDir, mode: "0700", owner: own });
  }
  return directories;
}

/** Extensions Debian builds into php<v>-common rather than shipping as their own package. */
const commonExtensions = new Set([
  "calendar",
  "ctype",
  "exif",
  "ffi",
  "fileinfo",
  "ftp",
  "gettext",
  "iconv",
  "pdo",
  "phar",
  "posix",
  "shmop",
  "sockets",
  "sysvmsg",
  "sysvsem",
  "sysvshm",
  "tokenizer",
  "json",
]);

export function webHostPackages(sites: readonly Site[]): string[] {
  const packages = new Set(["nginx"]);
  for (const site of sites) {
    if (site.webServer === "apache") packages.add("apache2");
    // From LiteSpeed's own repository; Debian does not ship OpenLiteSpeed.
    if (site.webServer === "openlitespeed") packages.add("openlitespeed");
    if (site.kind !== "php") continue;
    packages.add(`php${site.phpVersion}-fpm`);
    for (const extension of site.php.extensions) packages.add(`php${site.phpVersion}-${commonExtensions.has(extension) ? "common" : extension}`);
  }
  return [...packages].sort();
}
