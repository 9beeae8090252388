import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { resolveWebHost, type HostFacts } from "../../lib/render/context";
import { renderWebHost } from "../../lib/render/files";
import { renderFpmSessions } from "../../lib/render/php-fpm";
import { parseStack, type StackInput } from "../../lib/schema/stack";
import { materialize, removeRoot, removeUsers, scratchRoot, writeHostFile } from "../daemons/harness";
import { problems } from "../schema/problems";

/**
 * PHP sessions across web nodes: in Redis when the phase has more than one, the password only in a
 * root-only file the site's FPM master includes, and a session cookie sibling sites may share.
 */

const shared: HostFacts = { name: "web-1", memoryMb: 4096, roles: ["web"], sharedSessions: true };
const sites = [
  { domain: "shop.example.com", sessions: { cookieDomain: ".example.com" } },
  { domain: "account.example.com", sessions: { cookieDomain: ".Example.com" } },
  { domain: "blog.example.org" },
];
/** On the 4 GB host `shared` describes, which three default pools fit beside the monitoring. */
const input: StackInput = { sizes: { web: "s-2vcpu-4gb" }, sites };
const store = { address: "10.10.0.9", port: 6379, password: "s3cr3t-Redis_pass" };

function sessionFiles(input: StackInput, facts: HostFacts) {
  const stack = parseStack(input);
  const render = renderWebHost(stack, facts);
  const contexts = resolveWebHost(stack.sites, facts).sites;
  return stack.sites.map((site, index) => {
    const files = render.sites[index]!.files;
    const context = contexts[index]!;
    return {
      pool: files.find((file) => file.path.includes("/pool.d/"))!,
      master: files.find((file) => file.path.includes("/fpm/sites/"))!,
      sessions: context.pool?.sharedSessionsConfig === undefined ? undefined : renderFpmSessions(site, { ...context, pool: context.pool }, store),
    };
  });
}

describe("the sessions schema", () => {
  it("accepts a parent domain of the site, and the site's own apex", () => {
    expect(problems({ sites: [{ domain: "shop.example.com", sessions: { cookieDomain: ".example.com" } }] })).toEqual([]);
    expect(problems({ sites: [{ domain: "example.com", sessions: { cookieDomain: ".example.com" } }] })).toEqual([]);
  });

  it("refuses a cookie domain the site is not under", () => {
    expect(problems({ sites: [{ domain: "shop.example.com", sessions: { cookieDomain: ".example.org" } }] })).toEqual([
      'sites[0].sessions.cookieDomain: ".example.org" is not a parent domain of "shop.example.com": a browser sends the cookie only to the domain and its subdomains',
    ]);
    expect(problems({ sites: [{ domain: "myexample.com", sessions: { cookieDomain: ".example.com" } }] })).toEqual([
      'sites[0].sessions.cookieDomain: ".example.com" is not a parent domain of "myexample.com": a browser sends the cookie only to the domain and its subdomains',
    ]);
  });

  it("refuses a top-level domain or a name without its leading dot", () => {
    expect(problems({ sites: [{ domain: "shop.example.com", sessions: { cookieDomain: ".com" } }] })).toEqual([
      'sites[0].sessions.cookieDomain: ".com" is not a parent domain with a leading dot and at least two labels, like ".example.com"',
    ]);
    expect(problems({ sites: [{ domain: "shop.example.com", sessions: { cookieDomain: "example.com" } }] })).toEqual([
      'sites[0].sessions.cookieDomain: "example.com" is not a parent domain with a leading dot and at least two labels, like ".example.com"',
    ]);
  });

  it("refuses a cookie domain on a site without PHP", () => {
    expect(problems({ sites: [{ domain: "static.example.com", kind: "static", sessions: { cookieDomain: ".example.com" } }] })).toEqual([
      'sites[0].sessions.cookieDomain: applies only when kind is "php" (PHP\'s session cookie)',
    ]);
  });
});

describe("a pool's sessions", () => {
  it("stay in files under the site's home on a single web node", () => {
    const [shop] = sessionFiles(input, { ...shared, sharedSessions: false });
    expect(shop!.pool.content).toContain("php_admin_value[session.save_path] = /var/www/shop_example_com/sessions\n");
    expect(shop!.master.content).not.toContain("sessions/");
    expect(shop!.sessions).toBeUndefined();
  });

  it("go to Redis with more than one web node, the password only in a root-only file the master includes", () => {
    const [shop, , blog] = sessionFiles(input, shared);
    expect(shop!.pool.content).not.toContain("session.save_path");
    expect(shop!.pool.content).not.toContain(store.password);
    expect(shop!.master.content).toContain("include = /etc/php/8.2/fpm/sessions/shop_example_com.conf\n");
    expect(shop!.sessions).toEqual({
      path: "/etc/php/8.2/fpm/sessions/shop_example_com.conf",
      mode: "0600",
      owner: "root:root",
      secret: true,
      content: expect.stringContaining(
        '[shop_example_com]\nphp_admin_value[session.save_handler] = redis\nphp_admin_value[session.save_path] = "tcp://10.10.0.9:6379?auth=s3cr3t-Redis_pass&prefix=PHPREDIS_SESSION:.example.com:"\n',
      ),
    });
    expect(blog!.sessions!.content).toContain("&prefix=PHPREDIS_SESSION:blog.example.org:");
    expect(renderWebHost(parseStack(input), shared).packages).toContain("php8.2-redis");
  });

  it("share the cookie and the key prefix between sibling sites only", () => {
    const [shop, account, blog] = sessionFiles(input, shared);
    for (const sibling of [shop!, account!]) expect(sibling.pool.content).toContain("php_value[session.cookie_domain] = .example.com\n");
    expect(blog!.pool.content).not.toContain("cookie_domain");
    const prefix = (content: string) => /prefix=([^"]+)"/.exec(content)![1];
    expect(prefix(shop!.sessions!.content)).toBe(prefix(account!.sessions!.content));
    expect(prefix(blog!.sessions!.content)).not.toBe(prefix(shop!.sessions!.content));
  });
});

describe("php-fpm reads a pool with shared sessions as one pool", () => {
  const root = scratchRoot("sessions");
  let users: string[] = [];
  afterAll(() => {
    removeUsers(users);
    removeRoot(root);
  });

  it("merges the root-only file into the site's pool, so its workers use Redis", () => {
    const facts = { ...shared, root };
    const stack = parseStack({ sites: [sites[0]!] });
    users = materialize(renderWebHost(stack, facts), root);
    const context = resolveWebHost(stack.sites, facts).sites[0]!;
    const sessions = renderFpmSessions(stack.sites[0]!, { ...context, pool: context.pool! }, store);
    expect(sessions.path).toBe(`${root}/etc/php/8.2/fpm/sessions/shop_example_com.conf`);
    writeHostFile(sessions.path, sessions.content, sessions.mode, sessions.owner);
    // -tt prints the parsed configuration, pool by pool, on stderr.
    const dump = spawnSync("php-fpm8.2", ["-tt", "--fpm-config", context.pool!.masterPath], { encoding: "utf8" });
    expect(dump.status, dump.stderr).toBe(0);
    const output = dump.stderr;
    expect(output.match(/\[shop_example_com\]/g)).toHaveLength(1);
    expect(output).toContain("php_admin_value[session.save_handler] = redis");
    expect(output).toContain(`php_admin_value[session.save_path] = tcp://10.10.0.9:6379?auth=${store.password}&prefix=PHPREDIS_SESSION:.example.com:`);
    expect(output).toContain("php_value[session.cookie_domain] = .example.com");
    expect(output).toContain("test is successful");
  });
});
