import { loopback } from "../plan/cluster";
import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * A local TCP proxy to the current Redis primary on every host whose PHP talks to Redis behind
 * Sentinels. phpredis's session handler and a site's `.env` name one address and cannot ask the
 * Sentinels, so they name this one; HAProxy checks each server (`AUTH`, then `INFO replication`)
 * every second and forwards only to the one that is the primary with a replica attached.
 */

/** Where clients on the host reach the proxy: loopback only, beside (not on) Redis's own port. */
export const redisProxyAddress = { host: loopback, port: 6380 } as const;

export interface RedisProxyInput {
  /** The Redis servers by their plan names, as this host reaches them. */
  readonly servers: readonly { readonly name: string; readonly host: string; readonly port: number }[];
  /** Redis's password, or its placeholder (`secretPlaceholder`). */
  readonly password: string;
  /** @default redisProxyAddress */
  readonly listen?: { readonly host: string; readonly port: number };
  /** @default "" */
  readonly root?: string;
}

export interface RedisProxyRender {
  readonly config: HostFile;
  /** Root only: the password the check authenticates with, loaded before `config`. */
  readonly password: HostFile;
  readonly unit: HostFile;
  /** The step's script body, the password file from stdin and the others written by `writeFiles`. */
  readonly step: (writeFiles: (files: readonly HostFile[]) => string) => string;
}

export function renderRedisProxy(input: RedisProxyInput): RedisProxyRender {
  const root = input.root ?? "";
  const listen = input.listen ?? redisProxyAddress;
  const password: HostFile = {
    path: `${root}/etc/megaweb/redis-proxy-password.cfg`,
    content: renderTemplate("redis-proxy/redis-proxy-password.cfg", { password: input.password }),
    mode: "0600",
    owner: "root:root",
    secret: true,
  };
  const config: HostFile = {
    path: `${root}/etc/megaweb/redis-proxy.cfg`,
    content: renderTemplate("redis-proxy/redis-proxy.cfg", {
      passwordFile: password.path,
      // Every PHP-FPM and queue worker of every site on the host, with room to spare.
      maxconn: 4096,
      listen: `${listen.host}:${listen.port}`,
      servers: input.servers.map((server) => ({ name: server.name, address: server.host, port: server.port })),
    }),
  };
  const unit: HostFile = {
    path: `${root}/etc/systemd/system/megaweb-redis-proxy.service`,
    content: renderTemplate("redis-proxy/megaweb-redis-proxy.service", { passwordFile: password.path, config: config.path }),
  };
  const step = (writeFiles: (files: readonly HostFile[]) => string) =>
    renderTemplate("provision/redis-proxy.sh", {
      passwordFile: password.path,
      files: writeFiles([config, unit]),
      config: config.path,
      unit: unit.path,
      listen: `${listen.host}:${listen.port}`,
    });
  return { config, password, unit, step };
}
