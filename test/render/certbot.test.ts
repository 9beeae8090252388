import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { putFiles } from "../../lib/steps/script";
import { renderCertbotHost, renderCertbotSite, renderCertificateStep } from "../../lib/render/certbot";
import { resolveWebHost } from "../../lib/render/context";
import { renderTemplate } from "../../lib/render/template";
import { parseStack } from "../../lib/schema/stack";

const stack = parseStack({
  certificates: { acmeDirectory: "letsencrypt-staging" },
  sites: [
    { domain: "shop.example.com", aliases: ["www.shop.example.com"], tls: { mode: "letsencrypt", email: "shop@example.com" } },
    { domain: "blog.example.com", kind: "static", tls: { mode: "letsencrypt" } },
  ],
});
const { host, sites } = resolveWebHost(stack.sites, { name: "web-1", memoryMb: 2048, roles: ["web"] });
const shop = renderCertbotSite(stack.sites[0]!, sites[0]!, host, stack.certificates, stack.sites);

describe("certbot's files for a Let's Encrypt site", () => {
  it("orders every name of the site from the stack's directory over HTTP-01 into the shared ACME webroot", () => {
    expect(shop.config.path).toBe("/etc/megaweb/certbot/shop_example_com.ini");
    expect(shop.config.content).toMatchSnapshot();
    expect(shop.certificate).toBe("/etc/letsencrypt/live/shop.example.com/fullchain.pem");
  });

  it("registers without an e-mail when neither the stack nor a site names one", () => {
    const bare = parseStack({ sites: [{ domain: "a.example.com", tls: { mode: "letsencrypt" } }] });
    const context = resolveWebHost(bare.sites, { name: "web-1", memoryMb: 2048, roles: ["web"] });
    const { content } = renderCertbotSite(bare.sites[0]!, context.sites[0]!, context.host, bare.certificates, bare.sites).config;
    expect(content).toContain("register-unsafely-without-email = true");
    expect(content).toContain("server = https://acme-v02.api.letsencrypt.org/directory");
    expect(content).not.toMatch(/^email =/m);
  });

  it("has an HTTP-only vhost that serves the site and the challenge with no certificate, redirect or HSTS", () => {
    expect(shop.httpOnlyVhost.path).toBe(shop.tlsVhost.path);
    expect(shop.httpOnlyVhost.content).not.toMatch(/ssl|443|return 301|Strict-Transport-Security/);
    expect(shop.httpOnlyVhost.content).toContain("location ^~ /.well-known/acme-challenge/");
    expect(shop.tlsVhost.content).toContain("ssl_certificate /etc/letsencrypt/live/shop.example.com/fullchain.pem;");
    expect(shop.tlsVhost.content).toContain("return 301 https://$host$request_uri;");
    expect(shop.tlsVhost.content).toContain("Strict-Transport-Security");
  });

  it("has scripts shellcheck passes: the step with the shared helpers it runs after, and the hook", () => {
    const step = `#!/bin/bash\n${renderTemplate("provision/lib.sh", {})}\n${renderCertificateStep(shop, host, putFiles)}`;
    const hook = renderCertbotHost(host).find((file) => file.path.includes("renewal-hooks"))!.content;
    // The shared helpers serve every step, so one step leaves some of their variables and arguments unused.
    const shared = ["-e", "SC2034,SC1091,SC2119,SC2120"];
    for (const script of [step, hook]) expect(spawnSync("shellcheck", [...shared, "-"], { input: script, encoding: "utf8" }).stdout).toBe("");
  });

  it("renders the deploy hook, certbot.service's drop-in and the certificate step as the files on the server", () => {
    for (const file of renderCertbotHost(host)) expect(`# ${file.path} (${file.mode ?? "0644"})\n${file.content}`).toMatchSnapshot();
    expect(renderCertificateStep(shop, host, putFiles)).toMatchSnapshot();
  });
});
