import type { HostFile } from "./files";
import { hostPort, type ResolvedHost } from "./scrape-targets";
import { renderTemplate } from "./template";

/** The Redis and Sentinel servers a host's exporter reads, as Prometheus names them in `/scrape?target=`. */
export function redisTargets(host: Pick<ResolvedHost, "roles" | "endpoints">): { redis?: string; sentinel?: string } {
  return {
    ...(host.roles.includes("redis") && { redis: host.endpoints.redis }),
    ...(host.roles.includes("sentinel") && { sentinel: host.endpoints.sentinel }),
  };
}

/**
 * One redis_exporter per host for Redis and Sentinel. Passwords sit in a JSON file keyed by
 * target (redis_exporter's `--redis.password-file`), readable by the exporter's group only; it is
 * left out when the password is not at hand (the CLI never decrypts).
 */
export function renderRedisExporter(host: ResolvedHost, passwords: { redis?: string; sentinel?: string }): HostFile[] {
  const targets = redisTargets(host);
  // Redis always has a password (provisioning sets one); a Sentinel only when it is given one.
  const takesPasswords = targets.redis !== undefined || passwords.sentinel !== undefined;
  const passwordFile = host.path("/etc/prometheus/redis-exporter-passwords.json");
  const known = Object.entries(targets).flatMap(([kind, target]) => {
    const password = passwords[kind as keyof typeof passwords];
    return password === undefined ? [] : [[target, password] as const];
  });
  const files: HostFile[] = [
    {
      path: host.path("/etc/default/prometheus-redis-exporter"),
      content: renderTemplate("redis-exporter/prometheus-redis-exporter.default", {
        host: host.name,
        listen: hostPort(host.address, host.ports.redis),
        defaultTarget: targets.redis ?? targets.sentinel,
        passwordFile: takesPasswords && passwordFile,
      }),
    },
  ];
  if (known.length > 0) {
    files.push({ path: passwordFile, content: `${JSON.stringify(Object.fromEntries(known))}\n`, mode: "0640", owner: "root:prometheus", secret: true });
  }
  return files;
}
