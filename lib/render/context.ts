import { createHash } from "node:crypto";
import type { Role } from "../schema/infrastructure";
import { ConfigError } from "../schema/errors";
import { siteSlug, type PhpVersion, type Site, type WebServer } from "../schema/site";
import { phpBudget, sizePools, type PoolSize, type PoolSizing } from "./pool-sizing";

/**
 * The facts every renderer of a site needs, decided once here so the nginx front and the
 * Apache / OpenLiteSpeed backends never invent a path, user or port twice.
 */

export interface Account {
  readonly user: string;
  readonly group: string;
}

/** Ports the web tier listens on; the backends listen on loopback only, behind nginx. */
export interface HostPorts {
  /** @default 80 */
  readonly http: number;
  /** @default 443 */
  readonly https: number;
  /** Apache's one name-based loopback listener for all Apache sites. @default 8080 */
  readonly apache: number;
  /** OpenLiteSpeed's one loopback listener for all OLS sites. @default 8088 */
  readonly openlitespeed: number;
}

/** What is known about a web host when its files are rendered. */
export interface HostFacts {
  /** The plan's name for the host, e.g. `web-1`; used in messages. */
  readonly name: string;
  readonly memoryMb: number;
  /** The host's cores bound automatic pools (lib/render/pool-sizing.ts). @default no bound but memory */
  readonly cpus?: number;
  /** Roles sharing the host decide how much memory PHP may use. */
  readonly roles: readonly Role[];
  /** PHP versions installed on the host; when given, a site asking for another one is an error. */
  readonly phpVersions?: readonly PhpVersion[];
  /** @default www-data for nginx and Apache, nobody:nogroup for OpenLiteSpeed (Debian's and LiteSpeed's packages) */
  readonly webServerAccounts?: Partial<Record<WebServer, Account>>;
  readonly ports?: Partial<HostPorts>;
  /** Address the public listeners bind; all addresses (IPv4 and IPv6) when absent. */
  readonly listenAddress?: string;
  /** Load balancers whose X-Forwarded-For nginx believes, so access lists see the real client. */
  readonly trustedProxies?: readonly string[];
  /**
   * PHP sessions live in Redis, shared with the other web nodes (the phase has more than one), not
   * in files under each site's home. @default false
   */
  readonly sharedSessions?: boolean;
  /**
   * Another web node issues this node's Let's Encrypt certificates: a challenge not held here is
   * asked of it (nginx's `megaweb_acme_issuer` upstream, lib/render/certbot.ts). @default false
   */
  readonly acmeFromIssuer?: boolean;
  /**
   * Directory the host's file tree hangs from: empty on a server; a scratch directory when the
   * real daemons run a rendered host side by side with others (as the tests do).
   * @default ""
   */
  readonly root?: string;
}

/** Host facts with every default applied. */
export interface HostContext {
  readonly name: string;
  readonly root: string;
  readonly ports: HostPorts;
  readonly listenAddress?: string;
  readonly trustedProxies: readonly string[];
  readonly webServerAccounts: Readonly<Record<WebServer, Account>>;
  /** Versions of PHP some site on the host uses, sorted. */
  readonly phpVersions: readonly PhpVersion[];
  /** Where certbot's webroot challenges land for every site (`certbot --webroot -w` this). */
  readonly acmeWebroot: string;
  /** Challenges missing from `acmeWebroot` are asked of the issuing web node. */
  readonly acmeFromIssuer: boolean;
  /** Prefixes an absolute host path with `root`. */
  readonly path: (absolute: string) => string;
}

export interface PoolContext {
  /** Pool name in `[name]`, the site's slug. */
  readonly name: string;
  readonly phpVersion: PhpVersion;
  /** `/run/php/php8.2-fpm-<slug>.sock`; owned by the site user, group of the web server that talks to it. */
  readonly socket: string;
  readonly configPath: string;
  /** The site's own FPM master runs just this pool, so a change to it restarts no other site's workers. */
  readonly masterPath: string;
  /** The systemd unit of that master: an instance of the version's `php<v>-fpm-site@.service`. */
  readonly unit: string;
  readonly size: PoolSize;
  readonly slowLog: string;
  readonly errorLog: string;
  /** Where sessions live without Redis; created either way. */
  readonly sessionDir: string;
  /**
   * With shared sessions: the root-only file that points the pool's sessions at Redis (it holds the
   * Redis password), included by the site's FPM master after the pool.
   */
  readonly sharedSessionsConfig?: string;
  readonly tmpDir: string;
  /** open_basedir: the site's home, plus its document root when that lies elsewhere. */
  readonly openBasedir: readonly string[];
  /** Answered only from loopback, for monitoring. */
  readonly statusPath: string;
  readonly pingPath: string;
}

