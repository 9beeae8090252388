import { spawnSync } from "node:child_process";
import { appendFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type PeerCertificate } from "node:tls";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../faults/measure";
import { putFiles } from "../../lib/steps/script";
import { renderCertbotHost, renderCertbotSite, renderCertificateStep } from "../../lib/render/certbot";
import { resolveWebHost } from "../../lib/render/context";
import { renderWebHost, type WebHostRender } from "../../lib/render/files";
import { renderTemplate } from "../../lib/render/template";
import { parseStack, type Stack } from "../../lib/schema/stack";
import { startAcmeServer, type AcmeServer } from "./acme-server";
import { servedCertificate } from "./certificates";
import { fetchFrom, freePort, materialize, removeRoot, removeUsers, scratchRoot, startNginx, writeHostFile, type Daemon } from "./harness";
import { hostCommands, type HostCommands } from "./host-commands";

/**
 * Let's Encrypt mode for real, on loopback: Debian's certbot orders from a private Pebble, which
 * validates HTTP-01 by fetching the token from the rendered nginx; the site's certificate step
 * (templates/provision/certificate.sh after the shared helpers) runs as on a server, with only
 * systemd stood in for. Pebble issues 2-minute certificates, so renewal is real too.
 */

const issued = "shop.megaweb.test";
const refused = "unreachable.megaweb.test";
const plain = "plain.megaweb.test";
const switched = "switch.megaweb.test";

let root: string;
let acme: AcmeServer;
let stack: Stack;
let render: WebHostRender;
let host: HostCommands;
let ports: { http: number; https: number };
let nginx: Daemon;
let createdUsers: string[] = [];
const timings: Record<string, number> = {};

function facts() {
  return { name: "web-1", memoryMb: 2048, roles: ["web" as const], listenAddress: "127.0.0.1", ports: { ...ports, apache: 8080, openlitespeed: 8088 }, root };
}

const caBundle = () => join(root, "test-ca-bundle.pem");

