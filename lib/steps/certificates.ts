import type { PlannedHost } from "../plan/topology";
import { type CertificateRender, renderCertbotHost, renderCertbotSite, renderCertificateStep } from "../render/certbot";
import { type HostContext, resolveWebHost } from "../render/context";
import { renderTemplate } from "../render/template";
import type { Stack } from "../schema/stack";
import type { StepPlanner } from "./plan";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, type DeployFacts, factsOf } from "./step";
import { siteStep } from "./web";

/**
 * Let's Encrypt certificates (lib/render/certbot.ts): per web host, a step per
 * `tls: { mode: letsencrypt }` site after the site's own step. The site step writes the HTTP-only
 * vhost while the certificate is missing (so a new site never fails `nginx -t`); this step issues
 * over HTTP-01 through it and then writes the TLS vhost. A failed issuance fails only this step.
 * TLS ends on the web hosts in every phase; with one web host per stack for now (a stack with
 * more is refused by the schema until the issuer and its challenge fallback are wired,
 * templates/certbot/README.md).
 */

export const certificateStep = (host: string, domain: string) => `${siteStep(host, domain)}-certificate`;

/** The certbot render of site `index` on a web host, from the host's facts as its site steps see them. */
export function letsencryptRender(stack: Stack, host: PlannedHost, index: number, at: DeployFacts): { render: CertificateRender; host: HostContext } {
  const resolved = resolveWebHost(stack.sites, { name: host.name, memoryMb: at.facts(host.name).memoryMb, roles: host.roles });
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

export const certificateSteps: StepPlanner = ({ stack, topology }) =>
  topology.hosts
    .filter((host) => host.roles.includes("web"))
    .flatMap((host) =>
      stack.sites.flatMap((site, index): CommandStep[] =>
        site.tls.mode !== "letsencrypt"
          ? []
          : [
              {
                kind: "command",
                name: certificateStep(host.name, site.domain),
                owner: "provisioning",
                host: host.name,
                undoable: true,
                dependsOn: [siteStep(host.name, site.domain)],
                inputs: [factsOf(host.name)],
                reads: [`sites[${index}]`, "certificates"],
                secrets: [],
                renderer: "certbot",
                render: (at) => {
                  const { render, host: context } = letsencryptRender(stack, host, index, at);
                  return {
                    files: [...renderCertbotHost(context), render.config],
                    create: stepCommand(renderCertificateStep(render, context, putFiles)),
                    delete: stepCommand(renderTemplate("provision/certificate-delete.sh", { domain: render.domain, certbotConfig: render.config.path })),
                  };
                },
              },
            ],
      ),
    );
