import { type ClusterSecret, secretName, secretPlaceholder } from "../plan/cluster";
import type { PlannedHost } from "../plan/topology";
import { resolveWebHost } from "../render/context";
import type { HostFile } from "../render/files";
import { type ExporterRender, exporterRenders, renderMonitoringServer } from "../render/monitoring";
import { mysqldExporterGrants } from "../render/mysqld-exporter";
import { exportersOf as wantedExporters, type MonitoredHost, monitoredSites } from "../render/scrape-targets";
import { renderTemplate } from "../render/template";
import type { Monitoring } from "../schema/monitoring";
import type { Stack } from "../schema/stack";
import { firewallStep } from "./host";
import { mysqlStep } from "./mysql";
import type { PlanContext, StepPlanner } from "./plan";
import { redisStep } from "./redis";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, type DeployFacts, factsOf, privateIpOf } from "./step";
import { secretFileCommand, webStep } from "./web";
import { sizingFacts } from "./web-host";

/**
 * Monitoring (lib/render/MONITORING.md): on every host its exporters, bound to its private address
 * (the firewall matrix lets only the monitoring host in); on the monitoring host Prometheus and
 * Alertmanager, each checked by its own tool before it reloads. Exporters that log in get their
 * password on stdin, in steps of their own; so do the alert receivers' credentials.
 */

export const exportersStep = (host: string) => `${host}-exporters`;
export const exporterStep = (host: string, exporter: string) => `${host}-${exporter.replace(/^prometheus-/, "")}`;
export const alertReceiverSecretStep = (host: string, secret: ClusterSecret) => `${host}-secret-${secretName(secret)}`;
export const monitoringStep = (host: string) => `${host}-monitoring`;

const redisPassword: ClusterSecret = { kind: "redis" };
const mysqlExporterPassword: ClusterSecret = { kind: "mysqlExporter" };
/** Exporters that log in: each gets a step of its own with its secret on stdin. */
const loggingIn: Readonly<Record<string, ClusterSecret>> = { "prometheus-redis-exporter": redisPassword, "prometheus-mysqld-exporter": mysqlExporterPassword };

export const monitoringSteps: StepPlanner = (context) => {
  const server = context.topology.monitoring;
  if (server === undefined) return [];
  const hosts = context.topology.hosts;
  const serverHost = hosts.find((host) => host.name === server)!;
  return [...hosts.flatMap((host) => exporterSteps(context, host)), ...serverSteps(context, serverHost)];
};

/** What the monitoring knows of a host at deploy time: its private address, and on a web host its sites. */
function monitoredHost(stack: Stack, host: PlannedHost, at: DeployFacts): MonitoredHost {
  const web = host.roles.includes("web") ? resolveWebHost(stack.sites, sizingFacts(host, at)) : undefined;
  return {
    name: host.name,
    roles: host.roles,
    address: at.privateIp(host.name),
    ...(web && { sites: monitoredSites(stack.sites, web.sites, web.host) }),
    monitoring: host.roles.includes("monitoring"),
  };
}

/** The exporters of one host as rendered at deploy time, with placeholders for the passwords. */
function exportersOf(stack: Stack, host: PlannedHost, at: DeployFacts): ExporterRender[] {
  return exporterRenders(monitoredHost(stack, host, at), {
    redis: secretPlaceholder(redisPassword),
    mysqlExporter: secretPlaceholder(mysqlExporterPassword),
  });
}

function exporterSteps({ stack, topology }: PlanContext, host: PlannedHost): CommandStep[] {
  const web = host.roles.includes("web");
  const inputs = [factsOf(host.name), privateIpOf(host.name)];
  const reads = web ? ["sites", "monitoring"] : ["monitoring"];
  const steps: CommandStep[] = [
    {
      kind: "command",
      name: exportersStep(host.name),
      owner: "provisioning",
      host: host.name,
      dependsOn: [firewallStep(host.name), ...(web ? [webStep(host.name)] : [])],
      inputs,
      reads,
      secrets: [],
      renderer: "monitoring",
      render: (at) => {
        const exporters = exportersOf(stack, host, at).filter((exporter) => loggingIn[exporter.package] === undefined);
        return {
          files: exporters.flatMap((exporter) => exporter.files),
          create: stepCommand(exporters.map((exporter) => exporterScript(exporter)).join("\n")),
        };
      },
    },
  ];
  // Whether a host runs these two follows from its roles alone, so the plan knows before any server does.
  const wanted = wantedExporters({ roles: host.roles, sites: [] });
  const loggingInHere = [...(wanted.mysqld ? ["prometheus-mysqld-exporter"] : []), ...(wanted.redis ? ["prometheus-redis-exporter"] : [])];
  for (const name of loggingInHere) {
    const mysql = name === "prometheus-mysqld-exporter";
    // A Sentinel-only host's exporter logs in nowhere: Sentinels take no password.
    const secret = mysql || host.roles.includes("redis") ? loggingIn[name] : undefined;
    steps.push({
      kind: "command",
      name: exporterStep(host.name, name),
      owner: "provisioning",
      host: host.name,
      // A Sentinel-only host has no Redis step to wait for.
      dependsOn: [exportersStep(host.name), ...(mysql ? [mysqlStep(host.name)] : host.roles.includes("redis") ? [redisStep(host.name)] : [])],
      inputs,
      reads: ["monitoring"],
      secrets: secret === undefined ? [] : [secret],
      renderer: "monitoring",
      render: (at) => {
        const exporter = exportersOf(stack, host, at).find((each) => each.package === name)!;
        const secretFile = exporter.files.find((file) => file.secret);
        const primary = mysql && topology.mysql.primary === host.name;
        return {
          files: exporter.files,
          create: stepCommand(exporterScript(exporter, primary)),
          ...(secretFile && { stdin: secretFile.content }),
        };
      },
    });
  }
  return steps;
}

