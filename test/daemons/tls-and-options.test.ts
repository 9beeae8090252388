import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import type { TLSSocket } from "node:tls";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selfSignedCertificate } from "./certificates";
import { renderWebHost, type WebHostRender } from "../../lib/render/files";
import { parseStack } from "../../lib/schema/stack";
import {
  fetchFrom,
  fpmConfigTest,
  freePort,
  materialize,
  nginxConfigTest,
  removeRoot,
  removeUsers,
  scratchRoot,
  startFpm,
  startNginx,
  writeHostFile,
  type Daemon,
} from "./harness";

/**
 * Every option the schema offers, rendered into one host and accepted by `nginx -t` and
 * `php-fpm8.2 -t`; then TLS served for real: a custom certificate and a Let's Encrypt layout.
 */

let root: string;
let render: WebHostRender;
let ports: { http: number; https: number };
const daemons: Daemon[] = [];
let createdUsers: string[] = [];

const custom = selfSignedCertificate("secure.megaweb.test", { days: 2 });
const letsencrypt = selfSignedCertificate("le.megaweb.test", { days: 2 });

const directives = 'location = /megaweb-directive {\n    default_type text/plain;\n    return 200 "from nginxDirectives\\n";\n}';

/** The host with `nginxDirectives` on the plain site; root and ports must be chosen first. */
function renderHost(nginxDirectives: string): WebHostRender {
  const stack = parseStack({
    sizes: { web: "s-2vcpu-4gb" },
    sites: [
      // As the Pulumi program sees it: the key decrypted from its `secure:` value; rendering leaves it a placeholder.
      { domain: "secure.megaweb.test", tls: { mode: "custom", certificate: custom.certificate, key: custom.key }, kind: "static" },
      { domain: "le.megaweb.test", tls: { mode: "letsencrypt", email: "ops@megaweb.test" }, pool: { pm: "static", maxChildren: 2 } },
      { domain: "plain.megaweb.test", kind: "static", securityHeaders: false, gzip: false, caching: { staticMaxAge: "off" }, nginxDirectives },
      { domain: "dyn.megaweb.test", pool: { pm: "dynamic", maxChildren: 4, maxRequests: 0 }, caching: { pageCache: "5m", staticMaxAge: "12h" } },
      { domain: "office.megaweb.test", access: { allow: ["10.0.0.0/8", "2001:db8::/32"], deny: ["10.9.9.9"] }, documentRoot: "/srv/office/web" },
      { domain: "ws.megaweb.test", aliases: ["*.ws.megaweb.test"], kind: "proxy", proxy: { port: 3999, host: "::1", websockets: true } },
    ],
  });
  return renderWebHost(stack, {
    name: "web-options",
    memoryMb: 4096,
    roles: ["web"],
    phpVersions: ["8.2"],
    listenAddress: "127.0.0.1",
    ports: { http: ports.http, https: ports.https },
    trustedProxies: ["10.20.0.2", "10.20.0.3"],
    root,
  });
}

beforeAll(async () => {
  root = scratchRoot("options");
  ports = { http: await freePort(), https: await freePort() };
  render = renderHost(directives);
  createdUsers = materialize(render, root, new Map([["tls-key:secure.megaweb.test", custom.key]]));
  const live = join(root, "etc/letsencrypt/live/le.megaweb.test");
  writeHostFile(join(live, "fullchain.pem"), letsencrypt.certificate);
  writeHostFile(join(live, "privkey.pem"), letsencrypt.key, "0600");
  const site = (slug: string) => render.sites.find((candidate) => candidate.slug === slug)!;
  const owned = (slug: string) => `${site(slug).account.user}:${site(slug).account.group}`;
  writeHostFile(join(site("secure_megaweb_test").directories[1]!.path, "index.html"), "secure\n", "0644", owned("secure_megaweb_test"));
  writeHostFile(
    join(site("le_megaweb_test").directories[1]!.path, "index.php"),
    "<?php echo 'le ', ini_get('memory_limit');",
    "0644",
    owned("le_megaweb_test"),
  );
  daemons.push(await startFpm(root, "8.2"), await startNginx(root));
});

afterAll(async () => {
  for (const daemon of daemons.reverse()) await daemon.stop();
  removeUsers(createdUsers);
  removeRoot(root);
});

function httpsGet(servername: string, path = "/"): Promise<{ status: number; headers: Record<string, unknown>; body: string; subject: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: ports.https, path, servername, headers: { Host: servername }, rejectUnauthorized: false }, (res) => {
      const subject = String((res.socket as TLSSocket).getPeerCertificate().subject?.CN ?? "");
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, subject }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("every site option, checked and served by the real daemons", () => {
  it("passes nginx -t and php-fpm8.2 -t", () => {
    expect(() => nginxConfigTest(root)).not.toThrow();
    expect(() => fpmConfigTest(root, "8.2")).not.toThrow();
  });

  it("writes the custom key only readable by root", () => {
    const key = render.sites[0]!.files.find((file) => file.secret)!;
    expect(key.path).toBe(join(root, "etc/ssl/private/megaweb-secure_megaweb_test.key"));
    expect(readFileSync(key.path, "utf8")).toBe(custom.key);
    expect(execFileSync("stat", ["-c", "%a %U", key.path], { encoding: "utf8" }).trim()).toBe("600 root");
  });

  it("serves a custom certificate over HTTPS with HSTS, and redirects plain HTTP there", async () => {
    const page = await httpsGet("secure.megaweb.test");
    expect(page).toMatchObject({ status: 200, body: "secure\n", subject: "secure.megaweb.test" });
    expect(page.headers["strict-transport-security"]).toBe("max-age=31536000");
    const plain = await fetchFrom({ port: ports.http, host: "secure.megaweb.test", path: "/login?next=/" });
    expect(plain.status).toBe(301);
    expect(plain.headers.location).toBe("https://secure.megaweb.test/login?next=/");
  });

  it("serves a Let's Encrypt site from certbot's live paths, through its static pool", async () => {
    const page = await httpsGet("le.megaweb.test");
    expect(page).toMatchObject({ status: 200, body: "le 256M", subject: "le.megaweb.test" });
  });

  it("refuses TLS handshakes for names no site has", async () => {
    await expect(httpsGet("nobody.megaweb.test")).rejects.toThrow(/alert|handshake|unrecognized name/i);
  });

  it("limits an allow-listed site to its networks", async () => {
    expect((await fetchFrom({ port: ports.http, host: "office.megaweb.test" })).status).toBe(403);
  });

  it("serves what a site's nginxDirectives add", async () => {
    expect(await fetchFrom({ port: ports.http, host: "plain.megaweb.test", path: "/megaweb-directive" })).toMatchObject({
      status: 200,
      body: "from nginxDirectives\n",
    });
  });

  it("fails nginx -t on a directive nginx does not know, naming it", () => {
    const vhost = (host: WebHostRender) =>
      host.sites.find((site) => site.slug === "plain_megaweb_test")!.files.find((file) => file.path.includes("/etc/nginx/"))!;
    const good = vhost(render);
    writeHostFile(good.path, vhost(renderHost("megaweb_no_such_directive on;")).content);
    try {
      expect(() => nginxConfigTest(root)).toThrow(/unknown directive "megaweb_no_such_directive" in .*plain_megaweb_test\.conf/);
    } finally {
      writeHostFile(good.path, good.content);
    }
    expect(() => nginxConfigTest(root)).not.toThrow();
  });
});
