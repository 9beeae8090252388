import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderWebHost, type WebHostRender } from "../../lib/render/files";
import { renderMtail } from "../../lib/render/mtail";
import { resolveHost } from "../../lib/render/scrape-targets";
import { parseStack } from "../../lib/schema/stack";
import { fetchFrom, freePort, materialize, readLog, removeRoot, removeUsers, scratchRoot, startFpm, startNginx, writeHostFile, type Daemon } from "./harness";

/**
 * One web host rendered from a stack and served for real by Debian's nginx and php8.2-fpm on
 * loopback: two PHP sites with their own pools, a static site and a proxy site.
 */

const blockedClient = "127.0.0.2";

let root: string;
let render: WebHostRender;
let port: number;
let upstream: Server;
let upstreamPort: number;
const daemons: Daemon[] = [];
let createdUsers: string[] = [];

beforeAll(async () => {
  root = scratchRoot("nginx");
  [port, upstreamPort] = [await freePort(), await freePort()];
  const stack = parseStack({
    sites: [
      {
        domain: "alpha.megaweb.test",
        aliases: ["www.alpha.megaweb.test"],
        php: { memoryLimit: "96M", uploadMaxFilesize: "1M", postMaxSize: "2M" },
        access: { deny: [blockedClient] },
      },
      { domain: "beta.megaweb.test", php: { memoryLimit: "160M" }, pool: { pm: "dynamic", maxChildren: 2 }, caching: { pageCache: "30s" } },
      { domain: "static.megaweb.test", kind: "static" },
      { domain: "app.megaweb.test", kind: "proxy", proxy: { port: upstreamPort } },
      // Its own rate limit, on the zone megaweb declares, must stay a real one.
      { domain: "limited.megaweb.test", kind: "static", nginxDirectives: "limit_req zone=megaweb_metrics burst=5 nodelay;" },
    ],
  });
  render = renderWebHost(stack, {
    name: "web-test",
    memoryMb: 4096,
    roles: ["web", "mysql", "redis"],
    phpVersions: ["8.2"],
    listenAddress: "127.0.0.1",
    ports: { http: port, https: await freePort() },
    root,
  });
  createdUsers = materialize(render, root);

  const site = (slug: string) => render.sites.find((candidate) => candidate.slug === slug)!;
  const docroot = (slug: string) => site(slug).directories[1]!.path;
  const owned = (slug: string) => `${site(slug).account.user}:${site(slug).account.group}`;
  const page = `<?php header("Content-Type: text/plain"); echo ini_get("memory_limit"), " ", posix_getpwuid(posix_geteuid())["name"], " ", $_SERVER["REMOTE_ADDR"], "\\n";`;
  writeHostFile(join(docroot("alpha_megaweb_test"), "index.php"), page, "0644", owned("alpha_megaweb_test"));
  writeHostFile(join(docroot("alpha_megaweb_test"), "upload.php"), `<?php echo strlen(file_get_contents("php://input"));`, "0644", owned("alpha_megaweb_test"));
  writeHostFile(join(docroot("alpha_megaweb_test"), "style.css"), `body { color: black; }\n`.repeat(40), "0644", owned("alpha_megaweb_test"));
  writeHostFile(join(docroot("alpha_megaweb_test"), ".env"), "DB_PASSWORD=hunter2\n", "0644", owned("alpha_megaweb_test"));
  writeHostFile(join(docroot("alpha_megaweb_test"), ".git/config"), "[core]\n", "0644", owned("alpha_megaweb_test"));
  writeHostFile(
    join(docroot("alpha_megaweb_test"), ".well-known/security.txt"),
    "Contact: mailto:security@alpha.megaweb.test\n",
    "0644",
    owned("alpha_megaweb_test"),
  );
  writeHostFile(join(render.hostDirectories[0]!.path, ".well-known/acme-challenge/token-1"), "token-1.thumbprint\n");
  writeHostFile(
    join(docroot("beta_megaweb_test"), "index.php"),
    `<?php echo ini_get("memory_limit"), " ", microtime(true);`,
    "0644",
    owned("beta_megaweb_test"),
  );
  writeHostFile(join(docroot("static_megaweb_test"), "index.html"), "<h1>static site</h1>\n", "0644", owned("static_megaweb_test"));
  writeHostFile(join(docroot("limited_megaweb_test"), "index.html"), "<h1>limited</h1>\n", "0644", owned("limited_megaweb_test"));
  writeHostFile(join(docroot("beta_megaweb_test"), "fail.php"), `<?php http_response_code(500);`, "0644", owned("beta_megaweb_test"));

  upstream = createServer((req, res) => {
    res.setHeader("X-Frame-Options", "DENY");
    res.end(JSON.stringify({ host: req.headers.host, forwardedFor: req.headers["x-forwarded-for"], realIp: req.headers["x-real-ip"], url: req.url }));
  });
  await new Promise<void>((resolve) => upstream.listen(upstreamPort, "127.0.0.1", resolve));

  daemons.push(await startFpm(root, "8.2"), await startNginx(root));
});

