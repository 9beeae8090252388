import { type ClusterSecret, secretPlaceholder } from "../plan/cluster";
import { privatePorts } from "../plan/firewall";
import type { PlannedHost, TopologyPlan } from "../plan/topology";
import {
  backupClientKey,
  backupSecretFiles,
  type BackupHost,
  type BackupSite,
  backupSites,
  renderBackupHost,
  renderBackupServer,
  renderBackupStep,
  type BackupServerRender,
} from "../render/backup";
import { resolveWebHost } from "../render/context";
import { renderTemplate } from "../render/template";
import type { Backups } from "../schema/backups";
import { siteSlug } from "../schema/site";
import type { Stack } from "../schema/stack";
import { firewallStep } from "./host";
import type { StepPlanner } from "./plan";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, type DeployFacts, factsOf, outputOf, privateIpOf } from "./step";
import { secretFileCommand } from "./web";
import { sizingFacts } from "./web-host";

/**
 * Backups (lib/render/backup.ts): on every host that holds data, the repository password (a
 * secret-only step) and restic with megaweb-backup, megaweb-restore and their timer; on the
 * stack's backup host, the SFTP account and one step per host that lets that host's own key in.
 * Which host holds what: the site files on the first web host (every web node serves the same
 * sites), the databases on the MySQL primary, Redis on the Redis primary; the single box holds all.
 */

export const backupServerStep = (host: string) => `${host}-backup-server`;
export const backupClientStep = (server: string, client: string) => `${server}-backup-client-${client}`;
export const backupPasswordStep = (host: string) => `${host}-backup-password`;
export const backupS3SecretStep = (host: string) => `${host}-backup-s3-secret`;
export const backupStep = (host: string) => `${host}-backup`;

const password: ClusterSecret = { kind: "backupPassword" };
const s3SecretKey: ClusterSecret = { kind: "backupS3SecretKey" };

/** The stack's backup host, when backups go to it (SFTP without a `host` of their own). */
export function backupServerOf(stack: Pick<Stack, "backups">, topology: TopologyPlan): PlannedHost | undefined {
  const destination = stack.backups?.destination;
  if (destination?.kind !== "sftp" || destination.host !== undefined) return undefined;
  const server = topology.hosts.find((host) => host.roles.includes("backup"));
  if (server === undefined) throw new Error("backups.destination: SFTP without a host needs the stack's backup host (nodes.backup: 1, or hosts.backup)");
  return server;
}

/** What each host holds, as its backup renders it; hosts holding nothing are left out. */
export function backupHolders(stack: Stack, topology: TopologyPlan): { host: PlannedHost; files: boolean; databases: boolean; redis: boolean }[] {
  const firstWeb = topology.hosts.find((host) => host.roles.includes("web"))?.name;
  return topology.hosts
    .map((host) => ({
      host,
      files: host.name === firstWeb && stack.sites.length > 0,
      databases: host.name === topology.mysql.primary,
      redis: host.name === topology.redis.primary,
    }))
    .filter((holder) => holder.files || holder.databases || holder.redis);
}

/** The parsed `megaweb-backup host key: <type> <key>` line of the backup server step. */
export function parseKeyLine(output: string, label: string): string {
  const line = output
    .split("\n")
    .reverse()
    .find((each) => each.startsWith(`${label}: `));
  if (line === undefined) throw new Error(`no "${label}:" line in the step's output`);
  return line.slice(label.length + 2).trim();
}

/**
 * What the steps others read print, with made-up keys of the right shape, for rendering without
 * servers (`plannedFacts`).
 */
export function plannedBackupOutput(step: string): string | undefined {
  if (step.endsWith("-backup-server")) return "megaweb-backup host key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlannedHostKeyOfTheBackupHostPlannedHostKey";
  if (step.endsWith("-backup")) return "megaweb-backup key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlannedKeyOfTheHostThatBacksUpPlannedKeyOfIt0";
  return undefined;
}

