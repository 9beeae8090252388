import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderAcmeIssuerUpstream, renderCertbotSite, renderCertificateIssuer, renderCertificateReceiver } from "../../lib/render/certbot";
import { type HostFacts, resolveWebHost } from "../../lib/render/context";
import { type HostFile, renderWebHost } from "../../lib/render/files";
import { parseStack } from "../../lib/schema/stack";
import { type CertificatePair, selfSignedCertificate, servedCertificate } from "./certificates";
import { type Daemon, fetchFrom, freePort, materialize, removeRoot, removeUsers, scratchRoot, startNginx, writeHostFile } from "./harness";
import { hostCommands, type HostCommands } from "./host-commands";

/**
 * Let's Encrypt on several web nodes (templates/certbot/README.md, "Behind a load balancer"), the
 * two nodes' nginx for real on loopback, each on a scratch root: the issuer, which answers
 * challenges on its private port, and a receiver, whose vhosts ask it for a challenge they do not
 * hold, and whose `megaweb-install-certificate` (the forced command of the issuer's key) installs a
 * certificate with its own key and reloads nginx, and refuses anything else with the served one kept.
 * The SSH between them and certbot are the e2e's (test/e2e/four-server.test.ts).
 */

const secure = "secure.megaweb.test";
const stack = parseStack({ sites: [{ domain: secure, kind: "static", tls: { mode: "letsencrypt" } }] });
const issuerPeer = { name: "web-1", address: "127.0.0.1" };

interface Node {
  root: string;
  ports: { http: number; https: number };
  nginx?: Daemon;
  users: string[];
  commands: HostCommands;
  facts: HostFacts;
}
let issuer: Node;
let receiver: Node;
let installCommand: string;

async function node(name: string, acmeFromIssuer: boolean): Promise<Node> {
  const root = scratchRoot(`certificate-push-${name}`);
  const ports = { http: await freePort(), https: await freePort() };
  const facts: HostFacts = {
    name,
    memoryMb: 2048,
    roles: ["web"],
    listenAddress: "127.0.0.1",
    ports: { ...ports, apache: 8080, openlitespeed: 8088 },
    root,
    acmeFromIssuer,
  };
  const commands = hostCommands(root, { nginx: { pidFile: join(root, "run/nginx.pid"), reload: "nginx -s reload" } });
  return { root, ports, users: materialize(renderWebHost(stack, facts), root), commands, facts };
}

const write = (files: readonly HostFile[]) => files.forEach((file) => writeHostFile(file.path, file.content, file.mode ?? "0644"));
const live = (file: string) => join(receiver.root, "etc/letsencrypt/live", secure, file);

/** The receiver's forced command as sshd runs it for the issuer's key: the name asked for, and PEM on stdin. */
function install(name: string, pem: string) {
  const run = spawnSync(installCommand, [], { input: pem, encoding: "utf8", env: { ...receiver.commands.env, SSH_ORIGINAL_COMMAND: name }, timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** The serial of what the receiver's nginx serves for the site, once it is `expected` (a reload settles). */
const served = async (expected: string) =>
  (await servedCertificate(receiver.ports.https, secure, (certificate) => certificate.serialNumber === expected)).serialNumber;
const serialOf = (pair: CertificatePair) => new X509Certificate(pair.certificate).serialNumber;
const pem = (pair: CertificatePair) => `${pair.certificate}${pair.key}`;

const first = selfSignedCertificate(secure, { days: 1 });
const second = selfSignedCertificate(secure, { days: 1 });

beforeAll(async () => {
  issuer = await node("web-1", false);
  receiver = await node("web-2", true);
  // The issuer holds its challenges in its webroot and answers them on the private port; its vhost
  // is the one before a certificate.
  const issuerContext = resolveWebHost(stack.sites, issuer.facts);
  write(renderCertificateIssuer(issuerContext.host, [{ name: "web-2", address: "127.0.0.1" }]).files);
  write([renderCertbotSite(stack.sites[0]!, issuerContext.sites[0]!, issuerContext.host, stack.certificates, stack.sites).httpOnlyVhost]);
  // The receiver: the upstream its web step writes, the forced command its receiver step writes,
  // and a certificate it was pushed earlier, so its TLS vhost (materialized) loads.
  const receiverContext = resolveWebHost(stack.sites, receiver.facts);
  write([renderAcmeIssuerUpstream(receiverContext.host, issuerPeer)]);
  const rendered = renderCertificateReceiver(receiverContext.host, issuerPeer, [secure]);
  write(rendered.files);
  installCommand = rendered.installCommand;
  writeHostFile(live("fullchain.pem"), first.certificate);
  writeHostFile(live("privkey.pem"), first.key, "0600");
  issuer.nginx = await startNginx(issuer.root);
  receiver.nginx = await startNginx(receiver.root);
}, 60_000);

afterAll(async () => {
  for (const each of [issuer, receiver]) {
    if (each === undefined) continue;
    await each.nginx?.stop();
    removeUsers(each.users);
    removeRoot(each.root);
  }
});

describe("a web node taking its certificates from the issuing node", () => {
  it("answers a challenge it does not hold from the issuer's webroot, and its own from its own", async () => {
    const challenge = (root: string, token: string) => join(root, "var/lib/megaweb/acme/.well-known/acme-challenge", token);
    writeHostFile(challenge(issuer.root, "held-by-issuer"), "issuer's token\n");
    writeHostFile(challenge(receiver.root, "held-here"), "receiver's token\n");
    const ask = (token: string) => fetchFrom({ port: receiver.ports.http, host: secure, path: `/.well-known/acme-challenge/${token}` });
    expect(await ask("held-by-issuer")).toMatchObject({ status: 200, body: "issuer's token\n" });
    expect(await ask("held-here")).toMatchObject({ status: 200, body: "receiver's token\n" });
    expect((await ask("held-nowhere")).status).toBe(404);
  });

  it("keeps the issuer's challenge port to the other nodes' addresses", async () => {
    const peer = (localAddress: string) => fetchFrom({ port: 8402, host: secure, path: "/.well-known/acme-challenge/held-by-issuer", localAddress });
    expect((await peer("127.0.0.1")).status).toBe(200);
    expect((await peer("127.0.0.2")).status).toBe(403);
  });

  it("installs a pushed certificate with its key, root-only, and nginx serves it after a reload", async () => {
    expect(install(secure, pem(second))).toMatchObject({ status: 0, output: expect.stringContaining(`${secure}, serial`) });
    expect(await served(serialOf(second))).toBe(serialOf(second));
    expect(statSync(live("privkey.pem")).mode & 0o777).toBe(0o600);
    // The same push again changes nothing.
    expect(install(secure, pem(second))).toEqual({ status: 0, output: "" });
  });

  it("refuses a key that is not the certificate's, and a name that is not one of the stack's Let's Encrypt sites, keeping what it serves", async () => {
    const before = readFileSync(live("privkey.pem"), "utf8");
    const mismatched = install(secure, `${first.certificate}${second.key}`);
    expect(mismatched.status).toBe(1);
    expect(mismatched.output).toContain(`what came for ${secure} is not a certificate with its own key; nothing changed`);
    const unknown = install("other.megaweb.test", pem(first));
    expect(unknown.status).toBe(2);
    expect(unknown.output).toContain("'other.megaweb.test' is not a Let's Encrypt site of web-2 (secure.megaweb.test)");
    expect(install(secure, "not a certificate\n").status).toBe(1);
    expect(readFileSync(live("privkey.pem"), "utf8")).toBe(before);
    expect(await served(serialOf(second))).toBe(serialOf(second));
  });
});
