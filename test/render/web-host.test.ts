import { describe, expect, it } from "vitest";
import { resolveWebHost, unixUserName, type HostFacts } from "../../lib/render/context";
import { allFiles, renderWebHost } from "../../lib/render/files";
import { ConfigError } from "../../lib/schema/errors";
import { Site, siteSlug, type SiteInput } from "../../lib/schema/site";
import { parseStack, type StackInput } from "../../lib/schema/stack";
import { z } from "zod";

const facts: HostFacts = { name: "web-1", memoryMb: 4096, roles: ["web"] };
const render = (input: StackInput, hostFacts: HostFacts = facts) => renderWebHost(parseStack(input), hostFacts);
const fileAt = (input: StackInput, path: string, hostFacts?: HostFacts) => {
  const file = allFiles(render(input, hostFacts)).find((candidate) => candidate.path === path);
  if (file === undefined) throw new Error(`no file at ${path}`);
  return file.content;
};

const certificate = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
const privateKey = "-----BEGIN PRIVATE KEY-----\nMIGHfake\n-----END PRIVATE KEY-----\n";

describe("a web host's files", () => {
  const showcase: StackInput = {
    sizes: { web: "s-2vcpu-4gb" },
    sites: [
      {
        domain: "example.com",
        aliases: ["www.example.com"],
        access: { allow: ["203.0.113.0/24"], deny: ["203.0.113.7"] },
        caching: { pageCache: "10s" },
        tls: { mode: "letsencrypt" },
      },
      { domain: "static.example.com", kind: "static", securityHeaders: false, gzip: false, caching: { staticMaxAge: "off" } },
      { domain: "app.example.com", kind: "proxy", proxy: { port: 3000 } },
      { domain: "legacy.example.com", webServer: "apache", phpVersion: "8.1", pool: { pm: "dynamic", maxChildren: 6 } },
    ],
  };

  it("are the same bytes for the same input", () => {
    expect(allFiles(render(showcase))).toEqual(allFiles(render(showcase)));
  });

  it("match the reviewed snapshots (nginx and PHP; the Apache files have their own)", () => {
    for (const file of allFiles(render(showcase, { ...facts, trustedProxies: ["10.10.0.5"] })).filter((file) => !file.path.startsWith("/etc/apache2/"))) {
      expect(file.content).toMatchSnapshot(file.path);
    }
  });

  it("keep each site's files apart, so changing one site changes only its own files", () => {
    const before = render(showcase);
    const changed = structuredClone(showcase);
    changed.sites![2] = { domain: "app.example.com", kind: "proxy", proxy: { port: 3001 } };
    const after = render(changed);
    expect(after.host).toEqual(before.host);
    const unchanged = after.sites.map((site, index) => JSON.stringify(site.files) === JSON.stringify(before.sites[index]!.files));
    expect(unchanged).toEqual([true, true, false, true]);
  });

  it("list what provisioning installs and creates", () => {
    const host = render(showcase);
    expect(host.packages).toEqual(["apache2", "nginx", "php8.1-fpm", "php8.2-fpm"]);
    expect(host.sites[0]!.account).toEqual({ user: "example_com", group: "example_com" });
    expect(host.sites[0]!.directories).toEqual([
      { path: "/var/www/example_com", mode: "0750", owner: "example_com:www-data" },
      { path: "/var/www/example_com/public", mode: "0750", owner: "example_com:www-data" },
      { path: "/var/www/example_com/logs", mode: "0750", owner: "example_com:example_com" },
      { path: "/var/www/example_com/sessions", mode: "0700", owner: "example_com:example_com" },
      { path: "/var/www/example_com/tmp", mode: "0700", owner: "example_com:example_com" },
    ]);
    expect(host.sites[1]!.directories.map((directory) => directory.path)).toEqual([
      "/var/www/static_example_com",
      "/var/www/static_example_com/public",
      "/var/www/static_example_com/logs",
    ]);
    expect(render({ sites: [{ domain: "a.example.com", php: { extensions: ["redis", "intl", "ctype"] } }] }).packages).toEqual([
      "nginx",
      "php8.2-common",
      "php8.2-fpm",
      "php8.2-intl",
      "php8.2-redis",
    ]);
  });

  it("put a pool per PHP site under its version's pool.d, and none for static or proxy sites", () => {
    const paths = allFiles(render(showcase)).map((file) => file.path);
    expect(paths.filter((path) => path.includes("/pool.d/"))).toEqual([
      "/etc/php/8.2/fpm/pool.d/example_com.conf",
      "/etc/php/8.1/fpm/pool.d/legacy_example_com.conf",
    ]);
    expect(paths.filter((path) => path.endsWith("99-megaweb.ini"))).toEqual([
      "/etc/php/8.1/fpm/conf.d/99-megaweb.ini",
      "/etc/php/8.2/fpm/conf.d/99-megaweb.ini",
    ]);
  });

  it("front an Apache site with nginx on the Apache loopback port", () => {
    const front = fileAt(showcase, "/etc/nginx/sites-enabled/legacy_example_com.conf");
    expect(front).toContain("proxy_pass http://127.0.0.1:8080;");
    expect(front).not.toContain("fastcgi_pass");
    expect(fileAt(showcase, "/etc/php/8.1/fpm/pool.d/legacy_example_com.conf")).toContain("listen = /run/php/php8.1-fpm-legacy_example_com.sock");
  });

  it("front an OpenLiteSpeed site on the OLS loopback port, with its vhost and the server file registering it", () => {
    const host = render({ sites: [{ domain: "ols.example.com", webServer: "openlitespeed" }, { domain: "plain.example.com" }] });
    expect(host.host.map((file) => file.path)).toContain("/usr/local/lsws/conf/httpd_config.conf");
    expect(host.sites[0]!.files.map((file) => file.path)).toEqual([
      "/etc/nginx/sites-enabled/ols_example_com.conf",
      "/usr/local/lsws/conf/vhosts/ols_example_com/vhconf.conf",
      "/etc/php/8.2/fpm/pool.d/ols_example_com.conf",
      "/etc/php/8.2/fpm/sites/ols_example_com.conf",
    ]);
    expect(host.sites[0]!.files[0]!.content).toContain("proxy_pass http://127.0.0.1:8088;");
    expect(host.sites[0]!.files[2]!.content).toContain("listen.group = nogroup");
    expect(host.packages).toEqual(["nginx", "openlitespeed", "php8.2-fpm"]);
  });

  it("write a custom certificate, and its key as a secret root-only file holding a placeholder, never the key", () => {
    const site = (key: unknown) => ({ sites: [{ domain: "shop.example.com", tls: { mode: "custom", certificate, key } }] }) as StackInput;
    for (const key of [privateKey, { secure: "v1:abc" }]) {
      const files = allFiles(render(site(key)));
      expect(files.find((file) => file.path === "/etc/ssl/megaweb/shop_example_com.crt")).toEqual({
        path: "/etc/ssl/megaweb/shop_example_com.crt",
        content: certificate,
      });
      expect(files.find((file) => file.path === "/etc/ssl/private/megaweb-shop_example_com.key")).toEqual({
        path: "/etc/ssl/private/megaweb-shop_example_com.key",
        content: "<secret:tls-key:shop.example.com>",
        mode: "0600",
        owner: "root:root",
        secret: true,
      });
      expect(files.some((file) => file.content.includes("MIGHfake") || file.content.includes("v1:abc"))).toBe(false);
    }
  });

  it("say which daemons serve each site and which PHP version its own FPM master runs", () => {
    const host = render({
      sites: [
        { domain: "a.example.com", phpVersion: "8.3" },
        { domain: "b.example.com", webServer: "apache", kind: "static" },
      ],
    });
    expect(host.sites.map(({ fpm, apache, openlitespeed }) => ({ fpm, apache, openlitespeed }))).toEqual([
      {
        fpm: {
          phpVersion: "8.3",
          pool: "/etc/php/8.3/fpm/pool.d/a_example_com.conf",
          master: "/etc/php/8.3/fpm/sites/a_example_com.conf",
          unit: "php8.3-fpm-site@a_example_com.service",
        },
        apache: false,
        openlitespeed: false,
      },
      { fpm: undefined, apache: true, openlitespeed: false },
    ]);
    expect(host.phpVersions).toEqual(["8.3"]);
    expect(host.fpmUnits.map((file) => file.path)).toEqual(["/etc/systemd/system/php8.3-fpm-site@.service"]);
    expect(host.apache).toEqual({ modules: expect.arrayContaining(["proxy_fcgi", "remoteip"]), confs: ["zz-megaweb"] });
  });

  it("tie the body limit to post_max_size and send HSTS only with TLS", () => {
    const conf = fileAt(
      { sites: [{ domain: "a.example.com", php: { uploadMaxFilesize: "8M", postMaxSize: "20M" } }] },
      "/etc/nginx/sites-enabled/a_example_com.conf",
    );
    expect(conf).toContain("client_max_body_size 20M;");
    expect(conf).not.toContain("Strict-Transport-Security");
    expect(fileAt(showcase, "/etc/nginx/sites-enabled/example_com.conf")).toContain('add_header Strict-Transport-Security "max-age=31536000" always;');
  });

  it("hand PHP the resolved script path only where a deploy may swap a symlink under the root", () => {
    const conf = (site: SiteInput) => fileAt({ sites: [site] }, "/etc/nginx/sites-enabled/a_example_com.conf");
    const scriptRoots = (text: string) => [...text.matchAll(/fastcgi_param {2}SCRIPT_FILENAME {4}(\S+)\$fastcgi_script_name;/g)].map((match) => match[1]);
    expect(scriptRoots(conf({ domain: "a.example.com" }))).toEqual(["$document_root", "$document_root"]);
    expect(scriptRoots(conf({ domain: "a.example.com", code: { repository: "https://git.example.com/a.git" } }))).toEqual(["$realpath_root", "$realpath_root"]);
    expect(scriptRoots(conf({ domain: "a.example.com", documentRoot: "/srv/a/current/public" }))).toEqual(["$realpath_root", "$realpath_root"]);
  });

  it("put a site's nginxDirectives verbatim at the end of its own server block, after megaweb's locations", () => {
    const directives = 'location = /health {\n    return 200 "ok\\n";\n}\n';
    const conf = fileAt({ sites: [{ domain: "a.example.com", nginxDirectives: directives }] }, "/etc/nginx/sites-enabled/a_example_com.conf");
    expect(
      conf.endsWith(`    # The site's nginxDirectives, last so megaweb's regex locations (the dotfile guard among them) match first.\n${directives}}\n`),
    ).toBe(true);
    expect(conf.indexOf("location = /health")).toBeGreaterThan(conf.indexOf("location ~ \\.php$"));
    expect(fileAt({ sites: [{ domain: "a.example.com" }] }, "/etc/nginx/sites-enabled/a_example_com.conf")).not.toContain("nginxDirectives");
  });
});

