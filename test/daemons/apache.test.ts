import { execFileSync } from "node:child_process";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { resolveWebHost, type HostFacts, type SiteContext } from "../../lib/render/context";
import { renderWebHost } from "../../lib/render/files";
import { Site } from "../../lib/schema/site";
import { eventually } from "../faults/measure";
import { enableApacheSites, prepareApacheRoot, startApache, waitForFiles } from "./apache-harness";
import { fetchFrom, freePort, materialize, readLog, removeRoot, removeUsers, scratchRoot, startFpm, startNginx, writeHostFile, type Daemon } from "./harness";

/**
 * The rendered host served for real: PHP-FPM pools from the FPM renderer, Apache on its loopback
 * port behind nginx, a local upstream for the proxy site. Requests go straight to Apache (as nginx
 * forwards them) and through nginx, which also serves a site of its own on the same host.
 */

const whoAmI = `<?php
header("Content-Type: application/json");
echo json_encode([
  "user" => posix_getpwuid(posix_geteuid())["name"],
  "memory_limit" => ini_get("memory_limit"),
  "post_max_size" => ini_get("post_max_size"),
  "remote_addr" => $_SERVER["REMOTE_ADDR"],
  "https" => $_SERVER["HTTPS"] ?? "",
  "body_bytes" => strlen(file_get_contents("php://input")),
]);
`;

let root: string;
let ports: { apache: number; http: number; upstream: number };
const daemons: Daemon[] = [];
let createdUsers: string[] = [];
let contexts: SiteContext[] = [];
let upstream: Server | undefined;
let upstreamSaw: { host?: string; forwardedFor?: string } = {};

beforeAll(async () => {
  root = scratchRoot("apache");
  ports = { apache: await freePort(), http: await freePort(), upstream: await freePort() };

  upstream = createServer((req, res) => {
    upstreamSaw = { host: req.headers.host, forwardedFor: String(req.headers["x-forwarded-for"] ?? "") };
    res.setHeader("Content-Type", "text/plain");
    res.end(`upstream answered ${req.url}`);
  });
  await new Promise<void>((resolve) => upstream!.listen(ports.upstream, "127.0.0.1", resolve));

  const sites = [
    {
      domain: "php.apache.test",
      aliases: ["www.php.apache.test"],
      webServer: "apache",
      php: { memoryLimit: "96M", postMaxSize: "1M", uploadMaxFilesize: "1M" },
      access: { deny: ["127.0.0.2"] },
    },
    { domain: "static.apache.test", webServer: "apache", kind: "static" },
    { domain: "app.apache.test", webServer: "apache", kind: "proxy", proxy: { port: ports.upstream } },
    { domain: "nginx.apache.test", webServer: "nginx", php: { memoryLimit: "160M" } },
  ].map((input) => Site.parse(input));
  const facts: HostFacts = {
    name: "web-test",
    memoryMb: 4096,
    roles: ["web"],
    phpVersions: ["8.2"],
    root,
    listenAddress: "127.0.0.1",
    ports: { apache: ports.apache, http: ports.http, https: await freePort() },
  };
  // The whole host as megaweb renders it: nginx, the pools and the Apache files alike.
  const render = renderWebHost({ sites, healthPath: "/health" }, facts);
  createdUsers = materialize(render, root);
  contexts = resolveWebHost(sites, facts).sites;

  const docroot = (slug: string) => contexts.find((context) => context.slug === slug)!.documentRoot;
  const owner = (slug: string) => `${contexts.find((context) => context.slug === slug)!.account.user}:www-data`;
  const put = (slug: string, path: string, content: string) => writeHostFile(join(docroot(slug), path), content, "0640", owner(slug));
  put("php_apache_test", "index.php", whoAmI);
  put("php_apache_test", ".env", "DB_PASSWORD=hunter2\n");
  put("php_apache_test", ".git/config", "[core]\n");
  put("php_apache_test", ".well-known/security.txt", "Contact: mailto:security@php.apache.test\n");
  put("static_apache_test", "index.html", "<h1>static</h1>\n");
  put("static_apache_test", "site.css", `body { color: #333; }\n${"p { margin: 0; }\n".repeat(200)}`);
  put("nginx_apache_test", "index.php", whoAmI);

  // Symlinks as a site user would make them: to its own file, and to another site's.
  const link = (slug: string, path: string, target: string) => {
    symlinkSync(target, join(docroot(slug), path));
    const [user, group] = owner(slug).split(":") as [string, string];
    execFileSync("chown", ["--no-dereference", `${user}:${group}`, join(docroot(slug), path)]);
  };
  link("static_apache_test", "own.css", join(docroot("static_apache_test"), "site.css"));
  link("static_apache_test", "borrowed.php.txt", join(docroot("php_apache_test"), "index.php"));

  const apache = prepareApacheRoot(root);
  enableApacheSites(
    apache,
    contexts.filter((context) => context.backend !== undefined).map((context) => context.slug),
  );
  daemons.push(await startFpm(root, "8.2"));
  await waitForFiles(contexts.flatMap((context) => (context.pool ? [context.pool.socket] : [])));
  daemons.push(await startApache(apache, ports.apache), await startNginx(root));
});

