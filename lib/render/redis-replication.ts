import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * Redis replication behind Sentinel: a primary, its replicas and (on hosts of their own) the
 * Sentinels that watch it and fail it over. Sentinel rewrites both the servers' redis.conf
 * (REPLICAOF, then CONFIG REWRITE, which also copies every included value into redis.conf) and its
 * own sentinel.conf, so these steps cooperate with it instead of owning those files:
 *
 * - a server's replication settings are an include for a fresh start and are applied to the running
 *   server and persisted with CONFIG SET + CONFIG REWRITE, so the copies Sentinel left hold today's
 *   values; whom it replicates from is asked of the Sentinels, never taken from the plan once a
 *   Sentinel names a primary;
 * - a Sentinel's file is written once, while it watches nothing; later changes go through
 *   SENTINEL SET, which Sentinel persists.
 */

export interface RedisNode {
  readonly host: string;
  /** @default 6379 for a server, 26379 for a Sentinel */
  readonly port?: number;
}

/** The settings the issue fixes (the MARG guide's Sentinel values) and the write bound. */
export const sentinelTuning = { downAfterMs: 5000, failoverTimeoutMs: 10_000, parallelSyncs: 1 } as const;
export const replicaBound = {
  /** A primary takes writes only while at least this many replicas are connected… */
  minReplicasToWrite: 1,
  /** …and acknowledged within this many seconds: the most a failover can lose, in seconds of writes. */
  minReplicasMaxLagSeconds: 10,
} as const;

const serverPort = 6379;
const sentinelPort = 26379;
const address = (node: RedisNode, port: number) => `${node.host}:${node.port ?? port}`;

export interface RedisReplicationInput {
  /** Every Redis server in the plan's order; the first is the primary a new cluster starts with. */
  readonly servers: readonly RedisNode[];
  /** This server's place in `servers`. */
  readonly index: number;
  readonly sentinels: readonly RedisNode[];
  /** The name the Sentinels (and the app) know the primary by. */
  readonly masterName: string;
  /** The cluster's Redis password (also masterauth), or its placeholder. */
  readonly password: string;
  /** The Sentinels' password, or its placeholder. */
  readonly sentinelPassword: string;
  /** Directory the file tree hangs from: empty on a host, a scratch directory in tests. @default "" */
  readonly root?: string;
}

export interface RedisReplicationRender {
  /** min-replicas, persistence, the announced address: no secret, so a preview shows a change. */
  readonly settings: HostFile;
  /** masterauth. */
  readonly secrets: HostFile;
  /** What the step reads on stdin: the secrets file, then the Sentinels' password. */
  readonly stdin: string;
  /** The step's script body, files written by `writeFiles`. */
  readonly step: (writeFiles: (files: readonly HostFile[]) => string) => string;
}

export function renderRedisReplication(input: RedisReplicationInput): RedisReplicationRender {
  const root = input.root ?? "";
  const self = input.servers[input.index];
  if (self === undefined) throw new Error(`server ${input.index} is not among the ${input.servers.length} Redis servers`);
  const settings: HostFile = {
    path: `${root}/etc/redis/megaweb.d/replication.conf`,
    content: renderTemplate("redis/megaweb.d/replication.conf", { ...replicaBound, announceIp: self.host }),
    mode: "0640",
    owner: "redis:redis",
  };
  const secrets: HostFile = {
    path: `${root}/etc/redis/megaweb.d/replication-secrets.conf`,
    content: renderTemplate("redis/megaweb.d/replication-secrets.conf", { password: input.password }),
    mode: "0640",
    owner: "redis:redis",
    secret: true,
  };
  return {
    settings,
    secrets,
    stdin: `${secrets.content}${input.sentinelPassword}\n`,
    step: (writeFiles) =>
      renderTemplate("provision/redis-replication.sh", {
        files: writeFiles([settings]),
        settingsFile: settings.path,
        secretsFile: secrets.path,
        redisConf: `${root}/etc/redis/redis.conf`,
        port: self.port ?? serverPort,
        self: address(self, serverPort),
        planPrimary: address(input.servers[0]!, serverPort),
        sentinels: input.sentinels.map((sentinel) => address(sentinel, sentinelPort)).join(" "),
        masterName: input.masterName,
      }),
  };
}

export interface SentinelInput {
  readonly sentinels: readonly RedisNode[];
  /** This Sentinel's place in `sentinels`. */
  readonly index: number;
  /** The Redis servers; the first is the primary a new cluster starts with. */
  readonly servers: readonly RedisNode[];
  readonly masterName: string;
  /** How many Sentinels must agree the primary is down before a failover is attempted. */
  readonly quorum: number;
  /** Loopback and the private address. */
  readonly bindAddresses: readonly string[];
  readonly password: string;
  readonly sentinelPassword: string;
  /** @default "" */
  readonly root?: string;
}

export interface SentinelRender {
  /** sentinel.conf as megaweb first writes it, passwords included: the step's stdin. */
  readonly seed: HostFile;
  readonly step: string;
}

export function renderSentinel(input: SentinelInput): SentinelRender {
  const root = input.root ?? "";
  const self = input.sentinels[input.index];
  if (self === undefined) throw new Error(`Sentinel ${input.index} is not among the ${input.sentinels.length} Sentinels`);
  const primary = input.servers[0]!;
  const tuning = { quorum: input.quorum, ...sentinelTuning };
  const configFile = `${root}/etc/redis/sentinel.conf`;
  const seed: HostFile = {
    path: configFile,
    content: renderTemplate("redis/sentinel.conf", {
      ...tuning,
      port: self.port ?? sentinelPort,
      bindAddresses: input.bindAddresses.join(" "),
      dir: `${root}/var/lib/redis`,
      pidFile: `${root}/run/sentinel/redis-sentinel.pid`,
      logFile: `${root}/var/log/redis/redis-sentinel.log`,
      announceIp: self.host,
      masterName: input.masterName,
      primaryHost: primary.host,
      primaryPort: primary.port ?? serverPort,
      sentinelPassword: input.sentinelPassword,
      redisPassword: input.password,
    }),
    mode: "0640",
    owner: "redis:redis",
    secret: true,
  };
  const settings = [
    `quorum ${tuning.quorum}`,
    `down-after-milliseconds ${tuning.downAfterMs}`,
    `failover-timeout ${tuning.failoverTimeoutMs}`,
    `parallel-syncs ${tuning.parallelSyncs}`,
  ];
  return {
    seed,
    step: renderTemplate("provision/sentinel.sh", {
      configFile,
      masterName: input.masterName,
      port: self.port ?? sentinelPort,
      peers: input.sentinels
        .filter((_, index) => index !== input.index)
        .map((sentinel) => address(sentinel, sentinelPort))
        .join(" "),
      primaryHost: primary.host,
      primaryPort: primary.port ?? serverPort,
      announceIp: self.host,
      settings: settings.join("\n"),
    }),
  };
}