/** The certificate step of a site as the step plan will run it: the shared helpers, then its body. */
function runCertificateStep(domain: string, acmeDirectory = stack.certificates.acmeDirectory) {
  const { host: context, sites } = resolveWebHost(stack.sites, facts());
  const index = stack.sites.findIndex((site) => site.domain === domain);
  const render = renderCertbotSite(stack.sites[index]!, sites[index]!, context, { ...stack.certificates, acmeDirectory }, stack.sites);
  const script = [
    renderTemplate("provision/lib.sh", {}),
    // The helpers keep replaced files under /var/lib/megaweb; here that lies in the scratch root.
    `previous_dir=${root}/var/lib/megaweb/previous`,
    renderCertificateStep(render, context, putFiles),
  ].join("\n");
  const started = performance.now();
  const run = spawnSync("bash", ["-c", script], { encoding: "utf8", env: host.env, timeout: 120_000 });
  timings[domain] = Math.round(performance.now() - started);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** The check certbot.service runs after certbot, from the rendered drop-in. */
function unitCheck() {
  const { host: context } = resolveWebHost(stack.sites, facts());
  const dropIn = renderCertbotHost(context).find((file) => file.path.endsWith("certbot.service.d/megaweb.conf"))!;
  const command = /^ExecStartPost=\/bin\/sh -c '(.*)'$/m.exec(dropIn.content)![1]!;
  return spawnSync("sh", ["-c", command], { encoding: "utf8", env: host.env });
}

/** The certificate nginx serves for `domain` once it is the one certbot's live directory holds. */
function servedLive(domain: string): Promise<PeerCertificate> {
  const live = new X509Certificate(readFileSync(join(root, `etc/letsencrypt/live/${domain}/cert.pem`))).serialNumber;
  return servedCertificate(ports.https, domain, (served) => served.serialNumber === live);
}

function httpsGet(servername: string, ca: string): Promise<{ status: number; headers: Record<string, unknown>; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: ports.https, servername, ca }, () => {
      socket.write(`GET / HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    let text = "";
    socket.on("data", (chunk) => (text += chunk));
    socket.on("end", () => {
      const [head = ""] = text.split("\r\n\r\n");
      const [status = "", ...lines] = head.split("\r\n");
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
      resolve({ status: Number(status.split(" ")[1]), headers, authorized: socket.authorized });
    });
    socket.on("error", reject);
  });
}

beforeAll(async () => {
  root = scratchRoot("certbot");
  ports = { http: await freePort(), https: await freePort() };
  acme = await startAcmeServer(join(root, "pebble"), { httpPort: ports.http, validitySeconds: 120 });
  stack = parseStack({
    certificates: { acmeDirectory: acme.directory, email: "ops@megaweb.test" },
    sites: [
      { domain: issued, aliases: [`www.${issued}`], kind: "static", tls: { mode: "letsencrypt" } },
      { domain: refused, kind: "static", tls: { mode: "letsencrypt" } },
      { domain: plain, kind: "static" },
      { domain: switched, kind: "static", tls: { mode: "letsencrypt" } },
    ],
  });
  render = renderWebHost(stack, facts());
  const { host: context, sites } = resolveWebHost(stack.sites, facts());
  createdUsers = materialize(render, root);
  // What the site step writes while a site has no certificate yet.
  stack.sites.forEach((site, index) => {
    if (site.tls.mode !== "letsencrypt") return;
    const { httpOnlyVhost } = renderCertbotSite(site, sites[index]!, context, stack.certificates, stack.sites);
    writeHostFile(httpOnlyVhost.path, httpOnlyVhost.content);
  });
  for (const site of render.sites) {
    writeHostFile(join(site.directories[1]!.path, "index.html"), `${site.domain}\n`, "0644", `${site.account.user}:${site.account.group}`);
  }
  nginx = await startNginx(root);
  // The CAs' API certificates, trusted by this test's certbot only.
  writeFileSync(caBundle(), readFileSync(acme.caBundle));
  host = hostCommands(root, { nginx: { pidFile: join(root, "run/nginx.pid"), reload: "nginx -s reload" } }, { REQUESTS_CA_BUNDLE: caBundle() });
  await acme.pointName(refused, "127.0.0.2");
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  await acme?.stop();
  removeUsers(createdUsers);
  removeRoot(root);
  console.log(
    `certificate step (issue + switch to HTTPS): ${timings[issued]} ms; refused issuance: ${timings[refused]} ms; renewal run: ${timings.renewal} ms`,
  );
});

describe("Let's Encrypt mode against a private ACME CA", () => {
  it("serves a new site over plain HTTP before its certificate exists", async () => {
    const answer = await fetchFrom({ port: ports.http, host: issued });
    expect(answer).toMatchObject({ status: 200, body: `${issued}\n` });
    expect(answer.headers["strict-transport-security"]).toBeUndefined();
  });

  it("issues over HTTP-01 through nginx, then serves HTTPS with the CA's certificate, the redirect and HSTS", async () => {
    const step = runCertificateStep(issued);
    expect(step.output).toContain("Successfully received certificate");
    expect(step.status).toBe(0);
    const served = await servedCertificate(ports.https, issued);
    const intermediate = new X509Certificate(await acme.issuingIntermediate());
    expect(served.issuer.CN).toBe(
      intermediate.subject
        .split("\n")
        .find((line) => line.startsWith("CN="))!
        .slice(3),
    );
    expect(served.subjectaltname).toBe(`DNS:${issued}, DNS:www.${issued}`);
    expect(new X509Certificate(served.raw).verify(intermediate.publicKey)).toBe(true);
    // A client trusting only Pebble's root accepts the chain nginx sends.
    const page = await httpsGet(issued, (await acme.issuingRoot()) + (await acme.issuingIntermediate()));
    expect(page).toMatchObject({ status: 200, authorized: true });
    expect(page.headers["strict-transport-security"]).toBe("max-age=31536000");
    const redirect = await fetchFrom({ port: ports.http, host: issued, path: "/a?b=1" });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe(`https://${issued}/a?b=1`);
    expect(host.bootChanges()).toContain("enable --now certbot.timer");
  });

  it("never prints the private key certbot wrote", () => {
    const key = readFileSync(join(root, `etc/letsencrypt/live/${issued}/privkey.pem`), "utf8");
    const body = key.split("\n").filter((line) => line !== "" && !line.startsWith("-----"));
    const step = runCertificateStep(issued);
    expect(step.status).toBe(0);
    for (const line of body) expect(step.output).not.toContain(line);
  });

  it("fails a site whose name does not reach this host with certbot's reason, and every site keeps serving", async () => {
    const before = (await servedLive(issued)).serialNumber;
    const step = runCertificateStep(refused);
    expect(step.status).not.toBe(0);
    expect(step.output).toMatch(/Certbot failed to authenticate some domains[\s\S]*Domain: unreachable\.megaweb\.test[\s\S]*127\.0\.0\.2/);
    expect(step.output).toContain(`megaweb: no certificate for ${refused} (certbot's reason is above); the site keeps serving plain HTTP`);
    // The failed step's reload closes connections an old worker had accepted before any request
    // ("socket hang up"), as nginx's graceful reload does; a client's retry is served.
    const afterReload = (host: string) => eventually(`nginx answering ${host} after the reload`, () => fetchFrom({ port: ports.http, host }), 10);
    expect(await afterReload(refused)).toMatchObject({ status: 200, body: `${refused}\n` });
    expect(await afterReload(plain)).toMatchObject({ status: 200, body: `${plain}\n` });
    expect((await servedCertificate(ports.https, issued)).serialNumber).toBe(before);
  });

  it("replaces a certificate that is not due when the stack moves to another ACME directory, as from staging to production", async () => {
    // A second CA whose certificates last long enough that certbot would keep them.
    const staging = await startAcmeServer(join(root, "pebble-staging"), { httpPort: ports.http, validitySeconds: 90 * 86_400 });
    appendFileSync(caBundle(), readFileSync(staging.caBundle));
    try {
      const cn = (pem: string) =>
        new X509Certificate(pem).subject
          .split("\n")
          .find((line) => line.startsWith("CN="))!
          .slice(3);
      const first = runCertificateStep(switched, staging.directory);
      expect(first.status, first.output).toBe(0);
      const stagingName = cn(await staging.issuingIntermediate());
      expect((await servedCertificate(ports.https, switched, (served) => served.issuer.CN === stagingName)).issuer.CN).toBe(stagingName);
      const kept = runCertificateStep(switched, staging.directory);
      expect(kept.output).toContain("Certificate not yet due for renewal");
      const moved = runCertificateStep(switched);
      expect(moved.status, moved.output).toBe(0);
      const production = cn(await acme.issuingIntermediate());
      expect((await servedCertificate(ports.https, switched, (served) => served.issuer.CN === production)).issuer.CN).toBe(production);
    } finally {
      await staging.stop();
    }
  });

  it("renews from Debian's certbot.timer command and reloads nginx through the deploy hook, without provisioning", async () => {
    const before = await servedLive(issued);
    const service = readFileSync("/lib/systemd/system/certbot.service", "utf8");
    const execStart = /^ExecStart=\/usr\/bin\/certbot (.*)$/m.exec(service)![1]!;
    expect(execStart).toBe("-q renew --no-random-sleep-on-renew");
    const started = performance.now();
    const renewal = spawnSync("certbot", execStart.split(" "), { encoding: "utf8", env: host.env, timeout: 120_000 });
    timings.renewal = Math.round(performance.now() - started);
    expect(renewal.status, renewal.stderr).toBe(0);
    const after = await servedCertificate(ports.https, issued, (served) => served.serialNumber !== before.serialNumber);
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(Date.parse(after.valid_to)).toBeGreaterThan(Date.parse(before.valid_to));
    expect(Date.parse(after.valid_to) - Date.parse(after.valid_from)).toBeLessThanOrEqual(121_000);
    expect(readFileSync(join(root, "var/log/letsencrypt/letsencrypt.log"), "utf8")).toContain("megaweb-reload-nginx");
  });

  it("keeps nginx on its running config when a renewal meets a config nginx refuses, and says so", async () => {
    const before = (await servedLive(issued)).serialNumber;
    const broken = join(root, "etc/nginx/conf.d/broken.conf");
    writeHostFile(broken, "this is not nginx;\n");
    try {
      const renewal = spawnSync("certbot", ["renew", "--no-random-sleep-on-renew"], { encoding: "utf8", env: host.env, timeout: 120_000 });
      expect(`${renewal.stdout}${renewal.stderr}`).toMatch(/Hook 'deploy-hook' reported error code 1[\s\S]*unknown directive "this"/);
      // certbot itself reports success; the drop-in's check is what fails certbot.service.
      expect(renewal.status).toBe(0);
      const check = unitCheck();
      expect(check.status).toBe(1);
      expect(check.stderr).toMatch(/the renewed certificate of .*live\/[a-z.]+\.megaweb\.test is not served:\n.*unknown directive "this"/);
      expect((await servedCertificate(ports.https, issued)).serialNumber).toBe(before);
      expect((await httpsGet(issued, (await acme.issuingRoot()) + (await acme.issuingIntermediate()))).status).toBe(200);
    } finally {
      rmSync(broken);
    }
    expect(spawnSync("certbot", ["renew", "--no-random-sleep-on-renew"], { env: host.env, timeout: 120_000 }).status).toBe(0);
    expect((await servedCertificate(ports.https, issued, (served) => served.serialNumber !== before)).serialNumber).not.toBe(before);
    expect(unitCheck().status).toBe(0);
  });
});
