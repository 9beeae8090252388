import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderRedisProxy } from "../../lib/render/redis-proxy";
import { renderTemplate } from "../../lib/render/template";
import { putFiles } from "../../lib/steps/script";

const servers = [
  { name: "redis-1", host: "10.20.0.11", port: 6379 },
  { name: "redis-2", host: "10.20.0.12", port: 6379 },
  { name: "redis-3", host: "10.20.0.13", port: 6379 },
];
const password = "redis-password-value-0123456789a";
const render = renderRedisProxy({ servers, password });

describe("the Redis proxy's files", () => {
  it("listen on loopback and send clients to the server that is the primary with a replica, checked every second", () => {
    expect(render.config.path).toBe("/etc/megaweb/redis-proxy.cfg");
    expect(render.config.content).toContain("    bind 127.0.0.1:6380\n");
    expect(render.config.content).toContain('    tcp-check send "AUTH ${MEGAWEB_REDIS_PASSWORD}\\r\\n"\n');
    expect(render.config.content).toContain('    tcp-check expect rstring "role:master\\r\\nconnected_slaves:[1-9]"\n');
    expect(render.config.content).toContain("    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions\n");
    expect(render.config.content).toMatch(
      / {4}server redis-1 10\.20\.0\.11:6379 check\n {4}server redis-2 10\.20\.0\.12:6379 check\n {4}server redis-3 10\.20\.0\.13:6379 check\n$/,
    );
    expect(render.unit.content).toContain(
      "ExecStart=/usr/sbin/haproxy -Ws -f /etc/megaweb/redis-proxy-password.cfg -f /etc/megaweb/redis-proxy.cfg -p /run/megaweb-redis-proxy.pid\n",
    );
  });

  it("keep the password in a root-only file the step reads from stdin, out of the config, the unit and the script", () => {
    expect(render.password).toEqual({
      path: "/etc/megaweb/redis-proxy-password.cfg",
      content: expect.stringContaining(`global\n    setenv MEGAWEB_REDIS_PASSWORD ${password}\n`),
      mode: "0600",
      owner: "root:root",
      secret: true,
    });
    const step = render.step(putFiles);
    for (const text of [render.config.content, render.unit.content, step]) expect(text).not.toContain(password);
    const lint = spawnSync("shellcheck", ["-e", "SC2034,SC1091,SC2119,SC2120", "-s", "bash", "-"], {
      input: `#!/bin/bash\n${renderTemplate("provision/lib.sh", {})}\n${step}`,
      encoding: "utf8",
    });
    expect(lint.stdout).toBe("");
  });

  it("pass HAProxy's own config check, the password file loaded first", () => {
    const root = mkdtempSync(join(tmpdir(), "megaweb-redis-proxy-"));
    try {
      const local = renderRedisProxy({ servers, password, root });
      mkdirSync(dirname(local.config.path), { recursive: true });
      for (const file of [local.password, local.config]) writeFileSync(file.path, file.content);
      const check = spawnSync("haproxy", ["-c", "-f", local.password.path, "-f", local.config.path], { encoding: "utf8" });
      expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
