import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { checkOlsDeployment, formatOlsFinding, olsSocketPath } from "./checker/check";
import { blocksNamed, firstValue, parseOlsConfig, statementsNamed } from "./checker/parse";
import { resolveWebHost, type HostFacts } from "../../lib/render/context";
import { allFiles, renderWebHost, type HostFile } from "../../lib/render/files";
import { olsServerRoot } from "../../lib/render/openlitespeed";
import { Site } from "../../lib/schema/site";
import { waitForFiles } from "../daemons/apache-harness";
import { materialize, removeRoot, removeUsers, scratchRoot, startFpm, writeHostFile, type Daemon } from "../daemons/harness";

/**
 * OpenLiteSpeed cannot be installed here, so the part of its wiring that can be proven is proven
 * on a materialized host: the rendered pools run under the real php-fpm8.2, the deployment checks
 * run against the real file tree, and FastCGI requests go to the socket the rendered
 * httpd_config.conf names, as the user and group it names, for the script its vhconf.conf roots.
 */

const page = `<?php
header("Content-Type: application/json");
echo json_encode(["user" => posix_getpwuid(posix_geteuid())["name"], "memory_limit" => ini_get("memory_limit"), "remote_addr" => $_SERVER["REMOTE_ADDR"]]);
`;

let root: string;
let serverRoot: string;
let server: HostFile;
let vhosts: HostFile[];
let fpm: Daemon | undefined;
let createdUsers: string[] = [];
let sockets: string[] = [];

beforeAll(async () => {
  root = scratchRoot("ols");
  const sites = [
    { domain: "one.ols.test", webServer: "openlitespeed", php: { memoryLimit: "96M" } },
    { domain: "two.ols.test", webServer: "openlitespeed", php: { memoryLimit: "160M" }, access: { deny: ["127.0.0.2"] } },
    { domain: "files.ols.test", webServer: "openlitespeed", kind: "static" },
    { domain: "front.ols.test" },
  ].map((input) => Site.parse(input));
  const facts: HostFacts = { name: "web-test", memoryMb: 4096, roles: ["web"], phpVersions: ["8.2"], root, listenAddress: "127.0.0.1" };
  // The whole host as megaweb renders it; the OLS files are taken from that render.
  const render = renderWebHost({ sites, healthPath: "/health" }, facts);
  createdUsers = materialize(render, root);
  const { host, sites: contexts } = resolveWebHost(sites, facts);
  serverRoot = host.path(olsServerRoot);
  const olsFiles = allFiles(render).filter((file) => file.path.startsWith(`${serverRoot}/conf/`));
  server = olsFiles.find((file) => file.path === `${serverRoot}/conf/httpd_config.conf`)!;
  vhosts = olsFiles.filter((file) => file !== server);
  // The OLS package ships its logs directory; the vhosts log there.
  mkdirSync(join(serverRoot, "logs"), { recursive: true });
  sockets = contexts.flatMap((context) => (context.pool ? [context.pool.socket] : []));
  for (const context of contexts.filter((context) => context.pool)) {
    writeHostFile(join(context.documentRoot, "index.php"), page, "0640", `${context.account.user}:${context.account.group}`);
  }
});

afterAll(async () => {
  await fpm?.stop();
  removeUsers(createdUsers);
  removeRoot(root);
});

const deploymentFindings = () => checkOlsDeployment({ serverRoot, server, files: vhosts, exists: existsSync }).map(formatOlsFinding);

/** What OLS would do for a PHP request to `vhost`: follow its scripthandler to the app's socket. */
function phpWiring(vhostName: string) {
  const serverTree = parseOlsConfig(server.content, server.path).root;
  const registration = blocksNamed(serverTree, "virtualhost").find((block) => block.value === vhostName)!;
  const vhost = vhosts.find((file) => file.path === firstValue(registration, "configFile")!.value)!;
  const vhostTree = parseOlsConfig(vhost.content, vhost.path).root;
  const [type, rest] = statementsNamed(blocksNamed(vhostTree, "scripthandler")[0]!, "add")[0]!.value.split(":") as [string, string];
  const app = blocksNamed(serverTree, "extprocessor").find((block) => block.value === rest.split(/\s/)[0])!;
  expect(firstValue(app, "type")!.value).toBe(type);
  return {
    socket: olsSocketPath(firstValue(app, "address")!.value),
    docRoot: firstValue(vhostTree, "docRoot")!.value,
    user: firstValue(serverTree, "user")!.value,
    group: firstValue(serverTree, "group")!.value,
  };
}

