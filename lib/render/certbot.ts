import { privatePorts } from "../plan/firewall";
import { accountEmail, type Certificates } from "../schema/certificates";
import type { Site } from "../schema/site";
import type { HostContext, SiteContext } from "./context";
import type { HostFile } from "./files";
import { renderNginxSite } from "./nginx";
import { renderTemplate } from "./template";

/**
 * Let's Encrypt certificates for `tls: { mode: letsencrypt }` sites, issued and renewed by
 * Debian's certbot on the web host over HTTP-01: the challenge lands in the host's ACME webroot,
 * which every site's nginx vhost already serves, so no daemon stops and no port changes hands.
 *
 * A new site cannot start with its TLS vhost (nginx refuses a certificate file that does not
 * exist), so its certificate step writes the HTTP-only vhost first, issues, then writes the TLS
 * vhost; a host whose certificate exists goes straight to the TLS vhost. The renewal is Debian's
 * certbot.timer; the deploy hook reloads nginx after `nginx -t`. certbot writes the private key on
 * the host and nothing reads it back, so it never reaches Pulumi state or a step's output.
 *
 * Wiring into the step plan (per web host, after its web step; no secrets):
 * - per Let's Encrypt site, a step `<host>-site-<slug>-certificate` running `renderCertificateStep`
 *   after the site's own step; it also writes the host-wide files of `renderCertbotHost`.
 * - the site's own step must write `httpOnlyVhost` instead of the TLS vhost while `certificate` is
 *   missing on the host, or its `nginx -t` fails on a new site.
 *
 * Behind a load balancer TLS still ends on the web nodes and the first web node issues; how
 * HTTP-01 reaches it and how the others get the renewed files: templates/certbot/README.md.
 */

export interface CertificateRender {
  readonly domain: string;
  /** certbot's settings for the site: the step runs `certbot certonly --config` this. */
  readonly config: HostFile;
  /** The site's vhost before its certificate exists: HTTP and the ACME challenge, no redirect, no HSTS. */
  readonly httpOnlyVhost: HostFile;
  /** The site's vhost once the certificate exists, as `renderNginxSite` renders it: HTTPS, redirect, HSTS. */
  readonly tlsVhost: HostFile;
  /** `fullchain.pem` of the site's certificate lineage; its presence is what the step branches on. */
  readonly certificate: string;
  /** certbot's own record of the lineage, which `certbot renew` reads. */
  readonly renewalConfig: string;
  readonly server: string;
}

/** Where the issuing web node keeps what it pushes with: its key, the receivers and their host keys. */
const pushDirectory = "/etc/megaweb/certbot/push";
const pushCommand = "/usr/local/sbin/megaweb-push-certificates";
const installCommand = "/usr/local/sbin/megaweb-install-certificate";

/** The deploy hook certbot runs after every renewal on the host, and the drop-in that fails certbot.service when it failed. */
export function renderCertbotHost(host: HostContext): HostFile[] {
  const view = { failureMarker: host.path("/var/lib/megaweb/certbot/reload-failed"), pushCommand: host.path(pushCommand) };
  return [
    { path: host.path("/etc/letsencrypt/renewal-hooks/deploy/megaweb-reload-nginx"), content: renderTemplate("certbot/deploy-hook.sh", view), mode: "0755" },
    { path: host.path("/etc/systemd/system/certbot.service.d/megaweb.conf"), content: renderTemplate("systemd/certbot-megaweb.conf", view) },
  ];
}

/** certbot's settings and both vhost variants of one Let's Encrypt site. */
export function renderCertbotSite(site: Site, context: SiteContext, host: HostContext, certificates: Certificates, sites: readonly Site[]): CertificateRender {
  if (site.tls.mode !== "letsencrypt" || context.tls === undefined) throw new Error(`${site.domain} does not use Let's Encrypt`);
  const vhost = (files: HostFile[]) => files.find((file) => file.path.includes("/etc/nginx/sites-enabled/"))!;
  const view = {
    domain: site.domain,
    domains: context.serverNames.join(", "),
    server: certificates.acmeDirectory,
    email: accountEmail(certificates, sites) ?? false,
    acmeWebroot: host.acmeWebroot,
  };
  return {
    domain: site.domain,
    config: { path: host.path(`/etc/megaweb/certbot/${context.slug}.ini`), content: renderTemplate("certbot/site.ini", view) },
    httpOnlyVhost: vhost(renderNginxSite({ ...site, tls: { mode: "none" } }, { ...context, tls: undefined }, host)),
    tlsVhost: vhost(renderNginxSite(site, context, host)),
    certificate: context.tls.certificate,
    renewalConfig: host.path(`/etc/letsencrypt/renewal/${site.domain}.conf`),
    server: certificates.acmeDirectory,
  };
}

