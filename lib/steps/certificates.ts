import type { PlannedHost, TopologyPlan } from "../plan/topology";
import {
  type CertificateRender,
  renderAcmeIssuerUpstream,
  renderCertbotHost,
  renderCertbotSite,
  renderCertificateIssuer,
  renderCertificatePush,
  renderCertificateReceiver,
  renderCertificateStep,
  type WebPeer,
} from "../render/certbot";
import { type HostContext, resolveWebHost } from "../render/context";
import type { HostFile } from "../render/files";
import { renderTemplate } from "../render/template";
import type { Stack } from "../schema/stack";
import { parseKeyLine } from "./backup";
import type { StepPlanner } from "./plan";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, type DeployFacts, type DeployInput, factsOf, outputOf, privateIpOf } from "./step";
import { siteStep, webStep } from "./web";
import { webHostFacts } from "./web-host";

/**
 * Let's Encrypt certificates (lib/render/certbot.ts): per web host, a step per
 * `tls: { mode: letsencrypt }` site after the site's own step. The site step writes the HTTP-only
 * vhost while the certificate is missing (so a new site never fails `nginx -t`); this step issues
 * over HTTP-01 through it and then writes the TLS vhost. A failed issuance fails only this step.
 *
 * TLS ends on the web hosts in every phase. With several web nodes (`topology.certificates`) the
 * first issues for all of them (templates/certbot/README.md): its issuer step makes the key it
 * pushes with and opens the port where the others ask for challenges; each other node's receiver
 * step lets that key run the install command; the push step sends every certificate; then each
 * other node's certificate step writes the TLS vhost of what it received.
 */

export const certificateStep = (host: string, domain: string) => `${siteStep(host, domain)}-certificate`;
export const certificateIssuerStep = (host: string) => `${host}-certificate-issuer`;
export const certificateReceiverStep = (host: string) => `${host}-certificate-receiver`;
export const certificatePushStep = (host: string) => `${host}-certificate-push`;

/**
 * What the steps others read print, with made-up keys of the right shape, for rendering without
 * servers (`plannedFacts`).
 */
export function plannedCertificateOutput(step: string): string | undefined {
  if (step.endsWith("-certificate-issuer"))
    return "megaweb-certificates key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlannedKeyTheIssuingWebNodePushesCertificatesWith";
  if (step.endsWith("-certificate-receiver"))
    return "megaweb-certificates host key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlannedHostKeyOfAWebNodeTakingCertificatesFromIt";
  return undefined;
}

/** The certbot render of site `index` on a web host, from the host's facts as its site steps see them. */
export function letsencryptRender(
  stack: Stack,
  topology: TopologyPlan,
  host: PlannedHost,
  index: number,
  at: DeployFacts,
): { render: CertificateRender; host: HostContext } {
  const resolved = resolveWebHost(stack.sites, webHostFacts(topology, host, at));
  return { render: renderCertbotSite(stack.sites[index]!, resolved.sites[index]!, resolved.host, stack.certificates, stack.sites), host: resolved.host };
}

/**
 * The site step's vhost for a Let's Encrypt site: the TLS one once its certificate exists on the
 * host, else the HTTP-only one, decided on the host at each run.
 */
export function letsencryptVhost(render: CertificateRender): string {
  return renderTemplate("provision/letsencrypt-vhost.sh", {
    certificate: render.certificate,
    tlsVhost: putFiles([render.tlsVhost]),
    httpOnlyVhost: putFiles([render.httpOnlyVhost]),
  });
}

/** On a node that takes its certificates from the issuer: nginx's upstream every vhost's challenge fallback names, for its web step. */
export function acmeIssuerUpstream(topology: TopologyPlan, host: PlannedHost): { inputs: DeployInput[]; files: (at: DeployFacts) => HostFile[] } {
  const issuer = topology.certificates?.receivers.includes(host.name) ? topology.certificates.issuer : undefined;
  if (issuer === undefined) return { inputs: [], files: () => [] };
  return {
    inputs: [privateIpOf(issuer)],
    files: (at) => [renderAcmeIssuerUpstream(hostContext(host), { name: issuer, address: at.privateIp(issuer) })],
  };
}

/** The host-wide paths of a web host, which need no facts: certbot's files are not sized by memory. */
const hostContext = (host: PlannedHost): HostContext => resolveWebHost([], { name: host.name, memoryMb: 0, roles: [] }).host;