/** One FastCGI request with cgi-fcgi, run as the given user and group. */
function fastcgi(socket: string, scriptFilename: string, as: { user: string; group: string }) {
  const result = spawnSync("setpriv", [`--reuid=${as.user}`, `--regid=${as.group}`, "--clear-groups", "cgi-fcgi", "-bind", "-connect", socket], {
    encoding: "utf8",
    env: {
      GATEWAY_INTERFACE: "CGI/1.1",
      REQUEST_METHOD: "GET",
      SCRIPT_FILENAME: scriptFilename,
      SCRIPT_NAME: "/index.php",
      REQUEST_URI: "/",
      SERVER_PROTOCOL: "HTTP/1.1",
      SERVER_NAME: "localhost",
      REMOTE_ADDR: "203.0.113.7",
    },
  });
  const [, body = ""] = result.stdout.split("\r\n\r\n");
  return { status: result.status, body, stderr: result.stderr };
}

describe("OpenLiteSpeed wiring on a real host tree", () => {
  test("before the pools run, every PHP app's socket is reported missing (D1)", () => {
    expect(deploymentFindings()).toEqual([
      expect.stringMatching(/D1 socket .*php8\.2-fpm-one_ols_test\.sock of extprocessor "one_ols_test_fpm" does not exist/),
      expect.stringMatching(/D1 socket .*php8\.2-fpm-two_ols_test\.sock of extprocessor "two_ols_test_fpm" does not exist/),
    ]);
  });

  test("with the pools running, the deployment passes every check, on disk too", async () => {
    fpm = await startFpm(root, "8.2");
    await waitForFiles(sockets);
    expect(deploymentFindings()).toEqual([]);
  });

  test("a PHP request through the rendered wiring reaches the site's own pool, as the OLS user", () => {
    for (const [vhost, user, memoryLimit] of [
      ["one.ols.test", "one_ols_test", "96M"],
      ["two.ols.test", "two_ols_test", "160M"],
    ] as const) {
      const wiring = phpWiring(vhost);
      expect(wiring.user).toBe("nobody");
      const answer = fastcgi(wiring.socket, `${wiring.docRoot}/index.php`, wiring);
      expect(answer.status, answer.stderr).toBe(0);
      expect(JSON.parse(answer.body)).toEqual({ user, memory_limit: memoryLimit, remote_addr: "203.0.113.7" });
    }
  });

  test("another web server's user cannot talk to an OLS site's pool", () => {
    const wiring = phpWiring("one.ols.test");
    // Same socket, same moment: only the user differs.
    expect(fastcgi(wiring.socket, `${wiring.docRoot}/index.php`, wiring).status).toBe(0);
    const answer = fastcgi(wiring.socket, `${wiring.docRoot}/index.php`, { user: "www-data", group: "www-data" });
    expect(answer.status).not.toBe(0);
    expect(answer.stderr).toContain(`Could not connect to ${wiring.socket}`);
  });

  test("a docRoot that is not on disk is caught before OLS would drop the vhost", () => {
    const moved = vhosts.map((file) => ({ ...file, content: file.content.replace(/^docRoot +(\S+)$/m, "docRoot                   $1-gone") }));
    const findings = checkOlsDeployment({ serverRoot, server, files: moved, exists: existsSync }).map(formatOlsFinding);
    expect(findings).toHaveLength(3);
    for (const finding of findings) expect(finding).toMatch(/V1 docRoot \S+-gone does not exist; OLS drops the vhost with only a WARN/);
  });
});
