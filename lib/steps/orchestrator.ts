import type { Artifact } from "../plan/artifact";
import { addressFrom, appUnitsOf, type ClusterSecret, secretPlaceholder } from "../plan/cluster";
import type { PlannedHost, TopologyPlan } from "../plan/topology";
import { type OrchestratorUnit, orchestratorLayout, orchestratorUnits, renderOrchestratorEnvironment, renderOrchestratorUnits } from "../render/orchestrator";
import { renderTemplate } from "../render/template";
import type { App } from "../schema/app";
import { appCheck } from "../render/balanced-web";
import { drainScript } from "../render/balancer-agent";
import { lastSiteDeployStep } from "./deploy";
import { baseStep, firewallStep } from "./host";
import { databaseMoveHost, databaseMoveStep, redisMoveOf } from "./data-move";
import { databaseStepsNamedFor, databaseUserStep } from "./mysql";
import type { StepPlanner } from "./plan";
import { redisStep } from "./redis";
import { putFiles, stepCommand } from "./script";
import { type CommandStep, type PlannedStep, privateIpOf, type UploadStep } from "./step";
import { siteStep } from "./web";

/**
 * The MegaWeb Orchestrator on the phase's web and worker hosts: the artifact uploaded to each,
 * its environment file written by a secret-only step, its units installed from that release, and
 * its database on the MySQL primary. A host's units restart only when its release or its
 * environment changed.
 */

export const appDatabaseStep = (host: string) => `${host}-database`;
export const artifactStep = (host: string) => `${host}-artifact`;
export const appEnvironmentStep = (host: string) => `${host}-environment`;
export const installStep = (host: string) => `${host}-install`;
export const appDatabaseMoveStep = (host: string) => `${host}-database-move`;

/** Where the host's copy of the artifact is uploaded. */
export function uploadPath(artifact: Artifact): string {
  return `${orchestratorLayout.uploadDir}/megaweb-orchestrator-${artifact.release}.tgz`;
}

/** Stands in for an artifact not built yet (`megaweb plan` and `render` in a fresh checkout): the files show where the release goes. */
export function unbuiltArtifact(path: string): Artifact {
  return { path, version: "<version>", sha256: "<sha256>", release: "<release>" };
}

const partials = { units: "app/units.sh" };

function scriptView(units: readonly OrchestratorUnit[], port: number, artifact?: Artifact) {
  return {
    ...orchestratorLayout,
    drainScript,
    appCheck: appCheck.path,
    units: units.join(" "),
    otherUnits: orchestratorUnits.filter((unit) => !units.includes(unit)).join(" "),
    port,
    uploadPattern: "megaweb-orchestrator-*.tgz",
    ...(artifact && { version: artifact.version, sha256: artifact.sha256, release: artifact.release, upload: uploadPath(artifact) }),
  };
}

