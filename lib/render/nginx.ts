import { secretPlaceholder } from "../plan/cluster";
import { durationSeconds, type Site } from "../schema/site";
import { securityHeaders, type HostContext, type SiteContext } from "./context";
import type { HostFile } from "./files";
import { phpTimeoutSeconds } from "./php-fpm";
import { hostPort } from "./scrape-targets";
import { renderTemplate } from "./template";

/**
 * nginx owns ports 80 and 443 on every web host: it serves nginx sites itself and fronts Apache
 * and OpenLiteSpeed sites on their loopback ports, so TLS, security headers, compression, the
 * body limit and access lists are applied in one place for every site.
 */

const partials = {
  securityHeaders: "nginx/security-headers.conf",
  acmeIssuer: "nginx/acme-issuer.conf",
  fastcgiScript: "nginx/fastcgi-script.conf",
  siteLogs: "nginx/site-logs.conf",
};

/** nginx.conf and the snippets every site includes. */
export function renderNginxHost(host: HostContext, healthPath: string): HostFile[] {
  const view = {
    hostName: host.name,
    root: host.root,
    nginxUser: host.webServerAccounts.nginx.user,
    trustedProxies: host.trustedProxies,
    httpListen: listenAddresses(host, host.ports.http),
    httpsListen: listenAddresses(host, host.ports.https),
    healthPath,
  };
  const snippet = (name: string): HostFile => ({
    path: host.path(`/etc/nginx/snippets/${name}`),
    content: renderTemplate(`nginx/snippets/${name}`, view),
  });
  return [
    { path: host.path("/etc/nginx/nginx.conf"), content: renderTemplate("nginx/nginx.conf", view) },
    snippet("megaweb-fastcgi-php.conf"),
    snippet("megaweb-proxy.conf"),
  ];
}

/** The site's server blocks, and its certificate when it brings its own. */
export function renderNginxSite(site: Site, context: SiteContext, host: HostContext): HostFile[] {
  const servesItself = site.webServer === "nginx";
  const headers = securityHeaders(site);
  const staticMaxAge = site.caching.staticMaxAge === "off" ? false : { staticMaxAgeSeconds: durationSeconds(site.caching.staticMaxAge) };
  const tls = context.tls === undefined ? false : context.tls;
  const upstream = !servesItself
    ? { url: `http://${context.backend!.address}:${context.backend!.port}` }
    : site.kind === "proxy"
      ? { url: `http://${site.proxy!.host === "::1" ? "[::1]" : site.proxy!.host}:${site.proxy!.port}` }
      : false;

  const view = {
    domain: site.domain,
    slug: context.slug,
    root: host.root,
    serverNames: context.serverNames.join(" "),
    documentRoot: context.documentRoot,
    acmeWebroot: host.acmeWebroot,
    acmeFromIssuer: host.acmeFromIssuer,
    acmeMissing: host.acmeFromIssuer ? "@acme_issuer" : "=404",
    accessLog: context.nginxLogs.access,
    errorLog: context.nginxLogs.error,
    metricsLog: context.nginxLogs.metrics,
    countsByRate: !usesRateLimits(site),
    httpListen: listenAddresses(host, host.ports.http),
    listen: tls ? listenAddresses(host, host.ports.https).map((address) => `${address} ssl http2`) : listenAddresses(host, host.ports.http),
    tls,
    bodyLimit: site.php.postMaxSize,
    gzip: site.gzip,
    headers,
    accessList: site.access.allow.length + site.access.deny.length > 0,
    allow: site.access.allow,
    deny: site.access.deny,
    php:
      servesItself && site.kind === "php"
        ? {
            socket: context.pool!.socket,
            scriptRoot: scriptRoot(site),
            statusPath: context.pool!.statusPath,
            pingPath: context.pool!.pingPath,
            staticMaxAge,
            readTimeout: phpTimeoutSeconds(site),
          }
        : false,
    static: servesItself && site.kind === "static" ? { staticMaxAge } : false,
    pageCache: servesItself && site.kind === "php" && site.caching.pageCache !== "off" ? { ttl: site.caching.pageCache } : false,
    // Headers nginx sets are hidden from the upstream's answer so clients never get them twice.
    upstream: upstream && { ...upstream, hiddenHeaders: headers.map((header) => header.name) },
    directives: site.nginxDirectives?.trimEnd() ?? false,
  };

  const files: HostFile[] = [{ path: host.path(`/etc/nginx/sites-enabled/${context.slug}.conf`), content: renderTemplate("nginx/site.conf", view, partials) }];
  if (site.tls.mode === "custom" && context.tls !== undefined) {
    files.push({ path: context.tls.certificate, content: withFinalNewline(site.tls.certificate) });
    // The key stays a placeholder here; provisioning puts the stack's key in on the way to the host.
    files.push({ path: context.tls.key, content: secretPlaceholder({ kind: "tlsKey", domain: site.domain }), mode: "0600", owner: "root:root", secret: true });
  }
  return files;
}

/**
 * The root nginx hands PHP the script under: resolved for a site with code, whose deploy swaps
 * `current` (lib/render/deploy.ts), and for one whose document root the stack names (it may be a
 * link the user's own deploys swap); as configured for the rest, whose root megaweb made a real
 * directory. The realpath cost the echo page about 6 µs a request (bench/README.md).
 */
function scriptRoot(site: Site): "$realpath_root" | "$document_root" {
  return site.code !== undefined || site.documentRoot !== undefined ? "$realpath_root" : "$document_root";
}

/**
 * A site whose own directives limit requests keeps its limits real: `limit_req_dry_run`, which the
 * response counters' rate test needs, would apply to every limit_req of the server block. Its
 * answers then all get a line of their own.
 */
function usesRateLimits(site: Site): boolean {
  return /(^|[\s;{}])limit_req(_dry_run)?\s/.test(site.nginxDirectives ?? "");
}

/** nginx's listen addresses for a port: every address (IPv4 and IPv6), or the one the host names. */
export function listenAddresses(host: Pick<HostContext, "listenAddress">, port: number): string[] {
  if (host.listenAddress === undefined) return [`${port}`, `[::]:${port}`];
  return [hostPort(host.listenAddress, port)];
}

function withFinalNewline(text: string): string {
  return text.endsWith("\n") ? text : `${text}\n`;
}