export interface LogPaths {
  readonly access: string;
  readonly error: string;
}

export interface SiteContext {
  /** Position in `sites[]`, for messages. */
  readonly index: number;
  /** `example.com` → `example_com`: injective because host names hold no `_`. */
  readonly slug: string;
  /** The site's own Unix account; PHP runs as it. */
  readonly account: Account;
  readonly home: string;
  readonly documentRoot: string;
  /** Domain first, then aliases. */
  readonly serverNames: readonly string[];
  /** The account of the server that reads the document root and talks to the pool. */
  readonly webServerAccount: Account;
  /** Where nginx forwards an Apache or OLS site; absent for nginx sites. */
  readonly backend?: { readonly address: string; readonly port: number };
  readonly pool?: PoolContext;
  /** nginx's logs for the site (front or sole server), and the sampled one its response counters read. */
  readonly nginxLogs: LogPaths & { readonly metrics: string };
  /** The backend server's own logs for an Apache or OLS site. */
  readonly backendLogs?: LogPaths;
  /** Certificate and key paths when TLS is on. */
  readonly tls?: { readonly certificate: string; readonly key: string };
}

const defaultPorts: HostPorts = { http: 80, https: 443, apache: 8080, openlitespeed: 8088 };
const defaultAccounts: Record<WebServer, Account> = {
  nginx: { user: "www-data", group: "www-data" },
  apache: { user: "www-data", group: "www-data" },
  openlitespeed: { user: "nobody", group: "nogroup" },
};
const backendLogDirs: Record<Exclude<WebServer, "nginx">, string> = {
  apache: "/var/log/apache2",
  openlitespeed: "/usr/local/lsws/logs",
};

/**
 * Resolves host facts and every site's context; pool sizes come from the host's real memory,
 * so a pool that fits the plan's estimate but not this host is refused here.
 */
export function resolveWebHost(sites: readonly Site[], facts: HostFacts): { host: HostContext; sites: SiteContext[] } {
  const root = (facts.root ?? "").replace(/\/$/, "");
  // A host without the web role (a worker host running the sites' code) runs no pools to size.
  const sizing: PoolSizing = facts.roles.includes("web")
    ? sizePools(sites, phpBudget(facts, facts.roles, sites, `host ${facts.name} of ${facts.memoryMb} MB`))
    : { pools: [], problems: [] };
  const missingPhp =
    facts.phpVersions === undefined
      ? []
      : sites.flatMap((site, index) =>
          site.kind === "php" && !facts.phpVersions!.includes(site.phpVersion)
            ? [
                {
                  path: ["sites", index, "phpVersion"],
                  message: `PHP ${site.phpVersion} is not installed on ${facts.name} (installed: ${facts.phpVersions!.join(", ") || "none"})`,
                },
              ]
            : [],
        );
  if (sizing.problems.length > 0 || missingPhp.length > 0) throw new ConfigError([...sizing.problems, ...missingPhp]);

  const host: HostContext = {
    name: facts.name,
    root,
    ports: { ...defaultPorts, ...facts.ports },
    listenAddress: facts.listenAddress,
    trustedProxies: facts.trustedProxies ?? [],
    webServerAccounts: { ...defaultAccounts, ...facts.webServerAccounts },
    phpVersions: [...new Set(sites.filter((site) => site.kind === "php").map((site) => site.phpVersion))].sort(),
    acmeWebroot: `${root}/var/lib/megaweb/acme`,
    acmeFromIssuer: facts.acmeFromIssuer ?? false,
    path: (absolute) => `${root}${absolute}`,
  };
  return { host, sites: sites.map((site, index) => siteContext(site, index, host, sizing.pools[index], facts.sharedSessions ?? false)) };
}

