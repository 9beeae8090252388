import { describe, expect, it } from "vitest";
import { problems } from "./problems";
import { parseStack, stackInputFromConfig, type StackInput } from "../../lib/schema/stack";

const oneSite = (site: Record<string, unknown>): StackInput => ({ sites: [{ domain: "ok.example.com" }, site] as StackInput["sites"] });

describe("a stack with only a domain", () => {
  it("is valid and gets the documented defaults", () => {
    const stack = parseStack({ sites: [{ domain: "example.com" }] });
    const [site] = stack.sites;
    expect(site).toMatchObject({
      domain: "example.com",
      aliases: [],
      webServer: "nginx",
      kind: "php",
      phpVersion: "8.2",
      php: { memoryLimit: "256M", maxExecutionTime: 60, uploadMaxFilesize: "64M", postMaxSize: "64M", extensions: [] },
      pool: { pm: "dynamic", maxRequests: 10_000 },
      tls: { mode: "none" },
      gzip: true,
      securityHeaders: true,
      access: { allow: [], deny: [] },
    });
    expect(site!.pool.maxChildren).toBeUndefined();
    expect(stack.phase).toBe("single");
  });

  it("reads YAML's numeric PHP versions back as versions", () => {
    expect(parseStack(oneSite({ domain: "a.example.com", phpVersion: 8.0 })).sites[1]!.phpVersion).toBe("8.0");
    expect(parseStack(oneSite({ domain: "a.example.com", phpVersion: 8.4 })).sites[1]!.phpVersion).toBe("8.4");
  });

  it("folds upper-case domains to lower case", () => {
    expect(parseStack(oneSite({ domain: "Shop.Example.COM" })).sites[1]!.domain).toBe("shop.example.com");
  });

  it("keeps the copies a growth moved away from unless told to forget them", () => {
    expect(parseStack({}).forgetMovedData).toBe(false);
    expect(parseStack({ phase: "four-server", forgetMovedData: true }).forgetMovedData).toBe(true);
  });
});

