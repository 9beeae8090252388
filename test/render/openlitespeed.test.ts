import { describe, expect, test } from "vitest";
import { checkOlsDeployment, formatOlsFinding } from "../openlitespeed/checker/check";
import { resolveWebHost } from "../../lib/render/context";
import { olsServerRoot, olsVhostName, renderOpenLiteSpeedHost, renderOpenLiteSpeedSite } from "../../lib/render/openlitespeed";
import { Site, type SiteInput } from "../../lib/schema/site";

/**
 * OLS cannot be installed here, so every rendered OLS file is held to the checks of
 * test/openlitespeed/reference/CHECKS.md, together, as the server would load them.
 */
const siteInputs: SiteInput[] = [
  { domain: "shop.example", webServer: "openlitespeed", pool: { maxChildren: 3 } },
  {
    domain: "locked.example",
    aliases: ["www.locked.example", "*.locked.example"],
    webServer: "openlitespeed",
    php: { memoryLimit: "128M", postMaxSize: "200M", uploadMaxFilesize: "100M" },
    pool: { pm: "static", maxChildren: 4 },
    access: { allow: ["10.0.0.0/8", "2001:db8::/32"], deny: ["10.1.2.3"] },
    tls: { mode: "letsencrypt" },
    caching: { staticMaxAge: "12h" },
  },
  { domain: "plain.example", webServer: "openlitespeed", kind: "static", gzip: false, securityHeaders: false, caching: { staticMaxAge: "off" } },
  { domain: "app.example", webServer: "openlitespeed", kind: "proxy", proxy: { port: 3000 } },
  { domain: "ws.example", webServer: "openlitespeed", kind: "proxy", proxy: { port: 3001, host: "::1", websockets: false }, documentRoot: "/srv/ws/public" },
  { domain: "front.example", webServer: "nginx" },
  { domain: "legacy.example", webServer: "apache" },
];
const sites = siteInputs.map((input) => Site.parse(input));

function renderHost(root = "") {
  const { host, sites: contexts } = resolveWebHost(sites, { name: "web-1", memoryMb: 4096, roles: ["web"], root });
  const hostSites = sites.map((site, index) => ({ site, context: contexts[index]! }));
  const ols = hostSites.filter(({ site }) => site.webServer === "openlitespeed");
  return {
    host,
    server: renderOpenLiteSpeedHost(host, hostSites),
    vhosts: ols.map(({ site, context }) => renderOpenLiteSpeedSite(site, context, host)),
    expected: ols.map(({ site, context }) => ({ vhost: olsVhostName(site), domains: [...context.serverNames], listeners: ["megaweb"] })),
  };
}

function check(rendered: ReturnType<typeof renderHost>) {
  return checkOlsDeployment({
    serverRoot: rendered.host.path(olsServerRoot),
    server: rendered.server,
    files: rendered.vhosts,
    sites: rendered.expected,
  }).map(formatOlsFinding);
}

describe("OpenLiteSpeed rendering", () => {
  test("passes every check of CHECKS.md, for every site shape", () => {
    expect(check(renderHost())).toEqual([]);
  });

  test("passes them too when the host hangs from another root", () => {
    expect(check(renderHost("/tmp/megaweb-host"))).toEqual([]);
  });

  test("is pure: the same input gives the same bytes", () => {
    const files = () => {
      const { server, vhosts } = renderHost();
      return [server, ...vhosts];
    };
    expect(files()).toEqual(files());
  });

  test("the server file and a vhost read as they land on the server", () => {
    const rendered = renderHost();
    expect(rendered.server.path).toBe("/usr/local/lsws/conf/httpd_config.conf");
    expect(rendered.vhosts.map((file) => file.path)).toEqual([
      "/usr/local/lsws/conf/vhosts/shop_example/vhconf.conf",
      "/usr/local/lsws/conf/vhosts/locked_example/vhconf.conf",
      "/usr/local/lsws/conf/vhosts/plain_example/vhconf.conf",
      "/usr/local/lsws/conf/vhosts/app_example/vhconf.conf",
      "/usr/local/lsws/conf/vhosts/ws_example/vhconf.conf",
    ]);
    expect(rendered.server.content).toMatchSnapshot();
    expect(rendered.vhosts[1]!.content).toMatchSnapshot();
    expect(rendered.vhosts[3]!.content).toMatchSnapshot();
  });

  test("registers only the OLS sites, each PHP site with its own pool socket and autoStart 0", () => {
    const server = renderHost().server.content;
    expect(server).not.toContain("front.example");
    expect(server).not.toContain("legacy.example");
    expect(server).toContain(
      "extprocessor shop_example_fpm {\n  type                    fcgi\n  address                 uds://run/php/php8.2-fpm-shop_example.sock\n",
    );
    expect(server).toContain(
      "extprocessor locked_example_fpm {\n  type                    fcgi\n  address                 uds://run/php/php8.2-fpm-locked_example.sock\n  maxConns                4\n",
    );
    expect(server.match(/^ {2}autoStart {15}0$/gm)).toHaveLength(4);
    expect(server).toContain("  map                     locked.example locked.example, www.locked.example, *.locked.example\n");
  });

  test("listens on loopback only, believes X-Forwarded-For only from there, and allows the largest site body", () => {
    const server = renderHost().server.content;
    expect(server).toContain("  address                 127.0.0.1:8088\n");
    expect(server).toContain("useIpInProxyHeader        2\n");
    expect(server).toContain("  allow                   ALL, 127.0.0.1T, ::1T\n");
    expect(server).toContain("  maxReqBodySize          200M\n");
  });

  test("a document root outside the site's home is registered unrestrained", () => {
    const server = renderHost().server.content;
    expect(server).toMatch(/virtualhost ws\.example \{\n {2}vhRoot {18}\/var\/www\/ws_example\n[^}]*restrained {14}0\n/);
    expect(server).toMatch(/virtualhost shop\.example \{\n[^}]*restrained {14}1\n/);
  });

  test("the checker reads the rendered files, not a stand-in: breaking one is caught", () => {
    const rendered = renderHost();
    const broken = {
      ...rendered,
      server: {
        ...rendered.server,
        content: rendered.server.content.replace("uds://run/php/php8.2-fpm-shop_example.sock", "/run/php/php8.2-fpm-shop_example.sock"),
      },
    };
    expect(check(broken)).toEqual([expect.stringMatching(/httpd_config\.conf:\d+: V6 address "\/run\/php\/php8\.2-fpm-shop_example\.sock"/)]);
    const unmapped = { ...rendered, server: { ...rendered.server, content: rendered.server.content.replace(/^ {2}map {21}app\.example .*\n/m, "") } };
    expect(check(unmapped)).toEqual([expect.stringMatching(/R5 listener "megaweb" does not map app\.example to "app\.example"/)]);
  });
});