/**
 * The body of a site's certificate step (`templates/provision/certificate.sh`), to run after the
 * shared provisioning helpers; `writeFiles` renders `put_file` calls, as the other steps write files.
 */
export function renderCertificateStep(render: CertificateRender, host: HostContext, writeFiles: (files: readonly HostFile[]) => string): string {
  return renderTemplate("provision/certificate.sh", {
    domain: render.domain,
    certbotFiles: writeFiles([...renderCertbotHost(host), render.config]),
    httpOnlyVhost: writeFiles([render.httpOnlyVhost]),
    tlsVhost: writeFiles([render.tlsVhost]),
    certificate: render.certificate,
    renewalConfig: render.renewalConfig,
    server: render.server,
    certbotConfig: render.config.path,
  });
}

/** A web node by plan name and private address. */
export interface WebPeer {
  readonly name: string;
  readonly address: string;
}

export interface CertificateIssuerRender {
  /** The private port where the other nodes ask for challenges, and the push command. */
  readonly files: HostFile[];
  /** The key the issuer pushes with, made on the host by the issuer step. */
  readonly key: string;
  readonly pushCommand: string;
}

/**
 * The issuing web node's side (templates/certbot/README.md, "Behind a load balancer"): the nginx
 * server the other nodes ask for challenges, open to their addresses only, and the push command.
 */
export function renderCertificateIssuer(host: HostContext, receivers: readonly WebPeer[]): CertificateIssuerRender {
  const key = host.path(`${pushDirectory}/id_ed25519`);
  return {
    key,
    pushCommand: host.path(pushCommand),
    files: [
      {
        path: host.path("/etc/nginx/conf.d/megaweb-acme-peers.conf"),
        content: renderTemplate("certbot/acme-peers.conf", {
          host: host.name,
          port: privatePorts.acmeIssuer,
          receivers: receivers.map((receiver) => receiver.address),
          acmeWebroot: host.acmeWebroot,
        }),
      },
      {
        path: host.path(pushCommand),
        mode: "0755",
        content: renderTemplate("certbot/push-certificates.sh", {
          host: host.name,
          receiversConfig: host.path(`${pushDirectory}/receivers.conf`),
          live: host.path("/etc/letsencrypt/live"),
          key,
          knownHosts: host.path(`${pushDirectory}/known_hosts`),
        }),
      },
    ],
  };
}

/** Where the issuer pushes to (the receivers by address, with their SSH host keys), which certificates, and the command that pushes. */
export function renderCertificatePush(
  host: HostContext,
  receivers: readonly (WebPeer & { hostKey: string })[],
  domains: readonly string[],
): { files: HostFile[]; pushCommand: string } {
  return {
    pushCommand: host.path(pushCommand),
    files: [
      {
        path: host.path(`${pushDirectory}/receivers.conf`),
        content: renderTemplate("certbot/receivers.conf", { host: host.name, receivers: receivers.map((receiver) => receiver.address), domains }),
      },
      { path: host.path(`${pushDirectory}/known_hosts`), content: receivers.map((receiver) => `${receiver.address} ${receiver.hostKey}\n`).join("") },
    ],
  };
}

export interface CertificateReceiverRender {
  readonly files: HostFile[];
  readonly installCommand: string;
}

/** A web node taking its certificates from the issuer: the forced command its key runs, and the names it may install. */
export function renderCertificateReceiver(host: HostContext, issuer: WebPeer, domains: readonly string[]): CertificateReceiverRender {
  const config = host.path("/etc/megaweb/certbot/received.conf");
  return {
    installCommand: host.path(installCommand),
    files: [
      { path: config, content: renderTemplate("certbot/received.conf", { host: host.name, issuer: issuer.name, domains }) },
      {
        path: host.path(installCommand),
        mode: "0755",
        content: renderTemplate("certbot/install-certificate.sh", { host: host.name, issuer: issuer.name, config, live: host.path("/etc/letsencrypt/live") }),
      },
    ],
  };
}

/** nginx's way to the issuer's challenges on a receiving node, which every site's vhost there names. */
export function renderAcmeIssuerUpstream(host: HostContext, issuer: WebPeer): HostFile {
  return {
    path: host.path("/etc/nginx/conf.d/megaweb-acme-issuer.conf"),
    content: renderTemplate("certbot/acme-issuer-upstream.conf", {
      host: host.name,
      issuer: issuer.name,
      address: issuer.address,
      port: privatePorts.acmeIssuer,
    }),
  };
}
