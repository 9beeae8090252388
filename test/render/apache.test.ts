import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { renderApacheHost, renderApacheSite } from "../../lib/render/apache";
import { resolveWebHost } from "../../lib/render/context";
import type { HostFile } from "../../lib/render/files";
import { Site, type SiteInput } from "../../lib/schema/site";
import { apacheConfigTest, enableApacheSites, prepareApacheRoot } from "../daemons/apache-harness";
import { removeRoot, scratchRoot, writeHostFile } from "../daemons/harness";

/** Every shape of Apache site the schema allows, side by side on one host as they would run. */
const siteInputs: SiteInput[] = [
  { domain: "shop.example", webServer: "apache" },
  {
    domain: "locked.example",
    aliases: ["www.locked.example", "*.locked.example"],
    webServer: "apache",
    php: { memoryLimit: "512M", postMaxSize: "8M", uploadMaxFilesize: "4M" },
    access: { allow: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"], deny: ["10.1.2.3"] },
    tls: { mode: "letsencrypt" },
    caching: { staticMaxAge: "12h" },
  },
  { domain: "plain.example", webServer: "apache", kind: "static", gzip: false, securityHeaders: false, caching: { staticMaxAge: "off" } },
  { domain: "app.example", webServer: "apache", kind: "proxy", proxy: { port: 3000 } },
  { domain: "ws.example", webServer: "apache", kind: "proxy", proxy: { port: 3001, host: "::1", websockets: false }, documentRoot: "/srv/ws/public" },
];

function renderAll(root = "") {
  const sites = siteInputs.map((input) => Site.parse(input));
  const { host, sites: contexts } = resolveWebHost(sites, { name: "web-1", memoryMb: 4096, roles: ["web"], root });
  return {
    host: renderApacheHost(host),
    sites: sites.map((site, index) => ({ slug: contexts[index]!.slug, file: renderApacheSite(site, contexts[index]!, host) })),
  };
}

describe("Apache rendering", () => {
  test("is pure: the same input gives the same bytes", () => {
    expect(renderAll()).toEqual(renderAll());
  });

  test("host files and a PHP vhost read as they land on the server", () => {
    const { host, sites } = renderAll();
    expect(host.map((file) => file.path)).toEqual(["/etc/apache2/ports.conf", "/etc/apache2/conf-available/zz-megaweb.conf"]);
    expect(host[0]!.content).toContain("Listen 127.0.0.1:8080\n");
    expect(sites[0]!.file.path).toBe("/etc/apache2/sites-available/shop_example.conf");
    expect(sites[0]!.file.content).toMatchSnapshot();
    expect(sites[1]!.file.content).toMatchSnapshot();
  });

  test("sends PHP to the site's own pool socket", () => {
    const vhost = renderAll().sites[0]!.file.content;
    expect(vhost).toContain('SetHandler "proxy:unix:/run/php/php8.2-fpm-shop_example.sock|fcgi://shop_example"');
  });

  test("ties LimitRequestBody to post_max_size", () => {
    const { sites } = renderAll();
    expect(sites[0]!.file.content).toContain(`LimitRequestBody ${64 * 1024 * 1024}\n`);
    expect(sites[1]!.file.content).toContain(`LimitRequestBody ${8 * 1024 * 1024}\n`);
  });

  test("an allow list admits only its addresses, and deny wins over allow", () => {
    const vhost = renderAll().sites[1]!.file.content;
    expect(vhost).toContain("Require ip 10.0.0.0/8 2001:db8::/32 192.0.2.7\n            Require not ip 10.1.2.3\n");
    expect(vhost).not.toContain("Require all granted\n        </RequireAll>");
  });

  test("HSTS only when the site has TLS; no headers, gzip or expiry when turned off", () => {
    const { sites } = renderAll();
    expect(sites[0]!.file.content).not.toContain("Strict-Transport-Security");
    expect(sites[1]!.file.content).toContain('Header always set Strict-Transport-Security "max-age=31536000"');
    expect(sites[1]!.file.content).toContain('ExpiresByType text/css "access plus 12 hours"');
    const plain = sites[2]!.file.content;
    for (const absent of ["Header always", "DEFLATE", "Expires", "SetHandler"]) expect(plain).not.toContain(absent);
  });

  test("a proxy site forwards to its loopback upstream, with WebSocket upgrades unless turned off", () => {
    const { sites } = renderAll();
    expect(sites[3]!.file.content).toContain('ProxyPass "/" "http://127.0.0.1:3000/" upgrade=websocket\n');
    expect(sites[4]!.file.content).toContain('ProxyPass "/" "http://[::1]:3001/"\n');
    expect(sites[3]!.file.content).not.toContain("DocumentRoot");
  });
});

describe("apache2 -t on the rendered host", () => {
  let root: string;
  let files: { host: HostFile[]; sites: { slug: string; file: HostFile }[] };

  beforeAll(() => {
    root = scratchRoot("apache-t");
    files = renderAll(root);
  });
  afterAll(() => removeRoot(root));

  test("accepts every site shape, enabled with Debian's own tools", () => {
    const apache = prepareApacheRoot(root);
    for (const file of [...files.host, ...files.sites.map((site) => site.file)]) writeHostFile(file.path, file.content);
    enableApacheSites(
      apache,
      files.sites.map((site) => site.slug),
    );
    const result = apacheConfigTest(apache);
    expect(result.output).toContain("Syntax OK");
    expect(result.ok).toBe(true);
  });

  test("is not a rubber stamp: a broken directive fails it", () => {
    const apache = prepareApacheRoot(root);
    const vhost = files.sites[0]!.file;
    writeFileSync(vhost.path, readFileSync(vhost.path, "utf8").replace("LimitRequestBody", "LimitRequestBodyy"));
    const result = apacheConfigTest(apache);
    writeFileSync(vhost.path, vhost.content);
    expect(result.ok).toBe(false);
    expect(result.output).toContain("Invalid command 'LimitRequestBodyy'");
  });
});
