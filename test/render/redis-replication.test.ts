import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { putFiles } from "../../lib/steps/script";
import { renderRedisReplication, renderSentinel } from "../../lib/render/redis-replication";
import { renderTemplate } from "../../lib/render/template";

const servers = [{ host: "10.20.0.11" }, { host: "10.20.0.12" }, { host: "10.20.0.13" }];
const sentinels = [{ host: "10.20.0.21" }, { host: "10.20.0.22" }, { host: "10.20.0.23" }];
const password = "redis-password-value-0123456789a";
const sentinelPassword = "sentinel-password-value-01234567";
const common = { servers, sentinels, masterName: "megaweb", password, sentinelPassword };

const shellcheck = (body: string) =>
  spawnSync("shellcheck", ["-e", "SC2034,SC1091,SC2119,SC2120", "-s", "bash", "-"], {
    input: `#!/bin/bash\n${renderTemplate("provision/lib.sh", {})}\n${body}`,
    encoding: "utf8",
  }).stdout;

describe("Redis replication files", () => {
  it("bound writes by replica acknowledgement, persist with AOF, and announce the private address", () => {
    const { settings } = renderRedisReplication({ ...common, index: 1 });
    expect(settings.content).toMatch(/^min-replicas-to-write 1$/m);
    expect(settings.content).toMatch(/^min-replicas-max-lag 10$/m);
    expect(settings.content).toMatch(/^appendonly yes$/m);
    expect(settings.content).toMatch(/^replica-announce-ip 10\.20\.0\.12$/m);
    // Whom a server follows is Sentinel's to write, never the plan's.
    expect(settings.content).not.toMatch(/^replicaof/m);
  });

  it("hand the passwords to the step on stdin only", () => {
    const render = renderRedisReplication({ ...common, index: 2 });
    expect(render.secrets).toMatchObject({ content: `masterauth ${password}\n`, mode: "0640", owner: "redis:redis", secret: true });
    expect(render.stdin).toBe(`masterauth ${password}\n${sentinelPassword}\n`);
    const step = render.step(putFiles);
    expect(step).not.toContain(password);
    expect(step).not.toContain(sentinelPassword);
    expect(shellcheck(step)).toBe("");
  });
});

describe("Sentinel files", () => {
  const render = renderSentinel({ ...common, index: 0, quorum: 2, bindAddresses: ["127.0.0.1", "10.20.0.21"] });

  it("watch the plan's first server with the guide's settings", () => {
    expect(render.seed.content).toContain("sentinel monitor megaweb 10.20.0.11 6379 2\n");
    expect(render.seed.content).toContain("sentinel down-after-milliseconds megaweb 5000\n");
    expect(render.seed.content).toContain("sentinel failover-timeout megaweb 10000\n");
    expect(render.seed.content).toContain("sentinel parallel-syncs megaweb 1\n");
    expect(render.seed.content).toContain("bind 127.0.0.1 10.20.0.21\n");
    expect(render.seed.content).toContain("sentinel announce-ip 10.20.0.21\n");
  });

  it("require a password of clients and of each other, and know the servers' password", () => {
    expect(render.seed).toMatchObject({ path: "/etc/redis/sentinel.conf", secret: true, mode: "0640" });
    expect(render.seed.content).toContain(`requirepass ${sentinelPassword}\n`);
    expect(render.seed.content).toContain(`sentinel sentinel-pass ${sentinelPassword}\n`);
    expect(render.seed.content).toContain(`sentinel auth-pass megaweb ${password}\n`);
    expect(render.step).not.toContain(password);
    expect(render.step).not.toContain(sentinelPassword);
  });

  it("ask the other Sentinels before the plan, and pass shellcheck", () => {
    expect(render.step).toContain("for peer in 10.20.0.22:26379 10.20.0.23:26379; do");
    expect(shellcheck(render.step)).toBe("");
  });
});