afterAll(async () => {
  for (const daemon of daemons.reverse()) await daemon.stop();
  await new Promise((resolve) => (upstream ? upstream.close(resolve) : resolve(undefined)));
  removeUsers(createdUsers);
  removeRoot(root);
});

type Ask = Omit<Parameters<typeof fetchFrom>[0], "port">;
/** Straight to Apache, as nginx forwards a request. */
const apache = (ask: Ask) => fetchFrom({ port: ports.apache, ...ask });
const viaNginx = (ask: Ask) => fetchFrom({ port: ports.http, ...ask });

describe("Apache serving rendered sites", () => {
  test("a PHP page runs in the site's own pool with that pool's settings", async () => {
    const answer = await apache({ host: "php.apache.test", path: "/" });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ user: "php_apache_test", memory_limit: "96M", post_max_size: "1M", remote_addr: "127.0.0.1" });
  });

  test("aliases reach the same site", async () => {
    const answer = await apache({ host: "www.php.apache.test", path: "/index.php" });
    expect(JSON.parse(answer.body)).toMatchObject({ user: "php_apache_test" });
  });

  test("the client address comes from the one nginx appended to X-Forwarded-For, and PHP learns of TLS at nginx", async () => {
    const headers = { "X-Forwarded-For": "198.51.100.77, 203.0.113.9", "X-Forwarded-Proto": "https" };
    const answer = await apache({ host: "php.apache.test", headers });
    expect(JSON.parse(answer.body)).toMatchObject({ remote_addr: "203.0.113.9", https: "on" });
  });

  test("the site's access log records the client nginx reported, not nginx", async () => {
    await apache({ host: "php.apache.test", path: "/logged", headers: { "X-Forwarded-For": "198.51.100.23" } });
    // Apache writes the line after the answer has left, so the client can read the log first.
    const path = contexts.find((context) => context.slug === "php_apache_test")!.backendLogs!.access;
    const line = await eventually("the request in Apache's access log", () => readLog(path).match(/^.* "GET \/logged HTTP\/1\.1" .*$/m)?.[0], 5);
    expect(line).toMatch(/^198\.51\.100\.23 .*"GET \/logged HTTP\/1\.1" 200 /);
  });

  test("a blocked address gets 403, whether it connects itself or nginx reports it", async () => {
    expect((await apache({ host: "php.apache.test", localAddress: "127.0.0.2" })).status).toBe(403);
    expect((await apache({ host: "php.apache.test", headers: { "X-Forwarded-For": "127.0.0.2" } })).status).toBe(403);
  });

  test("X-Forwarded-For from anyone but nginx on 127.0.0.1 is not believed", async () => {
    const answer = await apache({ host: "php.apache.test", localAddress: "127.0.0.2", headers: { "X-Forwarded-For": "198.51.100.1" } });
    expect(answer.status).toBe(403);
  });

  test("security headers are on pages and on errors, and the server does not say its version", async () => {
    for (const path of ["/", "/missing.php", "/.env"]) {
      const answer = await apache({ host: "php.apache.test", path });
      expect(answer.headers["x-content-type-options"], path).toBe("nosniff");
      expect(answer.headers["x-frame-options"], path).toBe("SAMEORIGIN");
      expect(answer.headers["referrer-policy"], path).toBe("strict-origin-when-cross-origin");
      expect(answer.headers.server, path).toBe("Apache");
    }
  });

  test("paths that are no file go to the front controller, as on nginx sites", async () => {
    const route = await apache({ host: "php.apache.test", path: "/blog/2026/hello?page=2" });
    expect(route.status).toBe(200);
    expect(JSON.parse(route.body)).toMatchObject({ user: "php_apache_test" });
    expect((await apache({ host: "php.apache.test", path: "/.nothing-here" })).status).toBe(403);
  });

  test("the pool's status and ping pages answer the host itself only", async () => {
    const ping = await apache({ host: "php.apache.test", path: "/fpm-ping" });
    expect(ping.status).toBe(200);
    expect(ping.body).toBe("pong");
    const status = await apache({ host: "php.apache.test", path: "/fpm-status" });
    expect(status.body).toMatch(/^pool:\s+php_apache_test$/m);
    expect((await apache({ host: "php.apache.test", path: "/fpm-status", headers: { "X-Forwarded-For": "203.0.113.9" } })).status).toBe(403);
  });

  test("a missing script is Apache's 404, not handed to PHP", async () => {
    const answer = await apache({ host: "php.apache.test", path: "/missing.php" });
    expect(answer.status).toBe(404);
  });

  test("dotfiles are refused, .well-known is served", async () => {
    expect((await apache({ host: "php.apache.test", path: "/.env" })).status).toBe(403);
    expect((await apache({ host: "php.apache.test", path: "/.git/config" })).status).toBe(403);
    const wellKnown = await apache({ host: "php.apache.test", path: "/.well-known/security.txt" });
    expect(wellKnown.status).toBe(200);
    expect(wellKnown.body).toContain("Contact:");
  });

  test("a body over post_max_size gets 413; one under it reaches PHP", async () => {
    const limit = 1024 * 1024;
    const over = await apache({ host: "php.apache.test", method: "POST", path: "/index.php", body: Buffer.alloc(limit + 1, 97) });
    expect(over.status).toBe(413);
    const under = await apache({ host: "php.apache.test", method: "POST", path: "/index.php", body: Buffer.alloc(limit - 1024, 97) });
    expect(under.status).toBe(200);
    expect(JSON.parse(under.body)).toMatchObject({ body_bytes: limit - 1024 });
  });

  test("a static site serves files, compressed and with a browser cache lifetime", async () => {
    const page = await apache({ host: "static.apache.test", path: "/" });
    expect(page.status).toBe(200);
    expect(page.body).toBe("<h1>static</h1>\n");
    const css = await apache({ host: "static.apache.test", path: "/site.css", headers: { "Accept-Encoding": "gzip" } });
    expect(css.status).toBe(200);
    expect(css.headers["content-encoding"]).toBe("gzip");
    expect(css.headers.vary).toBe("Accept-Encoding");
    expect(css.headers["cache-control"]).toBe(`max-age=${7 * 86400}`);
  });

  test("a symlink serves its owner's files only, not another site's", async () => {
    expect((await apache({ host: "static.apache.test", path: "/own.css" })).status).toBe(200);
    expect((await apache({ host: "static.apache.test", path: "/borrowed.php.txt" })).status).toBe(403);
  });

  test("a proxy site forwards to its local upstream with the client's address", async () => {
    const answer = await apache({ host: "app.apache.test", path: "/api/health", headers: { "X-Forwarded-For": "203.0.113.5" } });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe("upstream answered /api/health");
    expect(upstreamSaw).toEqual({ host: "app.apache.test", forwardedFor: "203.0.113.5" });
  });
});