export const backupSteps: StepPlanner = ({ stack, topology }) => {
  const backups = stack.backups;
  if (backups === undefined) return [];
  const server = backupServerOf(stack, topology);
  const serverRender = backups.destination.kind === "sftp" ? renderBackupServer(backups.destination) : undefined;
  const serverSteps = server && serverRender ? [backupServerCommand(server, serverRender)] : [];
  const hostSteps = backupHolders(stack, topology).flatMap((holder): CommandStep[] => {
    const name = holder.host.name;
    const render = (at: DeployFacts) => renderBackupHost(backupHostOf(stack, backups, holder, at, server));
    const secretFiles = backupSecretFiles();
    const secretSteps: CommandStep[] = [
      secretStep(backupPasswordStep(name), name, password, { path: secretFiles.passwordFile, content: `${secretPlaceholder(password)}\n` }),
      ...(backups.destination.kind === "s3"
        ? [
            secretStep(backupS3SecretStep(name), name, s3SecretKey, {
              path: secretFiles.secretsFile,
              content: `AWS_SECRET_ACCESS_KEY=${secretPlaceholder(s3SecretKey)}\n`,
            }),
          ]
        : []),
    ];
    const backup: CommandStep = {
      kind: "command",
      name: backupStep(name),
      owner: "provisioning",
      host: name,
      dependsOn: [...secretSteps.map((step) => step.name), ...serverSteps.map((step) => step.name)],
      inputs: [factsOf(name), ...(server ? [privateIpOf(server.name), outputOf(server.name, backupServerStep(server.name))] : [])],
      reads: ["backups", "sites", "app"],
      secrets: [],
      renderer: "backup",
      render: (at) => {
        const rendered = render(at);
        return { files: rendered.files, create: stepCommand(renderBackupStep(rendered, name, putFiles)) };
      },
    };
    const client: CommandStep[] =
      server && serverRender
        ? [
            {
              kind: "command",
              name: backupClientStep(server.name, name),
              owner: "provisioning",
              host: server.name,
              dependsOn: [backupServerStep(server.name), backup.name],
              inputs: [outputOf(name, backup.name)],
              reads: ["backups.destination"],
              secrets: [],
              renderer: "backup",
              render: (at) => {
                const key = backupClientKey(serverRender, name, parseKeyLine(at.output(backup.name), "megaweb-backup key"));
                const body = renderTemplate("provision/backup-client.sh", {
                  client: name,
                  user: serverRender.user,
                  repository: `${serverRender.path}/${name}`,
                  key: putFiles([key]),
                  clientsDir: serverRender.clientsDir,
                  authorizedKeys: serverRender.authorizedKeys,
                });
                return { files: [key], create: stepCommand(body) };
              },
            },
          ]
        : [];
    return [...secretSteps, backup, ...client];
  });
  return [...serverSteps, ...hostSteps];
};

function backupServerCommand(server: PlannedHost, render: BackupServerRender): CommandStep {
  return {
    kind: "command",
    name: backupServerStep(server.name),
    owner: "provisioning",
    host: server.name,
    dependsOn: [firewallStep(server.name)],
    inputs: [],
    reads: ["backups.destination"],
    secrets: [],
    renderer: "backup",
    render: () => {
      const body = renderTemplate("provision/backup-server.sh", { ...render, sshd: putFiles([render.sshd]) });
      return { files: [render.sshd], create: stepCommand(body) };
    },
  };
}

/** A secret-only step that writes one file of the backup's from stdin. */
function secretStep(name: string, host: string, secret: ClusterSecret, file: { path: string; content: string }): CommandStep {
  return {
    kind: "command",
    name,
    owner: "provisioning",
    host,
    dependsOn: [firewallStep(host)],
    inputs: [],
    reads: ["backups"],
    secrets: [secret],
    renderer: "backup",
    render: () => {
      const { path, content } = file;
      return { files: [{ path, content, mode: "0600", secret: true }], create: secretFileCommand({ path, mode: "0600" }), stdin: content };
    },
  };
}

function backupHostOf(
  stack: Stack,
  backups: Backups,
  holder: ReturnType<typeof backupHolders>[number],
  at: DeployFacts,
  server: PlannedHost | undefined,
): BackupHost {
  const { host } = holder;
  let sites: BackupSite[];
  if (holder.files) {
    const contexts = resolveWebHost(stack.sites, sizingFacts(host, at)).sites;
    sites = backupSites(stack.sites, contexts, { files: true, databases: holder.databases });
  } else {
    sites = stack.sites.map((site) => ({
      domain: site.domain,
      database: holder.databases && site.database !== undefined ? (site.database.name ?? siteSlug(site.domain)) : undefined,
      paths: [],
      excludes: [],
    }));
  }
  return {
    name: host.name,
    backups,
    backupHost: server && {
      address: at.privateIp(server.name),
      hostKey: parseKeyLine(at.output(backupServerStep(server.name)), "megaweb-backup host key"),
    },
    sites,
    appDatabase: holder.databases && stack.app?.enabled ? stack.app.database.name : undefined,
    redis: holder.redis ? { port: privatePorts.redis } : undefined,
  };
}
