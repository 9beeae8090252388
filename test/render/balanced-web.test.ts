import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderBalancedWeb } from "../../lib/render/balanced-web";
import { resolveWebHost } from "../../lib/render/context";
import { renderWebBackends } from "../../lib/render/haproxy-backends";
import { parseStack } from "../../lib/schema/stack";

const stack = parseStack({
  sites: [
    { domain: "shop.example.com", php: { memoryLimit: "64M" } },
    { domain: "legacy.example.com", webServer: "apache", php: { memoryLimit: "64M" } },
    { domain: "ols.example.com", webServer: "openlitespeed", php: { memoryLimit: "64M" } },
    { domain: "files.example.com", kind: "static" },
  ],
});
const { host, sites } = resolveWebHost(stack.sites, { name: "web-2", memoryMb: 2048, roles: ["web"], phpVersions: ["8.2"] });
const balancers = ["10.20.0.2", "10.20.0.3"];

describe("a web node's part behind the balancers", () => {
  const render = renderBalancedWeb({ host, sites, balancers, appPort: 3000 });
  const config = render.files[0]!.content;

  it("believes the client address of the PROXY protocol header from the balancers only", () => {
    expect(render.files[0]!.path).toBe("/etc/nginx/conf.d/megaweb-balancer.conf");
    expect(config).toContain("real_ip_header proxy_protocol;");
    expect(config.match(/^set_real_ip_from .*;$/gm)).toEqual(["set_real_ip_from 10.20.0.2;", "set_real_ip_from 10.20.0.3;"]);
    expect(config).toContain("    listen 80 proxy_protocol;\n    listen [::]:80 proxy_protocol;\n    listen 443 ssl proxy_protocol;\n");
  });

  it("checks the pools nginx can reach and the app, and only the balancers and the node may ask", () => {
    expect(render.checks.map((check) => check.path)).toEqual([
      "/megaweb-health/php/shop_example_com",
      "/megaweb-health/php/legacy_example_com",
      "/megaweb-health/app",
    ]);
    // And the node itself, whose deploys wait for these checks before it rejoins the pool.
    expect(config.match(/^ {4}(allow|deny) .*;$/gm)).toEqual(["    allow 10.20.0.2;", "    allow 10.20.0.3;", "    allow 127.0.0.1;", "    deny all;"]);
    expect(render.files.slice(1).map((file) => file.path)).toEqual([
      "/var/www/shop_example_com/megaweb-health.php",
      "/var/www/legacy_example_com/megaweb-health.php",
    ]);
  });

  it("falls back to nginx answering on a node with neither PHP nor the app", () => {
    const staticOnly = resolveWebHost(parseStack({ sites: [{ domain: "files.example.com", kind: "static" }] }).sites, {
      name: "web-1",
      memoryMb: 1024,
      roles: ["web"],
    });
    const bare = renderBalancedWeb({ host: staticOnly.host, sites: staticOnly.sites, balancers });
    expect(bare.checks).toEqual([{ path: "/megaweb-health/nginx" }]);
    expect(bare.files[0]!.content).toContain("location = /megaweb-health/nginx {");
  });

  it("renders web backends that haproxy -c accepts, sending PROXY protocol and checking every path", () => {
    const backends = renderWebBackends({
      servers: [
        { name: "web-1", address: "10.20.0.11" },
        { name: "web-2", address: "10.20.0.12" },
      ],
      checks: render.checks,
    });
    expect(backends).toContain("    server web-2 10.20.0.12:443 send-proxy track web_http/web-2\n");
    expect(backends.match(/http-check send meth GET uri (\S+)/g)).toHaveLength(3);
    const dir = mkdtempSync(join(tmpdir(), "megaweb-haproxy-check-"));
    try {
      const frame = [
        "defaults",
        "    timeout connect 5s",
        "    timeout client 5s",
        "    timeout server 5s",
        "frontend http",
        "    mode http",
        "    bind 127.0.0.1:8080",
        "    default_backend web_http",
        "frontend https",
        "    mode tcp",
        "    bind 127.0.0.1:8443",
        "    default_backend web_https",
        "",
      ];
      writeFileSync(join(dir, "haproxy.cfg"), [...frame, backends].join("\n"));
      const check = spawnSync("haproxy", ["-c", "-f", join(dir, "haproxy.cfg")], { encoding: "utf8" });
      expect(check.status, check.stdout + check.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