/** One exporter's part of a step: its package, files, the secret file from stdin, then a (re)start. */
function exporterScript(exporter: ExporterRender, mysqlPrimary = false): string {
  const secretFile = exporter.files.find((file) => file.secret);
  const stubStatus = exporter.files.find((file) => file.path.endsWith("/megaweb-stub-status.conf"));
  return renderTemplate("provision/exporter.sh", {
    package: exporter.package,
    files: putFiles(exporter.files.filter((file) => !file.secret)),
    secretFile: secretFile && { path: secretFile.path, mode: secretFile.mode ?? "0600", owner: secretFile.owner ?? "root:root" },
    mysqlAccount: mysqlPrimary && secretFile && { myCnf: secretFile.path, grants: mysqldExporterGrants().trimEnd() },
    stubStatus: stubStatus?.path ?? false,
  });
}

/** The receivers' credentials as placeholders, so no decrypted value reaches a rendered file. */
function receiverSecrets(monitoring: Monitoring): { monitoring: Monitoring; secrets: ClusterSecret[] } {
  const secrets: ClusterSecret[] = [];
  const hide = (secret: ClusterSecret) => {
    secrets.push(secret);
    return secretPlaceholder(secret);
  };
  const { email, webhooks } = monitoring.receivers;
  const receivers = {
    email: email?.password === undefined ? email : { ...email, password: hide({ kind: "alertReceiver", receiver: "email" }) },
    webhooks: webhooks.map((webhook, index) =>
      webhook.bearerToken === undefined ? webhook : { ...webhook, bearerToken: hide({ kind: "alertReceiver", receiver: index }) },
    ),
  };
  return { monitoring: { ...monitoring, receivers }, secrets };
}

function serverSteps({ stack, topology }: PlanContext, server: PlannedHost): CommandStep[] {
  const { monitoring, secrets } = receiverSecrets(stack.monitoring);
  const render = (at: DeployFacts) =>
    renderMonitoringServer(
      monitoring,
      { name: server.name, address: at.privateIp(server.name) },
      topology.hosts.map((host) => monitoredHost(stack, host, at)),
    );
  const secretFile = (at: DeployFacts, secret: ClusterSecret): HostFile =>
    render(at).files.find((file) => file.secret && file.content.includes(secretPlaceholder(secret)))!;
  const inputs = topology.hosts.flatMap((host) => [factsOf(host.name), privateIpOf(host.name)]);
  const secretSteps = secrets.map((secret): CommandStep => ({
    kind: "command",
    name: alertReceiverSecretStep(server.name, secret),
    owner: "provisioning",
    host: server.name,
    // The node exporter's package makes the prometheus group the file is readable by.
    dependsOn: [exportersStep(server.name)],
    inputs,
    reads: ["monitoring.receivers"],
    secrets: [secret],
    renderer: "alertmanager",
    render: (at) => {
      const file = secretFile(at, secret);
      return { files: [file], create: secretFileCommand(file), stdin: file.content };
    },
  }));
  const files = (at: DeployFacts) => render(at).files.filter((file) => !file.secret);
  const path = (at: DeployFacts, suffix: string) => files(at).find((file) => file.path.endsWith(suffix))!.path;
  return [
    ...secretSteps,
    {
      kind: "command",
      name: monitoringStep(server.name),
      owner: "provisioning",
      host: server.name,
      dependsOn: [exportersStep(server.name), ...secretSteps.map((step) => step.name)],
      inputs,
      reads: ["sites", "monitoring"],
      secrets: [],
      renderer: "prometheus, alertmanager",
      render: (at) => ({
        files: files(at),
        create: stepCommand(
          renderTemplate("provision/monitoring.sh", {
            files: putFiles(files(at)),
            prometheusConfig: path(at, "/prometheus.yml"),
            prometheusDefaults: path(at, "/default/prometheus"),
            alertmanagerConfig: path(at, "/alertmanager.yml"),
            alertmanagerDefaults: path(at, "/default/prometheus-alertmanager"),
          }),
        ),
      }),
    },
  ];
}