function siteContext(site: Site, index: number, host: HostContext, poolSize: PoolSize | undefined, sharedSessions: boolean): SiteContext {
  const slug = siteSlug(site.domain);
  const { path } = host;
  const home = path(`/var/www/${slug}`);
  const documentRoot = site.documentRoot === undefined ? (deployedRoot(site, home) ?? `${home}/public`) : path(site.documentRoot);
  const account = { user: unixUserName(slug), group: unixUserName(slug) };
  const backendServer = site.webServer === "nginx" ? undefined : site.webServer;
  const pool: PoolContext | undefined =
    poolSize === undefined
      ? undefined
      : {
          name: slug,
          phpVersion: site.phpVersion,
          socket: path(`/run/php/php${site.phpVersion}-fpm-${slug}.sock`),
          configPath: path(`/etc/php/${site.phpVersion}/fpm/pool.d/${slug}.conf`),
          masterPath: path(`/etc/php/${site.phpVersion}/fpm/sites/${slug}.conf`),
          unit: `php${site.phpVersion}-fpm-site@${slug}.service`,
          size: poolSize,
          slowLog: `${home}/logs/php-slow.log`,
          errorLog: `${home}/logs/php-error.log`,
          sessionDir: `${home}/sessions`,
          ...(sharedSessions && { sharedSessionsConfig: path(`/etc/php/${site.phpVersion}/fpm/sessions/${slug}.conf`) }),
          tmpDir: `${home}/tmp`,
          openBasedir: documentRoot.startsWith(`${home}/`) ? [`${home}/`] : [`${home}/`, `${documentRoot}/`],
          statusPath: "/fpm-status",
          pingPath: "/fpm-ping",
        };
  const tls =
    site.tls.mode === "custom"
      ? { certificate: path(`/etc/ssl/megaweb/${slug}.crt`), key: path(`/etc/ssl/private/megaweb-${slug}.key`) }
      : site.tls.mode === "letsencrypt"
        ? { certificate: path(`/etc/letsencrypt/live/${site.domain}/fullchain.pem`), key: path(`/etc/letsencrypt/live/${site.domain}/privkey.pem`) }
        : undefined;
  return {
    index,
    slug,
    account,
    home,
    documentRoot,
    serverNames: [site.domain, ...site.aliases],
    webServerAccount: host.webServerAccounts[site.webServer],
    backend: backendServer === undefined ? undefined : { address: "127.0.0.1", port: host.ports[backendServer] },
    pool,
    nginxLogs: {
      access: path(`/var/log/nginx/${slug}.access.log`),
      error: path(`/var/log/nginx/${slug}.error.log`),
      metrics: path(`/var/log/nginx/${slug}.metrics.log`),
    },
    backendLogs:
      backendServer === undefined
        ? undefined
        : { access: path(`${backendLogDirs[backendServer]}/${slug}.access.log`), error: path(`${backendLogDirs[backendServer]}/${slug}.error.log`) },
    tls,
  };
}

/**
 * A site with code is served from its live release (lib/render/deploy.ts switches `current`);
 * nginx's `$realpath_root` hands PHP the release's real path, so OPcache never mixes releases.
 */
function deployedRoot(site: Site, home: string): string | undefined {
  if (site.code === undefined) return undefined;
  return site.code.publicDirectory === "." ? `${home}/current` : `${home}/current/${site.code.publicDirectory}`;
}

/**
 * The headers `securityHeaders: true` stands for, whichever server sends them; HSTS only once
 * the site has TLS, or browsers would be pinned to an HTTPS that does not exist.
 */
export function securityHeaders(site: Site): { name: string; value: string }[] {
  if (!site.securityHeaders) return [];
  return [
    { name: "X-Content-Type-Options", value: "nosniff" },
    { name: "X-Frame-Options", value: "SAMEORIGIN" },
    { name: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
    ...(site.tls.mode === "none" ? [] : [{ name: "Strict-Transport-Security", value: "max-age=31536000" }]),
  ];
}

/**
 * Debian's adduser wants `^[a-z][-a-z0-9_]*$` and at most 32 characters: a leading digit gets a
 * `w` in front, and long names are cut with a hash of the whole slug so two cut names still differ.
 */
export function unixUserName(slug: string): string {
  const name = /^[a-z]/.test(slug) ? slug : `w${slug}`;
  if (name.length <= 32) return name;
  return `${name.slice(0, 25)}_${createHash("sha256").update(slug).digest("hex").slice(0, 6)}`;
}