export const certificateSteps: StepPlanner = ({ stack, topology }) => {
  const sites = stack.sites.flatMap((site, index) => (site.tls.mode === "letsencrypt" ? [{ domain: site.domain, index }] : []));
  if (sites.length === 0) return [];
  const webs = topology.hosts.filter((host) => host.roles.includes("web"));
  const shared = topology.certificates;
  if (shared === undefined) return webs.flatMap((host) => sites.map(({ index }) => issueStep(stack, topology, host, index, [])));

  const issuer = webs.find((host) => host.name === shared.issuer)!;
  const receivers = webs.filter((host) => shared.receivers.includes(host.name));
  const domains = sites.map((site) => site.domain);
  const issuerSetup: CommandStep = {
    kind: "command",
    name: certificateIssuerStep(issuer.name),
    owner: "provisioning",
    host: issuer.name,
    undoable: true,
    dependsOn: [webStep(issuer.name)],
    inputs: receivers.map((receiver) => privateIpOf(receiver.name)),
    reads: ["sites[].tls"],
    secrets: [],
    renderer: "certbot",
    render: (at) => {
      const render = renderCertificateIssuer(
        hostContext(issuer),
        receivers.map((receiver) => ({ name: receiver.name, address: at.privateIp(receiver.name) })),
      );
      return {
        files: render.files,
        create: stepCommand(renderTemplate("provision/certificate-issuer.sh", { host: issuer.name, key: render.key, files: putFiles(render.files) })),
        delete: stepCommand(
          renderTemplate("provision/certificate-issuer-delete.sh", {
            host: issuer.name,
            key: render.key,
            files: render.files.map((file) => file.path).join(" "),
          }),
        ),
      };
    },
  };
  // Every node's vhost must ask the issuer for the challenges it does not hold before the issuer orders.
  const issued = sites.map(({ domain, index }) =>
    issueStep(stack, topology, issuer, index, [issuerSetup.name, ...receivers.map((receiver) => siteStep(receiver.name, domain))]),
  );
  const receiving = receivers.map((receiver): CommandStep => {
    const peer = (at: DeployFacts): WebPeer => ({ name: issuer.name, address: at.privateIp(issuer.name) });
    return {
      kind: "command",
      name: certificateReceiverStep(receiver.name),
      owner: "provisioning",
      host: receiver.name,
      undoable: true,
      dependsOn: [webStep(receiver.name), issuerSetup.name],
      inputs: [privateIpOf(issuer.name), outputOf(issuer.name, issuerSetup.name)],
      reads: ["sites[].tls"],
      secrets: [],
      renderer: "certbot",
      render: (at) => {
        const render = renderCertificateReceiver(hostContext(receiver), peer(at), domains);
        const view = { host: receiver.name, issuer: issuer.name, installCommand: render.installCommand };
        return {
          files: render.files,
          create: stepCommand(
            renderTemplate("provision/certificate-receiver.sh", {
              ...view,
              files: putFiles(render.files),
              issuerAddress: peer(at).address,
              issuerKey: parseKeyLine(at.output(issuerSetup.name), "megaweb-certificates key"),
            }),
          ),
          delete: stepCommand(renderTemplate("provision/certificate-receiver-delete.sh", { ...view, files: render.files.map((file) => file.path).join(" ") })),
        };
      },
    };
  });
  const push: CommandStep = {
    kind: "command",
    name: certificatePushStep(issuer.name),
    owner: "provisioning",
    host: issuer.name,
    dependsOn: [...issued.map((step) => step.name), ...receiving.map((step) => step.name)],
    inputs: receivers.flatMap((receiver) => [privateIpOf(receiver.name), outputOf(receiver.name, certificateReceiverStep(receiver.name))]),
    reads: ["sites[].tls"],
    secrets: [],
    renderer: "certbot",
    render: (at) => {
      const { files, pushCommand } = renderCertificatePush(
        hostContext(issuer),
        receivers.map((receiver) => ({
          name: receiver.name,
          address: at.privateIp(receiver.name),
          hostKey: parseKeyLine(at.output(certificateReceiverStep(receiver.name)), "megaweb-certificates host key"),
        })),
        domains,
      );
      return { files, create: stepCommand(renderTemplate("provision/certificate-push.sh", { host: issuer.name, files: putFiles(files), pushCommand })) };
    },
  };
  const received = receivers.flatMap((receiver) =>
    sites.map(({ domain, index }): CommandStep => {
      const view = { domain, issuer: issuer.name, host: receiver.name };
      return {
        kind: "command",
        name: certificateStep(receiver.name, domain),
        owner: "provisioning",
        host: receiver.name,
        undoable: true,
        dependsOn: [siteStep(receiver.name, domain), push.name],
        inputs: [factsOf(receiver.name)],
        reads: [`sites[${index}]`],
        secrets: [],
        renderer: "certbot",
        render: (at) => {
          const { render } = letsencryptRender(stack, topology, receiver, index, at);
          return {
            files: [render.tlsVhost],
            create: stepCommand(
              renderTemplate("provision/certificate-received.sh", {
                ...view,
                pushStep: push.name,
                certificate: render.certificate,
                tlsVhost: putFiles([render.tlsVhost]),
              }),
            ),
            delete: stepCommand(
              renderTemplate("provision/certificate-received-delete.sh", { ...view, live: render.certificate.replace(/\/fullchain\.pem$/, "") }),
            ),
          };
        },
      };
    }),
  );
  return [issuerSetup, ...issued, ...receiving, push, ...received];
};

/** The step that issues site `index`'s certificate on `host` with certbot, then writes its TLS vhost. */
function issueStep(stack: Stack, topology: TopologyPlan, host: PlannedHost, index: number, after: readonly string[]): CommandStep {
  return {
    kind: "command",
    name: certificateStep(host.name, stack.sites[index]!.domain),
    owner: "provisioning",
    host: host.name,
    undoable: true,
    dependsOn: [siteStep(host.name, stack.sites[index]!.domain), ...after],
    inputs: [factsOf(host.name)],
    reads: [`sites[${index}]`, "certificates"],
    secrets: [],
    renderer: "certbot",
    render: (at) => {
      const { render, host: context } = letsencryptRender(stack, topology, host, index, at);
      return {
        files: [...renderCertbotHost(context), render.config],
        create: stepCommand(renderCertificateStep(render, context, putFiles)),
        delete: stepCommand(renderTemplate("provision/certificate-delete.sh", { domain: render.domain, certbotConfig: render.config.path })),
      };
    },
  };
}
