import { phpSizeMb, type Site } from "../schema/site";
import { securityHeaders, type HostContext, type SiteContext } from "./context";
import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * Apache 2.4 as a backend behind nginx: mpm_event, PHP through the site's own FPM pool with
 * proxy_fcgi, one loopback listener for every Apache site on the host.
 */

/**
 * Modules the rendered files use beyond Debian's defaults; provisioning enables them with
 * `a2enmod` (mpm_event is Debian's default MPM once no mod_php is installed).
 */
export const apacheModules = ["mpm_event", "proxy", "proxy_fcgi", "proxy_http", "remoteip", "headers", "expires", "rewrite"] as const;

/** The host-wide confs `renderApacheHost` writes to conf-available/, enabled by provisioning with `a2enconf`. */
export const apacheHostConfs = ["zz-megaweb"] as const;

/** Host-wide: the loopback listener and the server-level settings every site relies on. */
export function renderApacheHost(host: HostContext): HostFile[] {
  const view = { address: "127.0.0.1", port: host.ports.apache };
  return [
    { path: host.path("/etc/apache2/ports.conf"), content: renderTemplate("apache/ports.conf", view) },
    ...apacheHostConfs.map((conf) => ({ path: host.path(`/etc/apache2/conf-available/${conf}.conf`), content: renderTemplate(`apache/${conf}.conf`, view) })),
  ];
}

/** The site's vhost, enabled by provisioning with `a2ensite <slug>`. */
export function renderApacheSite(site: Site, context: SiteContext, host: HostContext): HostFile {
  if (context.backend === undefined || context.backendLogs === undefined) {
    throw new Error(`sites[${context.index}] (${site.domain}) is not an Apache site`);
  }
  const upstream = site.proxy && { host: site.proxy.host === "::1" ? "[::1]" : site.proxy.host, port: site.proxy.port };
  return {
    path: host.path(`/etc/apache2/sites-available/${context.slug}.conf`),
    content: renderTemplate("apache/site.conf", {
      domain: site.domain,
      aliases: site.aliases,
      slug: context.slug,
      address: context.backend.address,
      port: context.backend.port,
      errorLog: context.backendLogs.error,
      accessLog: context.backendLogs.access,
      bodyLimitBytes: Math.round(phpSizeMb(site.php.postMaxSize) * 1024 * 1024),
      headers: securityHeaders(site),
      gzip: site.gzip,
      expires: site.caching.staticMaxAge === "off" ? undefined : expiresPeriod(site.caching.staticMaxAge),
      documentRoot: site.kind === "proxy" ? undefined : context.documentRoot,
      php:
        site.kind === "php" && context.pool
          ? {
              socket: context.pool.socket,
              proxyTimeout: site.php.maxExecutionTime + 10,
              statusPath: context.pool.statusPath,
              pingPath: context.pool.pingPath,
            }
          : undefined,
      proxy: upstream && { upstream: `${upstream.host}:${upstream.port}`, websockets: site.proxy?.websockets },
      allowList: site.access.allow.join(" ") || undefined,
      deny: site.access.deny,
    }),
  };
}

const periodUnits = { s: "seconds", m: "minutes", h: "hours", d: "days" } as const;

/** `7d` → `7 days`, mod_expires' words for the schema's durations. */
function expiresPeriod(duration: string): string {
  return `${duration.slice(0, -1)} ${periodUnits[duration.slice(-1) as keyof typeof periodUnits]}`;
}