describe("bad input is refused with the field path and the rule", () => {
  it.each([
    ["a space", "exa mple.com"],
    ["a semicolon", "example.com;"],
    ["a brace", "example.com{"],
    ["a newline", "example.com\nevil.com"],
    ["two dots in a row", "example..com"],
  ])("rejects a domain with %s", (_, domain) => {
    expect(problems(oneSite({ domain }))).toEqual([`sites[1].domain: ${JSON.stringify(domain)} is not a valid host name`]);
  });

  it("rejects a relative document root", () => {
    expect(problems(oneSite({ domain: "a.example.com", documentRoot: "var/www/a" }))).toEqual([`sites[1].documentRoot: "var/www/a" must be an absolute path`]);
  });

  it("rejects a document root with .. in it", () => {
    expect(problems(oneSite({ domain: "a.example.com", documentRoot: "/var/www/../../etc" }))).toEqual([
      `sites[1].documentRoot: "/var/www/../../etc" must not contain . or .. segments`,
    ]);
  });

  it("rejects a document root that would end a directive", () => {
    expect(problems(oneSite({ domain: "a.example.com", documentRoot: "/var/www/a; deny all" }))).toEqual([
      `sites[1].documentRoot: "/var/www/a; deny all" may hold only letters, digits and . _ / @ + -`,
    ]);
  });

  it("rejects PHP 7.4", () => {
    expect(problems(oneSite({ domain: "a.example.com", phpVersion: 7.4 }))).toEqual([`sites[1].phpVersion: "7.4" is not a supported PHP version (8.0–8.4)`]);
  });

  it("rejects a memory_limit of lots", () => {
    expect(problems(oneSite({ domain: "a.example.com", php: { memoryLimit: "lots" } }))).toEqual([
      `sites[1].php.memoryLimit: "lots" is not a PHP size (a number and K, M or G, like 128M)`,
    ]);
  });

  it("rejects the same domain on two sites", () => {
    expect(problems({ sites: [{ domain: "example.com" }, { domain: "EXAMPLE.com" }] })).toEqual([
      `sites[1].domain: "example.com" is already used by sites[0].domain`,
    ]);
  });

  it("rejects an alias equal to another site's domain", () => {
    expect(problems({ sites: [{ domain: "example.com" }, { domain: "shop.example.com", aliases: ["www.shop.example.com", "example.com"] }] })).toEqual([
      `sites[1].aliases[1]: "example.com" is already used by sites[0].domain`,
    ]);
  });

  it("rejects an IP entry that is not an address", () => {
    expect(problems(oneSite({ domain: "a.example.com", access: { allow: ["10.0.0.0/8"], deny: ["10.1.2"] } }))).toEqual([
      `sites[1].access.deny[0]: "10.1.2" is not an IP address or CIDR`,
    ]);
  });

  it("rejects a pool over the host's PHP budget, naming the field and the budget", () => {
    expect(problems({ sizes: { web: "s-1vcpu-2gb" }, sites: [{ domain: "a.example.com", pool: { maxChildren: 40 } }] })).toEqual([
      `sites[0].pool.maxChildren: 40 workers × 256M do not fit: all pools together may use 666 MB on a s-1vcpu-2gb single box of 2048 MB (1382 MB kept for the OS and the other services)`,
    ]);
  });

  it("counts the pools sized automatically when checking an explicit one", () => {
    const sites = [{ domain: "a.example.com", pool: { maxChildren: 2 } }, { domain: "b.example.com" }];
    expect(problems({ sizes: { web: "s-1vcpu-2gb" }, sites })).toEqual([
      `sites[0].pool.maxChildren: 2 workers × 256M do not fit: all pools together may use 666 MB on a s-1vcpu-2gb single box of 2048 MB (1382 MB kept for the OS and the other services)`,
    ]);
    expect(problems({ sizes: { web: "s-1vcpu-2gb" }, sites: [sites[0]!] })).toEqual([]);
  });

  it("rejects an unknown key, at its own path", () => {
    expect(problems(oneSite({ domain: "a.example.com", phpVersoin: "8.2" }))).toEqual([`sites[1].phpVersoin: is not a known setting`]);
    expect(problems({ sites: [], sitez: [] })).toEqual([`sitez: is not a known setting`]);
  });

  it("reports every problem at once, infrastructure and sites alike", () => {
    expect(problems({ region: "Mars", sites: [{ domain: "a b" }, { domain: "c.example.com", webServer: "iis" }] })).toEqual([
      `region: "Mars" is not a DigitalOcean region slug (like nyc3)`,
      `sites[0].domain: "a b" is not a valid host name`,
      `sites[1].webServer: "iis" is not a supported web server (nginx, apache, openlitespeed)`,
    ]);
  });

  it("names missing and mistyped fields", () => {
    expect(problems({ sites: [{ aliases: [] }] })).toEqual([`sites[0].domain: is required`]);
    expect(problems({ sites: [{ domain: "a.example.com", gzip: "yes" }] })).toEqual([`sites[0].gzip: must be a boolean (got string "yes")`]);
    expect(problems({ forgetMovedData: "yes" })).toEqual([`forgetMovedData: must be a boolean (got string "yes")`]);
    expect(problems({ sites: { domain: "a.example.com" } })).toEqual([`sites: must be an array (got a mapping)`]);
  });

  it("requires an upstream for a proxy site and refuses one elsewhere", () => {
    expect(problems(oneSite({ domain: "a.example.com", kind: "proxy" }))).toEqual([`sites[1].proxy: is required when kind is "proxy" (like { port: 3000 })`]);
    expect(problems(oneSite({ domain: "a.example.com", proxy: { port: 3000 } }))).toEqual([`sites[1].proxy: applies only when kind is "proxy"`]);
  });

  it("refuses an upload limit above the post limit", () => {
    expect(problems(oneSite({ domain: "a.example.com", php: { uploadMaxFilesize: "128M", postMaxSize: "64M" } }))).toEqual([
      `sites[1].php.uploadMaxFilesize: 128M is larger than postMaxSize 64M, so such uploads could never arrive`,
    ]);
  });

  it("refuses inconsistent dynamic pool figures", () => {
    expect(problems(oneSite({ domain: "a.example.com", pool: { pm: "dynamic", maxChildren: 4, minSpareServers: 3, maxSpareServers: 2 } }))).toEqual([
      `sites[1].pool.minSpareServers: 3 is more than maxSpareServers 2`,
    ]);
    expect(problems(oneSite({ domain: "a.example.com", pool: { pm: "ondemand", startServers: 2 } }))).toEqual([
      `sites[1].pool.startServers: applies only when pm is "dynamic"`,
    ]);
  });

  it("refuses a TLS key written in plain text and an unknown TLS mode", () => {
    const certificate = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    expect(problems(oneSite({ domain: "a.example.com", tls: { mode: "custom", certificate, key: "hunter2" } }))).toEqual([
      `sites[1].tls.key: must be a secret (pulumi config set --secret --path 'sites[N].tls.key' < key.pem)`,
    ]);
    expect(problems(oneSite({ domain: "a.example.com", tls: { mode: "custom", certificate, key: { secure: "v1:abc" } } }))).toEqual([]);
    expect(problems(oneSite({ domain: "a.example.com", tls: { mode: "selfsigned" } }))).toEqual([
      `sites[1].tls.mode: "selfsigned" is not a TLS mode (none, letsencrypt, custom)`,
    ]);
    expect(problems(oneSite({ domain: "a.example.com", tls: { email: "a@example.com" } }))).toEqual([
      `sites[1].tls.mode: needs a mode (none, letsencrypt, custom)`,
    ]);
  });

  it("refuses a database password, since provisioning derives each site's own", () => {
    expect(problems(oneSite({ domain: "a.example.com", database: { password: "hunter2" } }))).toEqual([`sites[1].database.password: is not a known setting`]);
    expect(problems(oneSite({ domain: "a.example.com", database: { password: { secure: "v1:abc" } } }))).toEqual([
      `sites[1].database.password: is not a known setting`,
    ]);
  });

  it("refuses nginxDirectives that would break out of the server block or run into what follows", () => {
    const directives = (nginxDirectives: string) => problems(oneSite({ domain: "a.example.com", nginxDirectives }));
    expect(directives("add_header X-Extra 1;\n}\nserver { listen 81; }")).toEqual([
      `sites[1].nginxDirectives: the "}" on line 2 would close the site's server block; directives must stay inside it`,
    ]);
    expect(directives("location /a {\n  return 204;\n")).toEqual([`sites[1].nginxDirectives: leaves 1 "{" unclosed`]);
    expect(directives("add_header X-Extra 1")).toEqual([`sites[1].nginxDirectives: must end its last directive with ; or }`]);
    expect(directives(`return 200 "oops;`)).toEqual([`sites[1].nginxDirectives: leaves a " quote unclosed`]);
  });

  it("accepts nginxDirectives whose braces are quoted, escaped, commented or variables", () => {
    const directives = (nginxDirectives: string) => problems(oneSite({ domain: "a.example.com", nginxDirectives }));
    expect(directives(`location = /hi { return 200 "}{"; }`)).toEqual([]);
    expect(directives("# a } in a comment\nset $greeting ${host}x;\nadd_header X-Brace \\};")).toEqual([]);
    expect(directives("location ~ '^/a{2}$' {\n  return 204;\n}\n")).toEqual([]);
    expect(directives("# only a comment")).toEqual([]);
  });
});

describe("stack config from a stack file", () => {
  it("keeps megaweb: keys without their prefix and leaves other namespaces out", () => {
    expect(stackInputFromConfig({ "megaweb:sites": [{ domain: "example.com" }], "megaweb:phase": "single", "digitalocean:token": { secure: "v1:x" } })).toEqual(
      {
        sites: [{ domain: "example.com" }],
        phase: "single",
      },
    );
  });
});
