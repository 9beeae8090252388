import { describe, expect, it } from "vitest";
import { apiTokenProblems } from "../../lib/schema/app";
import { parseStack } from "../../lib/schema/stack";
import { problems } from "../schema/problems";

const withApp = (app: Record<string, unknown>, sites: Record<string, unknown>[] = [{ domain: "shop.example.com" }]) => ({ sites, app });

describe("the app section", () => {
  it("takes a domain alone and fills in the documented defaults", () => {
    const { app } = parseStack(withApp({ domain: "Orchestrator.Example.com" }));
    expect(app).toEqual({
      enabled: true,
      domain: "orchestrator.example.com",
      port: 3000,
      tls: { mode: "none" },
      access: { allow: [], deny: [] },
      workerConcurrency: 4,
      corsOrigins: [],
      rateLimitPerMinute: 1000,
      metricsRetentionDays: 30,
      logLevel: "info",
      database: { name: "megaweb", user: "megaweb" },
    });
  });

  it("brings its own proxy site, served by provisioning like any other", () => {
    const stack = parseStack(withApp({ domain: "orchestrator.example.com", port: 3100, access: { allow: ["203.0.113.0/24"] } }));
    expect(stack.sites.map((site) => site.domain)).toEqual(["shop.example.com", "orchestrator.example.com"]);
    expect(stack.sites[1]).toMatchObject({
      kind: "proxy",
      webServer: "nginx",
      proxy: { port: 3100, host: "127.0.0.1", websockets: true },
      tls: { mode: "none" },
      access: { allow: ["203.0.113.0/24"], deny: [] },
    });
  });

  it("adds no site and deploys nothing when disabled or absent", () => {
    expect(parseStack(withApp({ enabled: false, domain: "orchestrator.example.com" })).sites).toHaveLength(1);
    expect(parseStack({ sites: [{ domain: "shop.example.com" }] }).app).toBeUndefined();
  });

  it("makes a stack of its own, without a sites key", () => {
    expect(parseStack({ app: { domain: "orchestrator.example.com" } }).sites.map((site) => site.domain)).toEqual(["orchestrator.example.com"]);
  });

  it("keeps the app's site out of the PHP pool budget", () => {
    expect(problems({ sizes: { web: "s-1vcpu-1gb" }, ...withApp({ domain: "orchestrator.example.com" }, []) })).toEqual([]);
  });
});

describe("bad app settings are refused with the field path and the rule", () => {
  it.each([
    ["a missing domain", { port: 3000 }, "app.domain: is required"],
    ["a domain with a space", { domain: "orche strator.example.com" }, `app.domain: "orche strator.example.com" is not a valid host name`],
    ["a privileged port", { domain: "o.example.com", port: 80 }, "app.port: 80 is a privileged port; use 1024 or above (nginx holds 80 and 443)"],
    ["Redis's port", { domain: "o.example.com", port: 6379 }, "app.port: 6379 is redis's port"],
    ["a fractional concurrency", { domain: "o.example.com", workerConcurrency: 2.5 }, "app.workerConcurrency: must be an int (got number 2.5)"],
    ["a zero concurrency", { domain: "o.example.com", workerConcurrency: 0 }, "app.workerConcurrency: must be >=1"],
    [
      "an origin with a path",
      { domain: "o.example.com", corsOrigins: ["https://panel.example.com/x"] },
      `app.corsOrigins[0]: "https://panel.example.com/x" is not an origin (like https://panel.example.com) or *`,
    ],
    [
      "an unknown log level",
      { domain: "o.example.com", logLevel: "verbose" },
      `app.logLevel: "verbose" is not a log level (fatal, error, warn, info, debug, trace, silent)`,
    ],
    [
      "a database name with a dash",
      { domain: "o.example.com", database: { name: "mega-web" } },
      `app.database.name: "mega-web" is not a database name (letters, digits, _; at most 32)`,
    ],
    [
      "a relative artifact path",
      { domain: "o.example.com", artifact: "app/dist/megaweb-orchestrator-0.1.0.tgz" },
      `app.artifact: "app/dist/megaweb-orchestrator-0.1.0.tgz" must be an absolute path`,
    ],
    ["an unknown key", { domain: "o.example.com", workers: 3 }, "app.workers: is not a known setting"],
  ])("rejects %s", (_, app, message) => {
    expect(problems(withApp(app))).toEqual([message]);
  });

  it("rejects a domain a site already answers for", () => {
    expect(problems(withApp({ domain: "www.shop.example.com" }, [{ domain: "shop.example.com", aliases: ["www.shop.example.com"] }]))).toEqual([
      `app.domain: "www.shop.example.com" is already used by sites[0].aliases[0]`,
    ]);
  });

  it("rejects the port of another proxy site", () => {
    expect(problems(withApp({ domain: "o.example.com" }, [{ domain: "node.example.com", kind: "proxy", proxy: { port: 3000 } }]))).toEqual([
      "app.port: 3000 is already the upstream of sites[0] (node.example.com)",
    ]);
  });

  it("reports app problems together with the rest of the stack's", () => {
    expect(problems({ phase: "big", ...withApp({ domain: "o.example.com", port: 22 }) })).toEqual([
      `phase: Invalid option: expected one of "single"|"four-server"|"horizontal"|"ha"`,
      "app.port: 22 is a privileged port; use 1024 or above (nginx holds 80 and 443)",
    ]);
  });
});

describe("the API token (megaweb:apiToken)", () => {
  it("is required, at least 16 characters, and free of characters an environment file would read as syntax", () => {
    expect(apiTokenProblems(undefined)).toEqual([
      { path: ["apiToken"], message: "is required when the app is enabled (pulumi config set --secret megaweb:apiToken)" },
    ]);
    expect(apiTokenProblems("short")).toEqual([{ path: ["apiToken"], message: "must be at least 16 characters" }]);
    expect(apiTokenProblems("a token with spaces in it")).toEqual([
      { path: ["apiToken"], message: "may hold only letters, digits and . _ ~ + / = - (like the output of openssl rand -hex 24)" },
    ]);
    expect(apiTokenProblems("0123456789abcdef0123456789abcdef0123456789abcdef")).toEqual([]);
  });
});
