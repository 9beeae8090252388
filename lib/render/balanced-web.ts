import type { HostContext, SiteContext } from "./context";
import type { HostFile } from "./files";
import { listenAddresses } from "./nginx";
import { renderTemplate } from "./template";

/**
 * What a web node behind HAProxy adds to its nginx: the client's address from the balancers' PROXY
 * protocol header, and the health check the balancers ask, which passes while every PHP pool nginx
 * serves runs a script and the app's process answers. The balancers' side is `haproxy-backends.ts`;
 * both take their check paths from `balancerHealthChecks`.
 */

/** The Host the balancers' checks send; a name no site can have (no dot). */
export const healthHost = "megaweb-health";

/** The balancers' check of a site's PHP pool (nginx runs a script in it) and of the app's process. */
export const poolCheckPrefix = "/megaweb-health/php/";
export const appCheck: HealthCheck = { path: "/megaweb-health/app" };

export interface HealthCheck {
  readonly path: string;
}

export interface BalancedWebInput {
  readonly host: HostContext;
  /** The node's sites, as `resolveWebHost` decided them. */
  readonly sites: readonly SiteContext[];
  /** The balancers' private addresses: the only sources whose PROXY header is believed, and who may ask for health. */
  readonly balancers: readonly string[];
  /** The app's port on this node's loopback, when the node runs the app. */
  readonly appPort?: number;
}

export interface BalancedWebRender {
  readonly files: readonly HostFile[];
  readonly checks: readonly HealthCheck[];
}

/** Pools nginx can reach: their socket's group is nginx's (nginx and Apache sites; OpenLiteSpeed's are its own). */
function checkedPools(input: BalancedWebInput) {
  const nginxGroup = input.host.webServerAccounts.nginx.group;
  return input.sites.filter((site) => site.pool !== undefined && site.webServerAccount.group === nginxGroup);
}

/** The nginx check stands alone only on a node with neither PHP nor the app: the others go through nginx anyway. */
const nginxCheck: HealthCheck = { path: "/megaweb-health/nginx" };

export function balancerHealthChecks(input: Pick<BalancedWebInput, "host" | "sites" | "appPort">): HealthCheck[] {
  const checks = [
    ...checkedPools({ ...input, balancers: [] }).map((site) => ({ path: `${poolCheckPrefix}${site.slug}` })),
    ...(input.appPort === undefined ? [] : [appCheck]),
  ];
  return checks.length > 0 ? checks : [nginxCheck];
}

export function renderBalancedWeb(input: BalancedWebInput): BalancedWebRender {
  const { host } = input;
  const pools = checkedPools(input);
  const checks = balancerHealthChecks(input);
  const config: HostFile = {
    path: host.path("/etc/nginx/conf.d/megaweb-balancer.conf"),
    content: renderTemplate(
      "nginx-balanced/megaweb-balancer.conf",
      {
        hostName: host.name,
        root: host.root,
        balancers: input.balancers,
        balancerList: input.balancers.join(", "),
        self: localCheckAddress(host),
        healthHost,
        httpListen: listenAddresses(host, host.ports.http),
        httpsListen: listenAddresses(host, host.ports.https),
        // The check script lies in the site's home, a directory megaweb made: no link to resolve.
        pools: pools.map((site) => ({ path: `${poolCheckPrefix}${site.slug}`, home: site.home, socket: site.pool!.socket, scriptRoot: "$document_root" })),
        app: input.appPort === undefined ? false : { path: appCheck.path, port: input.appPort },
        nginx: checks[0] === nginxCheck ? nginxCheck : false,
      },
      { fastcgiScript: "nginx/fastcgi-script.conf" },
    ),
  };
  // Outside the document root, so only the health location runs it; inside open_basedir.
  const scripts: HostFile[] = pools.map((site) => ({
    path: `${site.home}/megaweb-health.php`,
    content: renderTemplate("nginx-balanced/megaweb-health.php", {}),
  }));
  return { files: [config, ...scripts], checks };
}

/** Where the node asks its own health checks (`megaweb-drain healthy`, after a deploy's switch): loopback, or the one address the host listens on. */
export function localCheckAddress(host: Pick<HostContext, "listenAddress">): string {
  return host.listenAddress ?? "127.0.0.1";
}