afterAll(async () => {
  for (const daemon of daemons.reverse()) await daemon.stop();
  // A setup that failed before the upstream listened must not hang the teardown.
  if (upstream !== undefined) await new Promise((resolve) => upstream.close(resolve));
  removeUsers(createdUsers);
  removeRoot(root);
});

const get = (host: string, path = "/", extra: Partial<Parameters<typeof fetchFrom>[0]> = {}) => fetchFrom({ port, host, path, ...extra });

describe("nginx and php8.2-fpm serving a rendered host", () => {
  it("answers each PHP site through its own pool with that pool's memory_limit and user", async () => {
    const alpha = await get("alpha.megaweb.test");
    expect(alpha.status).toBe(200);
    expect(alpha.body).toBe("96M alpha_megaweb_test 127.0.0.1\n");
    expect((await get("www.alpha.megaweb.test")).body).toBe("96M alpha_megaweb_test 127.0.0.1\n");
    expect((await get("beta.megaweb.test")).body).toMatch(/^160M /);
  });

  it("refuses a blocked client address with 403 and serves others", async () => {
    expect((await get("alpha.megaweb.test", "/", { localAddress: blockedClient })).status).toBe(403);
    expect((await get("beta.megaweb.test", "/", { localAddress: blockedClient })).status).toBe(200);
  });

  it("lets a blocked address still fetch ACME challenges", async () => {
    const challenge = await get("alpha.megaweb.test", "/.well-known/acme-challenge/token-1", { localAddress: blockedClient });
    expect(challenge.status).toBe(200);
    expect(challenge.body).toBe("token-1.thumbprint\n");
  });

  it("sends the security headers, also from the nested static-file location, and hides nginx's version", async () => {
    for (const path of ["/", "/style.css"]) {
      const answer = await get("alpha.megaweb.test", path);
      expect(answer.headers["x-content-type-options"]).toBe("nosniff");
      expect(answer.headers["x-frame-options"]).toBe("SAMEORIGIN");
      expect(answer.headers["referrer-policy"]).toBe("strict-origin-when-cross-origin");
      expect(answer.headers["server"]).toBe("nginx");
    }
    expect((await get("alpha.megaweb.test", "/style.css")).headers["cache-control"]).toBe("public, max-age=604800");
    const denied = await get("alpha.megaweb.test", "/", { localAddress: blockedClient });
    expect(denied.headers["x-content-type-options"]).toBe("nosniff");
  });

  it("denies dotfiles but serves .well-known", async () => {
    expect((await get("alpha.megaweb.test", "/.env")).status).toBe(403);
    expect((await get("alpha.megaweb.test", "/.git/config")).status).toBe(403);
    const wellKnown = await get("alpha.megaweb.test", "/.well-known/security.txt");
    expect(wellKnown.status).toBe(200);
    expect(wellKnown.body).toContain("Contact:");
  });

  it("accepts a body under post_max_size and answers 413 above it", async () => {
    const small = await get("alpha.megaweb.test", "/upload.php", { method: "POST", body: Buffer.alloc(1024 * 1024, 97) });
    expect(small.status).toBe(200);
    expect(small.body).toBe(String(1024 * 1024));
    const large = await get("alpha.megaweb.test", "/upload.php", { method: "POST", body: Buffer.alloc(3 * 1024 * 1024, 97) });
    expect(large.status).toBe(413);
  });

  it("serves a static site's files, gzipped for text when asked", async () => {
    const page = await get("static.megaweb.test");
    expect(page.status).toBe(200);
    expect(page.body).toBe("<h1>static site</h1>\n");
    const css = await get("alpha.megaweb.test", "/style.css", { headers: { "Accept-Encoding": "gzip" } });
    expect(css.headers["content-encoding"]).toBe("gzip");
    expect((await get("static.megaweb.test", "/missing.html")).status).toBe(404);
  });

  it("forwards a proxy site to its local upstream with the client's address, replacing the upstream's own security headers", async () => {
    const answer = await get("app.megaweb.test", "/api/status?x=1");
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ host: "app.megaweb.test", forwardedFor: "127.0.0.1", realIp: "127.0.0.1", url: "/api/status?x=1" });
    expect(answer.headers["x-frame-options"]).toBe("SAMEORIGIN");
  });

  it("micro-caches anonymous GETs of a site with a page cache", async () => {
    const first = await get("beta.megaweb.test");
    const second = await get("beta.megaweb.test");
    expect(second.headers["x-cache-status"]).toBe("HIT");
    expect(second.body).toBe(first.body);
    expect((await get("beta.megaweb.test", "/?fresh=1")).headers["x-cache-status"]).toBe("BYPASS");
    expect(second.headers["x-content-type-options"]).toBe("nosniff");
  });

  it("shows the pool status only to loopback", async () => {
    const status = await get("alpha.megaweb.test", "/fpm-status");
    expect(status.status).toBe(200);
    expect(status.body).toContain("pool:                 alpha_megaweb_test");
    expect((await get("alpha.megaweb.test", "/fpm-ping")).body).toBe("pong");
  });

  it("answers the load balancer's health check on an unknown name and drops other unknown names", async () => {
    expect((await get("10.0.0.9", "/health")).body).toBe("ok\n");
    await expect(get("unknown.megaweb.test", "/")).rejects.toThrow();
  });

  it("logs each site to its own access log", () => {
    expect(readLog(join(root, "var/log/nginx/alpha_megaweb_test.access.log"))).toContain('"GET / HTTP/1.1" 200');
  });
});

