import { deployUser, renderBase } from "../render/base";
import { hostFirewallRules, renderNftables } from "../render/firewall";
import { renderHardening } from "../render/hardening";
import { renderTemplate } from "../render/template";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, privateIpOf } from "./step";
import type { StepPlanner } from "./plan";

/**
 * What every host gets, whatever its roles, before any role's step: its facts, the base system
 * and the firewall; then its hardening (lib/render/hardening.ts), which no role waits for.
 */

export const factsStep = (host: string) => `${host}-facts`;
export const baseStep = (host: string) => `${host}-base`;
export const firewallStep = (host: string) => `${host}-firewall`;
export const hardeningStep = (host: string) => `${host}-hardening`;

export const hostSteps: StepPlanner = ({ stack, topology }) =>
  topology.hosts.flatMap((host): CommandStep[] => {
    const peers = topology.hosts.filter((other) => other !== host);
    return [
      {
        kind: "command",
        name: factsStep(host.name),
        owner: "provisioning",
        host: host.name,
        dependsOn: [],
        inputs: [],
        reads: [],
        secrets: [],
        // The first step of a fresh droplet waits for its SSH server.
        dialErrorLimit: 60,
        // Read-only, so it runs without the shared helpers: every later step renders from its
        // output, and it must not change (and hide their diffs behind unknowns) when the helpers do.
        render: () => ({ files: [], create: renderTemplate("provision/facts.sh", {}) }),
      },
      {
        kind: "command",
        name: baseStep(host.name),
        owner: "provisioning",
        host: host.name,
        dependsOn: [factsStep(host.name)],
        inputs: [],
        reads: ["sshPublicKeys"],
        secrets: [],
        renderer: "base",
        render: () => {
          const files = renderBase(stack.sshPublicKeys);
          const body = renderTemplate("provision/base.sh", {
            deployUser,
            authorizedKeys: putFiles([files.authorizedKeys]),
            sudoers: putFiles([files.sudoers]),
            sshd: putFiles([files.sshd]),
            autoUpgrades: putFiles([files.autoUpgrades]),
          });
          return { files: Object.values(files), create: stepCommand(body) };
        },
      },
      {
        kind: "command",
        name: firewallStep(host.name),
        owner: "provisioning",
        host: host.name,
        dependsOn: [baseStep(host.name)],
        inputs: peers.map((peer) => privateIpOf(peer.name)),
        reads: ["adminCidrs", "phase"],
        secrets: [],
        renderer: "firewall",
        render: (at) => {
          const rules = hostFirewallRules(
            host.roles,
            topology.firewall,
            peers.map((peer) => ({ roles: peer.roles, privateIp: at.privateIp(peer.name) })),
            stack.adminCidrs,
          );
          const nftables = renderNftables(host.name, host.roles, rules);
          return { files: [nftables], create: stepCommand(renderTemplate("provision/firewall.sh", { files: putFiles([nftables]) })) };
        },
      },
      {
        kind: "command",
        name: hardeningStep(host.name),
        owner: "provisioning",
        host: host.name,
        // fail2ban's bans go into nftables, so it starts once the host's firewall is in place.
        dependsOn: [firewallStep(host.name)],
        inputs: [],
        reads: ["adminCidrs"],
        secrets: [],
        renderer: "hardening",
        render: () => {
          const hardening = renderHardening({ trustedSources: stack.adminCidrs });
          const path = (suffix: string) => hardening.files.find((file) => file.path.endsWith(suffix))!.path;
          const body = renderTemplate("provision/hardening.sh", {
            packages: hardening.packages.join(" "),
            files: putFiles(hardening.files),
            sysctl: path("/sysctl.d/90-megaweb.conf"),
            jail: path("/jail.local"),
          });
          return { files: hardening.files, create: stepCommand(body) };
        },
      },
    ];
  });