export const orchestratorSteps: StepPlanner = (context) => {
  const { stack, topology, artifact } = context;
  const app = stack.app;
  if (!app?.enabled || artifact === undefined) return [];
  const database = databaseUserStep(topology, {
    name: appDatabaseStep(databaseStepsNamedFor(topology)),
    owner: "orchestrator",
    domain: app.domain,
    database: { ...app.database, charset: "utf8mb4" },
    reads: ["app.database"],
    monitorsReplicas: true,
  });
  // Growing out of the single box, the app's data follows its database to the new primary before any
  // host's environment names it there.
  const moveHost = databaseMoveHost(topology);
  const move =
    moveHost !== undefined && appUnitsOf(moveHost).length > 0
      ? [
          databaseMoveStep(topology, {
            name: appDatabaseMoveStep(moveHost.name),
            owner: "orchestrator",
            host: moveHost,
            dependsOn: [baseStep(moveHost.name), database.name],
            inputs: [],
            reads: ["app.database"],
            domain: app.domain,
            database: app.database,
            envFile: () => orchestratorLayout.environmentFile,
            hostVariable: "MEGAWEB_DB_URL",
          }),
        ]
      : [];
  // Host after host, after every site's deploy: a node drained for its app restart is the only one
  // out of the balancers' rotation.
  let previousInstall = lastSiteDeployStep(context);
  const hostSteps = topology.hosts
    .filter((host) => appUnitsOf(host).length > 0)
    .flatMap((host): PlannedStep[] => {
      const units = appUnitsOf(host);
      const upload: UploadStep = {
        kind: "upload",
        name: artifactStep(host.name),
        owner: "orchestrator",
        host: host.name,
        dependsOn: [baseStep(host.name)],
        inputs: [],
        reads: ["app.artifact"],
        secrets: [],
        source: artifact.path,
        remotePath: uploadPath(artifact),
      };
      const environment = environmentStep(
        topology,
        app,
        host,
        units,
        move.map((step) => step.name),
      );
      const install: CommandStep = {
        kind: "command",
        name: installStep(host.name),
        owner: "orchestrator",
        host: host.name,
        undoable: true,
        dependsOn: [
          upload.name,
          environment.name,
          database.name,
          redisStep(topology.redis.primary),
          firewallStep(host.name),
          ...(host.roles.includes("web") ? [siteStep(host.name, app.domain)] : []),
          ...(previousInstall ? [previousInstall] : []),
        ],
        inputs: [],
        reads: ["app.artifact", "app.port"],
        secrets: [],
        renderer: "orchestrator",
        render: () => {
          const files = renderOrchestratorUnits(units, artifact);
          return {
            files,
            create: stepCommand(renderTemplate("app/install.sh", { ...scriptView(units, app.port, artifact), unitFiles: putFiles(files) }, partials)),
            delete: stepCommand(renderTemplate("app/uninstall.sh", scriptView(units, 0))),
          };
        },
      };
      previousInstall = install.name;
      return [upload, environment, install];
    });
  return [database, ...move, ...hostSteps];
};

/** The host's environment file, with every address as this host reaches it; written from stdin. */
function environmentStep(topology: TopologyPlan, app: App, host: PlannedHost, units: readonly OrchestratorUnit[], after: readonly string[]): CommandStep {
  const redis = topology.redis.sentinels.length > 0 ? topology.redis.sentinels : [topology.redis.primary];
  const servers = [topology.mysql.primary, ...topology.mysql.replicas, ...redis];
  const sentinelPassword: ClusterSecret = { kind: "sentinel" };
  const secrets: ClusterSecret[] = [
    { kind: "apiToken" },
    { kind: "database", domain: app.domain },
    { kind: "redis" },
    ...(topology.redis.sentinels.length > 0 ? [sentinelPassword] : []),
  ];
  return {
    kind: "command",
    name: appEnvironmentStep(host.name),
    owner: "orchestrator",
    host: host.name,
    undoable: true,
    dependsOn: [baseStep(host.name), ...after, ...redisMoveOf(topology)],
    inputs: [...new Set(servers)].filter((server) => server !== host.name).map(privateIpOf),
    reads: ["app"],
    secrets,
    renderer: "orchestrator",
    render: (at) => {
      const reach = (server: string) => addressFrom(host.name, server, (other) => at.privateIp(other));
      const redisPassword = secretPlaceholder({ kind: "redis" });
      const file = renderOrchestratorEnvironment({
        app,
        apiToken: secretPlaceholder({ kind: "apiToken" }),
        database: {
          name: app.database.name,
          user: app.database.user,
          password: secretPlaceholder({ kind: "database", domain: app.domain }),
          primary: reach(topology.mysql.primary),
          replicas: topology.mysql.replicas.map(reach),
        },
        redis:
          topology.redis.sentinels.length > 0
            ? { password: redisPassword, sentinels: topology.redis.sentinels.map(reach), sentinelPassword: secretPlaceholder(sentinelPassword) }
            : { password: redisPassword, address: reach(topology.redis.primary) },
      });
      return {
        files: [file],
        create: stepCommand(
          renderTemplate(
            "app/environment.sh",
            { ...scriptView(units, app.port), path: file.path, mode: file.mode, owner: file.owner ?? "root:root" },
            partials,
          ),
        ),
        delete: stepCommand(renderTemplate("app/environment-delete.sh", { path: file.path })),
        stdin: file.content,
      };
    },
  };
}
