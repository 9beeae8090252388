import { dirname } from "node:path";
import { addressFrom, appUnitsOf, type ClusterSecret, dataClients, localSockets, loopback, secretPlaceholder, servesOtherHosts } from "../plan/cluster";
import { privatePorts } from "../plan/firewall";
import type { PlannedHost, TopologyPlan } from "../plan/topology";
import { onlineSizing, renderMariaDb, sizeMariaDb, slowQueryLog } from "../render/mariadb";
import { renderMysqlReplication, renderMysqlReplicationStep } from "../render/mariadb-replication";
import { appDatabasePoolSize } from "../render/orchestrator";
import { phpBudget, sizePools } from "../render/pool-sizing";
import { renderTemplate } from "../render/template";
import { siteSlug } from "../schema/site";
import type { Stack } from "../schema/stack";
import { firewallStep } from "./host";
import type { StepPlanner } from "./plan";
import { putFiles, stepCommand } from "./script";
import type { ServerFacts } from "./facts";
import { type CommandStep, type DeployFacts, factsOf, privateIpOf, type StepOwner } from "./step";

/** MariaDB on every MySQL host, and on the primary a database and user per site that asks for one. */

export const mysqlStep = (host: string) => `${host}-mysql`;
export const siteDatabaseStep = (host: string, domain: string) => `${host}-db-${siteSlug(domain)}`;

/**
 * The MySQL hosts in the plan's order, the cluster's first primary first, whichever is the primary
 * now (`mysqlPrimary`): the replication files list the servers in this order and never change with
 * a promotion, and the database steps keep this first host's name while they run on the current
 * primary, so naming a new primary updates them instead of deleting them (a delete would drop the
 * database on the old primary, now a replica, and fork its history).
 */
export const mysqlServers = (topology: TopologyPlan) => topology.hosts.filter((host) => host.roles.includes("mysql")).map((host) => host.name);
export const databaseStepsNamedFor = (topology: TopologyPlan) => mysqlServers(topology)[0]!;
export const mysqlReplicationStep = (host: string) => `${host}-mysql-replication`;

const replicationPassword: ClusterSecret = { kind: "mysqlReplication" };

export const mysqlSteps: StepPlanner = ({ stack, topology }) => {
  const servers = topology.hosts.filter((host) => host.roles.includes("mysql"));
  const webHosts = topology.hosts.filter((host) => host.roles.includes("web"));
  const serverSteps = servers.map((host): CommandStep => {
    const listensPrivately = servesOtherHosts(topology, host, "mysql", privatePorts.mysql);
    return {
      kind: "command",
      name: mysqlStep(host.name),
      owner: "provisioning",
      host: host.name,
      dependsOn: [firewallStep(host.name)],
      // The web hosts' memory sizes their PHP pools, whose workers are MariaDB's clients.
      inputs: [...new Set([host, ...webHosts].map((each) => each.name))].map(factsOf).concat(listensPrivately ? [privateIpOf(host.name)] : []),
      reads: ["sites", "app", "nodes"],
      secrets: [],
      renderer: "mariadb",
      render: (at) => {
        const sizing = sizeMariaDb({
          hostMemoryMb: at.facts(host.name).memoryMb,
          dedicated: host.roles.every((role) => role === "mysql"),
          clientConnections: mysqlClientConnections(stack, topology, at),
        });
        const files = renderMariaDb(listensPrivately ? at.privateIp(host.name) : loopback, sizing);
        const body = renderTemplate("provision/mysql.sh", {
          files: putFiles([files.server, files.sizing]),
          serverConfig: files.server.path,
          sizingConfig: files.sizing.path,
          onlineSizing: onlineSizing(sizing).join("\n"),
          logDirectory: dirname(slowQueryLog),
        });
        return { files: [files.server, files.sizing], create: stepCommand(body) };
      },
    };
  });
  const databaseSteps = stack.sites.flatMap((site, index) =>
    site.database === undefined
      ? []
      : [
          databaseUserStep(topology, {
            name: siteDatabaseStep(databaseStepsNamedFor(topology), site.domain),
            owner: "provisioning",
            domain: site.domain,
            database: site.database,
            reads: [`sites[${index}].database`],
          }),
        ],
  );
  return [...serverSteps, ...replicationSteps(topology), ...databaseSteps];
};

/**
 * GTID replication on every MySQL host once all of them run MariaDB (the first primary's `setup`
 * refuses to start a cluster while a peer does not answer), the primary first. The files never
 * name who is writable, so the step can run again after a promotion and change nothing.
 */
