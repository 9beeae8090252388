import { durationSeconds, phpSizeMb, type Site } from "../schema/site";
import { securityHeaders, type HostContext, type SiteContext } from "./context";
import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * OpenLiteSpeed as a backend behind nginx. OLS keeps its vhost registry, listeners and external
 * apps in one server file, so the host's httpd_config.conf is rendered whole from its OLS sites;
 * each site also gets its own vhconf.conf. OLS cannot run here: the output is held to
 * test/openlitespeed/reference/CHECKS.md by the checker in test/openlitespeed/checker/ instead.
 */

/** Where the OLS packages from LiteSpeed's repository install the server. */
export const olsServerRoot = "/usr/local/lsws";

/** An upstream app serves many requests per connection; OLS opens at most this many to it. */
const upstreamConnections = 100;

/** A site of the host with its resolved context. */
export interface HostSite {
  readonly site: Site;
  readonly context: SiteContext;
}

/** The vhost name OLS registers and maps; a valid host name is also a valid OLS vhost name. */
export function olsVhostName(site: Site): string {
  return site.domain;
}

/**
 * The server-level external app a site's requests go to: its PHP-FPM pool, or its upstream app.
 * Prefixed with the slug, as OLS reuses the first app of a name it sees.
 */
function olsApp(site: Site, context: SiteContext): { name: string; type: string; address: string } | undefined {
  if (site.kind === "php" && context.pool) {
    // `uds:/` + the absolute path: OLS's own form is uds://run/php/x.sock for /run/php/x.sock.
    return { name: `${context.slug}_fpm`, type: "fcgi", address: `uds:/${context.pool.socket}` };
  }
  if (site.kind === "proxy" && site.proxy) {
    return { name: `${context.slug}_proxy`, type: "proxy", address: upstreamAddress(site.proxy) };
  }
  return undefined;
}

function upstreamAddress(proxy: NonNullable<Site["proxy"]>): string {
  return `${proxy.host === "::1" ? "[::1]" : proxy.host}:${proxy.port}`;
}

export function olsVhostConfigPath(host: HostContext, context: SiteContext): string {
  return host.path(`${olsServerRoot}/conf/vhosts/${context.slug}/vhconf.conf`);
}

/** `$SERVER_ROOT/conf/httpd_config.conf` registering every OLS site among the host's sites. */
export function renderOpenLiteSpeedHost(host: HostContext, hostSites: readonly HostSite[]): HostFile {
  const serverRoot = host.path(olsServerRoot);
  const sites = hostSites.filter(({ site }) => site.webServer === "openlitespeed");
  const apps = sites.flatMap(({ site, context }) => {
    const app = olsApp(site, context);
    if (!app) return [];
    // initTimeout is how long OLS waits for an answer: PHP may run max_execution_time; an
    // upstream app gets what nginx in front gives it (proxy_read_timeout 300s).
    if (context.pool) return [{ ...app, maxConns: context.pool.size.maxChildren, initTimeout: site.php.maxExecutionTime + 10 }];
    return [{ ...app, maxConns: upstreamConnections, initTimeout: 300 }];
  });
  const largestBody = Math.max(1, ...sites.map(({ site }) => phpSizeMb(site.php.postMaxSize)));
  return {
    path: host.path(`${olsServerRoot}/conf/httpd_config.conf`),
    content: renderTemplate("openlitespeed/httpd_config.conf", {
      hostName: host.name,
      serverRoot,
      user: host.webServerAccounts.openlitespeed.user,
      group: host.webServerAccounts.openlitespeed.group,
      maxReqBodySize: `${Math.ceil(largestBody)}M`,
      apps,
      vhosts: sites.map(({ site, context }) => ({
        name: olsVhostName(site),
        vhRoot: context.home,
        configFile: olsVhostConfigPath(host, context),
        // restrained 1 refuses a docRoot outside vhRoot, which the schema allows.
        restrained: context.documentRoot.startsWith(`${context.home}/`) ? 1 : 0,
        domains: context.serverNames.join(", "),
      })),
      address: "127.0.0.1",
      port: host.ports.openlitespeed,
    }),
  };
}

/** The site's own vhconf.conf. */
export function renderOpenLiteSpeedSite(site: Site, context: SiteContext, host: HostContext): HostFile {
  if (context.backendLogs === undefined) throw new Error(`sites[${context.index}] (${site.domain}) is not an OpenLiteSpeed site`);
  const app = olsApp(site, context);
  return {
    path: olsVhostConfigPath(host, context),
    content: renderTemplate("openlitespeed/vhconf.conf", {
      domain: site.domain,
      serverRoot: host.path(olsServerRoot),
      aliases: site.aliases.join(", "),
      documentRoot: context.documentRoot,
      gzip: site.gzip ? 1 : 0,
      indexFiles: site.kind === "php" ? "index.php, index.html" : "index.html",
      errorLog: context.backendLogs.error,
      accessLog: context.backendLogs.access,
      allow: site.access.allow.length > 0 ? site.access.allow.join(", ") : "ALL",
      deny: site.access.deny.join(", "),
      php: site.kind === "php" && app ? { app: app.name } : undefined,
      proxy: site.kind === "proxy" && app ? { app: app.name } : undefined,
      websocket: site.kind === "proxy" && site.proxy?.websockets ? upstreamAddress(site.proxy) : undefined,
      expires: site.caching.staticMaxAge === "off" ? undefined : { seconds: durationSeconds(site.caching.staticMaxAge) },
      headers: securityHeaders(site),
      rewrite: site.kind === "php" ? 1 : 0,
    }),
  };
}