describe("nginx in front: sites on different web servers on one host", () => {
  test("the Apache site answers through nginx with its own pool", async () => {
    const answer = await viaNginx({ host: "php.apache.test", path: "/" });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ user: "php_apache_test", memory_limit: "96M", remote_addr: "127.0.0.1" });
  });

  test("the nginx site answers from its own pool", async () => {
    const answer = await viaNginx({ host: "nginx.apache.test", path: "/" });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ user: "nginx_apache_test", memory_limit: "160M" });
  });

  test("a body over the Apache site's post_max_size gets 413 through nginx as well", async () => {
    const over = await viaNginx({ host: "php.apache.test", method: "POST", path: "/index.php", body: Buffer.alloc(1024 * 1024 + 1, 97) });
    expect(over.status).toBe(413);
  });

  test("a blocked client connecting to nginx is refused by the Apache site's list", async () => {
    expect((await viaNginx({ host: "php.apache.test", localAddress: "127.0.0.2" })).status).toBe(403);
  });

  test("the proxy site's upstream sees the client nginx saw", async () => {
    const answer = await viaNginx({ host: "app.apache.test", path: "/through-nginx", localAddress: "127.0.0.3" });
    expect(answer.body).toBe("upstream answered /through-nginx");
    expect(upstreamSaw.forwardedFor).toBe("127.0.0.3");
  });
});