describe("site slugs and accounts", () => {
  it("map a domain to a slug no other domain shares", () => {
    expect(siteSlug("a-b.example.com")).toBe("a-b_example_com");
    expect(siteSlug("a.b-example.com")).toBe("a_b-example_com");
  });

  it("make Unix user names Debian accepts", () => {
    expect(unixUserName("example_com")).toBe("example_com");
    expect(unixUserName("1password_com")).toBe("w1password_com");
    const long = unixUserName(siteSlug("a-very-long-subdomain-name.customer-example.com"));
    expect(long).toMatch(/^[a-z][-a-z0-9_]{0,31}$/);
    expect(long).not.toBe(unixUserName(siteSlug("a-very-long-subdomain-name.customer-example.org")));
  });
});

describe("PHP-FPM pool sizing on a host", () => {
  // Only the host's memory and cores matter here, not the plan's estimate, so the sites are parsed alone.
  const sizes = (input: { sites: SiteInput[] }, memoryMb: number, roles: HostFacts["roles"] = ["web"], cpus?: number) =>
    resolveWebHost(z.array(Site).parse(input.sites), { name: "web-1", memoryMb, ...(cpus !== undefined && { cpus }), roles }).sites.map(
      (site) => site.pool?.size,
    );
  const children = (...args: Parameters<typeof sizes>) => sizes(...args).map((size) => size?.maxChildren);

  it("splits what the OS leaves over the pools, each at its memory_limit", () => {
    // 2048 MB - 320 MB for the OS = 1728 MB; two pools at 256M get 864 MB each: 3 workers.
    expect(sizes({ sites: [{ domain: "a.example.com" }, { domain: "b.example.com" }] }, 2048)).toEqual([
      { pm: "dynamic", maxChildren: 3, startServers: 1, minSpareServers: 1, maxSpareServers: 1 },
      { pm: "dynamic", maxChildren: 3, startServers: 1, minSpareServers: 1, maxSpareServers: 1 },
    ]);
  });

  it("leaves room for MySQL, Redis and the worker on a single box", () => {
    // 4096 - 320 - 1024 (MySQL 25%) - 205 (Redis 5%) - 192 (worker) = 2355 MB: 18 workers at 128M.
    expect(children({ sites: [{ domain: "a.example.com", php: { memoryLimit: "128M" } }] }, 4096, ["web", "mysql", "redis", "worker"])).toEqual([18]);
  });

  it("gives a pool at most 2.5 workers a core, at least Debian's 5, whatever the memory", () => {
    const site = { domain: "a.example.com", php: { memoryLimit: "128M" } };
    expect(children({ sites: [site] }, 4096, ["web", "mysql", "redis", "worker"], 1)).toEqual([5]);
    expect(children({ sites: [site] }, 4096, ["web", "mysql", "redis", "worker"], 2)).toEqual([5]);
    expect(children({ sites: [site] }, 4096, ["web", "mysql", "redis", "worker"], 4)).toEqual([10]);
    expect(children({ sites: [site] }, 4096, ["web", "mysql", "redis", "worker"], 8)).toEqual([18]);
    expect(children({ sites: [site] }, 65_536, ["web"], 16)).toEqual([32]);
    // Explicit pools are the user's call: only memory bounds them.
    expect(children({ sites: [{ ...site, pool: { maxChildren: 12 } }] }, 4096, ["web"], 1)).toEqual([12]);
  });

  it("keeps room for the app behind each proxy site", () => {
    // 1024 - 320 (OS) - 128 (the app) = 576 MB: 4 workers at 128M; without the app, 704 MB: 5.
    expect(
      children(
        {
          sites: [
            { domain: "a.example.com", php: { memoryLimit: "128M" } },
            { domain: "app.example.com", kind: "proxy", proxy: { port: 3000 } },
          ],
        },
        1024,
      ),
    ).toEqual([4, undefined]);
    expect(children({ sites: [{ domain: "a.example.com", php: { memoryLimit: "128M" } }] }, 1024)).toEqual([5]);
  });

  it("charges explicit pools first and derives dynamic spare servers", () => {
    expect(
      sizes(
        {
          sites: [
            { domain: "a.example.com", pool: { maxChildren: 4 } },
            { domain: "b.example.com", kind: "static" },
            { domain: "c.example.com", pool: { pm: "ondemand" } },
          ],
        },
        2048,
      ),
    ).toEqual([{ pm: "dynamic", maxChildren: 4, startServers: 1, minSpareServers: 1, maxSpareServers: 2 }, undefined, { pm: "ondemand", maxChildren: 2 }]);
  });

  it("refuses an explicit pool the host's real memory cannot hold, naming the field", () => {
    const refusal = (() => {
      try {
        sizes({ sites: [{ domain: "a.example.com", pool: { maxChildren: 8 } }] }, 1024);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(ConfigError);
    expect((refusal as ConfigError).message).toBe(
      "sites[0].pool.maxChildren: 8 workers × 256M do not fit: all pools together may use 704 MB on host web-1 of 1024 MB (320 MB kept for the OS and the other services)",
    );
  });

  it("refuses a PHP version the host does not have", () => {
    expect(() => renderWebHost(parseStack({ sites: [{ domain: "a.example.com", phpVersion: "8.3" }] }), { ...facts, phpVersions: ["8.2"] })).toThrow(
      "sites[0].phpVersion: PHP 8.3 is not installed on web-1 (installed: 8.2)",
    );
  });
});