describe("the lines the per-site response counters read", () => {
  const metricsLog = (slug: string) => join(root, `var/log/nginx/${slug}.metrics.log`);
  const lines = (slug: string) =>
    readLog(metricsLog(slug))
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split(" ").map(Number) as [number, number]);
  /** nginx logs an answer after sending it: the lines once two reads 200 ms apart agree. */
  const settled = async (slug: string) => {
    for (let previous = -1; ;) {
      const now = lines(slug);
      if (now.length === previous) return now;
      previous = now.length;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  /** `total` requests, `concurrency` at a time; returns each answer's status. */
  const load = async (host: string, path: string, total: number, concurrency: number) => {
    const statuses: number[] = [];
    let next = 0;
    const client = async () => {
      while (next < total) {
        next++;
        statuses.push((await get(host, path)).status);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, client));
    return statuses;
  };
  /** What mtail's rendered program (a monitoring file, not the web host's) makes of a metrics log, read once. */
  const counted = (slug: string) => {
    const [program] = renderMtail(resolveHost({ name: "web-test", roles: ["web"], address: "127.0.0.1", root }));
    writeHostFile(program!.path, program!.content);
    const out = execFileSync(
      "mtail",
      [
        "--one_shot",
        "--one_shot_format",
        "prometheus",
        "--address",
        "127.0.0.1",
        "--port",
        "0",
        "--progs",
        join(root, "etc/mtail"),
        "--logs",
        metricsLog(slug),
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
    return Object.fromEntries(
      [...out.matchAll(/^megaweb_http_responses_total\{[^}]*status_class="(\dxx)"[^}]*\} (\d+)/gm)].map(([, cls, n]) => [cls, Number(n)]),
    );
  };

  it("gives every answer a line of its own while the site is quiet", async () => {
    const before = lines("static_megaweb_test").length;
    await load("static.megaweb.test", "/", 50, 1);
    const added = (await settled("static_megaweb_test")).slice(before);
    expect(added).toHaveLength(50);
    expect(added.every(([status, weight]) => status === 200 && weight === 1)).toBe(true);
  });

  it("stands one line for 16 beyond 100 answers a second, keeps every 5xx, and mtail adds them up", async () => {
    const started = Date.now();
    const statuses = [...(await load("beta.megaweb.test", "/fail.php", 400, 16)), ...(await load("beta.megaweb.test", "/", 4000, 16))];
    const seconds = (Date.now() - started) / 1000;
    const written = await settled("beta_megaweb_test");
    const answered = (cls: number) => statuses.filter((status) => Math.floor(status / 100) === cls).length;
    expect(answered(5)).toBe(400);

    // Every 5xx is a line; of the rest, the burst of 200 and 100 a second are lines of their own,
    // and one in 16 of the others (a binomial draw) stands for 16.
    expect(written.filter(([status]) => status === 500).every(([, weight]) => weight === 1)).toBe(true);
    const ones = written.filter(([status, weight]) => status !== 500 && weight === 1).length;
    expect(ones).toBeLessThanOrEqual(200 + Math.ceil(100 * seconds) + 1);
    expect(written.some(([, weight]) => weight === 16)).toBe(true);
    expect(written.length).toBeLessThan(statuses.length / 3);

    const counts = counted("beta_megaweb_test");
    expect(counts["5xx"]).toBe(400);
    const sampled = answered(2) - ones;
    const deviation = 16 * Math.sqrt((sampled * 15) / 256);
    expect(Math.abs(counts["2xx"]! - answered(2))).toBeLessThan(5 * deviation);
    console.log(
      `metrics log: ${statuses.length} answers in ${seconds.toFixed(1)} s, ${written.length} lines; mtail counts 2xx ${counts["2xx"]} of ${answered(2)}, 5xx ${counts["5xx"]} of 400`,
    );
  });

  it("keeps a site's own rate limit real and then counts every answer", async () => {
    const statuses = await load("limited.megaweb.test", "/", 300, 16);
    expect(statuses).toContain(503);
    expect(statuses).toContain(200);
    expect(readLog(join(root, "var/log/nginx/limited_megaweb_test.error.log"))).toContain("limiting requests");
    expect((await settled("limited_megaweb_test")).filter(([, weight]) => weight === 1)).toHaveLength(300);
    expect(counted("limited_megaweb_test")).toEqual({ "2xx": statuses.filter((s) => s === 200).length, "5xx": statuses.filter((s) => s === 503).length });
  });
});