function replicationSteps(topology: TopologyPlan): CommandStep[] {
  const servers = mysqlServers(topology);
  if (servers.length < 2) return [];
  const primaryStep = mysqlReplicationStep(servers[0]!);
  return servers.map((host, index): CommandStep => ({
    kind: "command",
    name: mysqlReplicationStep(host),
    owner: "provisioning",
    host,
    dependsOn: [...servers.map(mysqlStep), ...(index === 0 ? [] : [primaryStep])],
    inputs: servers.map(privateIpOf),
    reads: [],
    secrets: [replicationPassword],
    renderer: "mariadb-replication",
    render: (at) => {
      const files = renderMysqlReplication({
        servers: servers.map((server) => ({ host: at.privateIp(server) })),
        index,
        password: secretPlaceholder(replicationPassword),
      });
      return {
        files: Object.values(files),
        create: stepCommand(renderMysqlReplicationStep(files, putFiles)),
        stdin: files.credentials.content,
      };
    },
  }));
}

/** What a database user step waits for: MariaDB on the primary, and replication, so the user reaches every replica through the binary log. */
function databaseDependencies(topology: TopologyPlan): string[] {
  const servers = mysqlServers(topology);
  return [mysqlStep(topology.mysql.primary), ...(servers.length < 2 ? [] : servers.map(mysqlReplicationStep))];
}

export interface DatabaseUser {
  readonly name: string;
  readonly owner: StepOwner;
  /** Whose database it is: a site's domain, or the app's; it names the password's secret. */
  readonly domain: string;
  readonly database: { readonly name: string; readonly user: string; readonly charset: string };
  readonly reads: readonly string[];
  /**
   * Whether the user may read the replicas' state (MariaDB's SLAVE MONITOR, for SHOW REPLICA
   * STATUS): the app's health reports each replica's lag. Granted only where there are replicas.
   * @default false
   */
  readonly monitorsReplicas?: boolean;
}

/**
 * A database and its user on the MySQL primary, granted to every host that runs the sites' PHP or
 * the app, at the address MariaDB sees each of them connect from. The password arrives on stdin.
 */
export function databaseUserStep(topology: TopologyPlan, user: DatabaseUser): CommandStep {
  const primary = topology.mysql.primary;
  const clients = dataClients(topology);
  const secret: ClusterSecret = { kind: "database", domain: user.domain };
  return {
    kind: "command",
    name: user.name,
    owner: user.owner,
    host: primary,
    undoable: true,
    dependsOn: databaseDependencies(topology),
    inputs: clients.filter((client) => client.name !== primary).map((client) => privateIpOf(client.name)),
    reads: user.reads,
    secrets: [secret],
    render: (at) => {
      const addresses = [
        ...new Set(
          clients.flatMap((client) => [
            addressFrom(primary, client.name, (host) => at.privateIp(host)),
            // A client on the primary's own host may also come through the socket, MariaDB's `localhost`.
            ...(client.name === primary ? [localSockets.mysqlClient] : []),
          ]),
        ),
      ].sort();
      const view = {
        domain: user.domain,
        database: user.database.name,
        user: user.database.user,
        charset: user.database.charset,
        clients: addresses,
        clientList: addresses.join(" "),
        replicaMonitors: user.monitorsReplicas && topology.mysql.replicas.length > 0 ? addresses : [],
      };
      return {
        files: [],
        create: stepCommand(renderTemplate("provision/database.sh", view)),
        delete: stepCommand(renderTemplate("provision/database-delete.sh", view)),
        stdin: `${secretPlaceholder(secret)}\n`,
      };
    },
  };
}

/**
 * The connections a MySQL server's clients may hold at once: a PHP worker of every site with a
 * database on every web host (pools sized from that host's memory), the app's pool in each of its
 * processes, and one per replica replicating from it.
 */
export function mysqlClientConnections(stack: Stack, topology: TopologyPlan, at: DeployFacts): number {
  const web = topology.hosts.filter((host) => host.roles.includes("web"));
  const phpWorkers = web.reduce((sum, host) => sum + databasePoolWorkers(stack, host, at.facts(host.name)), 0);
  const appProcesses = stack.app?.enabled ? topology.hosts.reduce((sum, host) => sum + appUnitsOf(host).length, 0) : 0;
  return phpWorkers + appProcesses * appDatabasePoolSize + topology.mysql.replicas.length;
}

function databasePoolWorkers(stack: Stack, host: PlannedHost, facts: ServerFacts): number {
  const { pools } = sizePools(stack.sites, phpBudget(facts, host.roles, stack.sites, host.name));
  return stack.sites.reduce((sum, site, index) => sum + (site.database === undefined ? 0 : (pools[index]?.maxChildren ?? 0)), 0);
}
