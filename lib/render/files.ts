import type { PhpVersion, Site } from "../schema/site";
import type { Stack } from "../schema/stack";
import { resolveWebHost, type Account, type HostContext, type HostFacts, type SiteContext } from "./context";
import { apacheHostConfs, apacheModules, renderApacheHost, renderApacheSite } from "./apache";
import { renderNginxHost, renderNginxSite } from "./nginx";
import { renderOpenLiteSpeedHost, renderOpenLiteSpeedSite } from "./openlitespeed";
import { renderFpmIni, renderFpmMaster, renderFpmPool, renderFpmSiteUnit } from "./php-fpm";

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
   * The content holds secrets, as placeholders (`secretPlaceholder`): provisioning fills them in
   * and sends the file through a secret-only step (stdin, `logging: "none"`, wrapped in
   * `pulumi.secret`); `megaweb render` writes the placeholders.
   */
  readonly secret?: boolean;
}

/** A directory a site needs before its daemons start (home, document root, logs, sessions). */
export interface HostDirectory {
  readonly path: string;
  readonly mode: string;
  readonly owner: string;
}

/** One site's share of a host: its account, directories and files, and which daemons serve it. */
export interface SiteRender {
  readonly domain: string;
  readonly slug: string;
  readonly account: Account;
  /** The directory every other one of the site hangs from; `.env` lies here. */
  readonly home: string;
  /** In creation order (parents first). */
  readonly directories: readonly HostDirectory[];
  readonly files: readonly HostFile[];
  /** The site's own PHP-FPM master, when it runs PHP: its PHP version, pool and master configs, and systemd unit. */
  readonly fpm?: { readonly phpVersion: PhpVersion; readonly pool: string; readonly master: string; readonly unit: string };
  /** Apache serves it behind nginx; its vhost is enabled with `a2ensite <slug>`. */
  readonly apache: boolean;
  /** OpenLiteSpeed serves it behind nginx. */
  readonly openlitespeed: boolean;
}

/** Everything a web host gets: host-wide files, then each site's own. */
export interface WebHostRender {
  readonly host: readonly HostFile[];
  /** The systemd template unit per PHP version that every site's FPM master is an instance of. */
  readonly fpmUnits: readonly HostFile[];
  readonly hostDirectories: readonly HostDirectory[];
  readonly sites: readonly SiteRender[];
  /** Packages the files assume: nginx, apache2 / openlitespeed when a site uses them, php<v>-fpm per version and the sites' extensions. */
  readonly packages: readonly string[];
  /** Versions of PHP some site on the host uses, sorted. */
  readonly phpVersions: readonly PhpVersion[];
  /** When a site uses Apache: the modules and host-wide confs the files need enabled. */
  readonly apache?: { readonly modules: readonly string[]; readonly confs: readonly string[] };
  /** A site uses OpenLiteSpeed. */
  readonly openlitespeed: boolean;
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
    fpmUnits: host.phpVersions.map((version) => renderFpmSiteUnit(host, version)),
    hostDirectories: [{ path: host.acmeWebroot, mode: "0755", owner: "root:root" }],
    sites: siteRenders,
    packages: webHostPackages(config.sites, facts.sharedSessions ?? false),
    phpVersions: host.phpVersions,
    ...(servers.has("apache") && { apache: { modules: apacheModules, confs: apacheHostConfs } }),
    openlitespeed: servers.has("openlitespeed"),
  };
}

/** Host-wide files first, then every site's, as one list (what `megaweb render` writes). */
export function allFiles(render: WebHostRender): HostFile[] {
  return [...render.host, ...render.fpmUnits, ...render.sites.flatMap((site) => site.files)];
}

function renderSite(site: Site, context: SiteContext, host: HostContext): SiteRender {
  const files = [...renderNginxSite(site, context, host)];
  if (site.webServer === "apache") files.push(renderApacheSite(site, context, host));
  if (site.webServer === "openlitespeed") files.push(renderOpenLiteSpeedSite(site, context, host));
  const pool = context.pool;
  if (pool !== undefined) files.push(renderFpmPool(site, { ...context, pool }), renderFpmMaster(site, { ...context, pool }));
  return {
    domain: site.domain,
    slug: context.slug,
    account: context.account,
    home: context.home,
    directories: siteDirectories(site, context),
    files,
    ...(pool && { fpm: { phpVersion: pool.phpVersion, pool: pool.configPath, master: pool.masterPath, unit: pool.unit } }),
    apache: site.webServer === "apache",
    openlitespeed: site.webServer === "openlitespeed",
  };
}

/**
 * The site user owns everything; the web server reads through the group, so other sites' users
 * (and their PHP) cannot read this site's files.
 */
function siteDirectories(site: Site, context: SiteContext): HostDirectory[] {
  const own = `${context.account.user}:${context.account.group}`;
  const shared = `${context.account.user}:${context.webServerAccount.group}`;
  const directories: HostDirectory[] = [
    { path: context.home, mode: "0750", owner: shared },
    // A site with code is served from current/, a link megaweb-deploy switches: made here, the
    // directory would stand where the link goes, and a later run would install -d through the link.
    ...(site.code === undefined ? [{ path: context.documentRoot, mode: "0750", owner: shared }] : []),
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

/**
 * What megaweb-deploy runs besides the site's PHP: git for repositories, Debian's composer for
 * the default build, redis-cli for the migration lock, curl for archive URLs.
 */
export const codePackages = ["composer", "curl", "git", "redis-tools"] as const;

/** `sharedSessions`: PHP keeps sessions in Redis, through the redis extension. */
export function webHostPackages(sites: readonly Site[], sharedSessions = false): string[] {
  const packages = new Set(["nginx", ...(sites.some((site) => site.code !== undefined) ? codePackages : [])]);
  for (const site of sites) {
    if (site.webServer === "apache") packages.add("apache2");
    // From LiteSpeed's own repository; Debian does not ship OpenLiteSpeed.
    if (site.webServer === "openlitespeed") packages.add("openlitespeed");
    if (site.kind !== "php") continue;
    packages.add(`php${site.phpVersion}-fpm`);
    if (sharedSessions) packages.add(`php${site.phpVersion}-redis`);
    for (const extension of phpExtensionPackages(site)) packages.add(extension);
  }
  return [...packages].sort();
}

/** A worker host runs the code of these sites without serving it: their PHP's command line with its extensions. */
export function codeRuntimePackages(sites: readonly Site[]): string[] {
  const packages = new Set<string>(codePackages);
  for (const site of sites.filter((site) => site.kind === "php")) {
    packages.add(`php${site.phpVersion}-cli`);
    for (const extension of phpExtensionPackages(site)) packages.add(extension);
  }
  return [...packages].sort();
}

function phpExtensionPackages(site: Site): string[] {
  return site.php.extensions.map((extension) => `php${site.phpVersion}-${commonExtensions.has(extension) ? "common" : extension}`);
}
