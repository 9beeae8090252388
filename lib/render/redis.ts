import { localSockets } from "../plan/cluster";
import type { HostFile } from "./files";
import { sharedServiceMb } from "./pool-sizing";
import { renderTemplate } from "./template";

/**
 * Redis's settings, included last by Debian's redis.conf: where it listens, how much memory it may
 * take, and its password in a file of its own (the one secret file, written from stdin). They sit in
 * /etc/redis/megaweb.d/ rather than beside redis.conf: Lynis grades every /etc/redis/*.conf that
 * mentions Redis as if it were the whole configuration, and would mark a settings file down for
 * lacking the password kept in the secret one.
 */

export interface RedisInput {
  /** Loopback, plus the private address when other hosts use it. */
  readonly bindAddresses: readonly string[];
  readonly hostMemoryMb: number;
  /** No PHP or MySQL on the host: Redis may take most of it; sharing, it keeps to its share. */
  readonly dedicated: boolean;
  /** What the password file holds: the password, or its placeholder. */
  readonly password: string;
}

export interface RedisFiles {
  readonly settings: HostFile;
  readonly password: HostFile;
}

export function renderRedis(input: RedisInput): RedisFiles {
  const maxMemoryMb = input.dedicated ? Math.round(input.hostMemoryMb * 0.75) : sharedServiceMb("redis", input.hostMemoryMb);
  return {
    settings: {
      path: "/etc/redis/megaweb.d/settings.conf",
      content: renderTemplate("redis/megaweb.d/settings.conf", { bindAddresses: input.bindAddresses.join(" "), maxMemoryMb, socket: localSockets.redis }),
      mode: "0640",
      owner: "redis:redis",
    },
    password: {
      path: "/etc/redis/megaweb.d/secrets.conf",
      content: renderTemplate("redis/megaweb.d/secrets.conf", { password: input.password }),
      mode: "0640",
      owner: "redis:redis",
      secret: true,
    },
  };
}
