import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalStack, type Machine } from "./local-stack";

/**
 * The four-server phase on four existing hosts (local machines), through the real engine: the web
 * host's PHP reaches MySQL and Redis on their own hosts, whose firewalls admit only their clients.
 */

const roles = ["web", "redis", "mysql", "worker"] as const;
const local = new LocalStack("four", "four", join(__dirname, "fixtures", "Pulumi.four-server.yaml"), roles);
const machines = {} as Record<(typeof roles)[number], Machine>;
const user = "shop_megaweb_test";

/** Whether `from` gets a TCP connection to `to`'s port within two seconds. */
function reaches(from: Machine, to: Machine, port: number): boolean {
  return from.ssh(`timeout 2 bash -c '</dev/tcp/${to.address}/${port}' 2>/dev/null && echo open || echo shut`).trim() === "open";
}

describe.sequential("the four-server phase on existing hosts, with the real engine", () => {
  beforeAll(() => {
    if (process.platform !== "linux" || process.getuid?.() !== 0)
      throw new Error("the end-to-end test needs Linux and root (it boots systemd-nspawn machines)");
    local.destroy();
    local.prepare();
    local.pulumiOk(["up", "--yes", "--skip-preview"], 1200);
    roles.forEach((role, index) => (machines[role] = local.machine(index)));
    machines.web.ssh(`install -m 0640 -o ${user} -g www-data /dev/stdin /var/www/${user}/public/probe.php`, readFileSync(join(__dirname, "probe.php"), "utf8"));
  }, 1_500_000);

  afterAll(() => {
    local.destroyOk();
  }, 300_000);

  it("serves the site from the web host, with MySQL and Redis on their own hosts", async () => {
    const response = await machines.web.get("shop.megaweb.test", "/probe.php");
    expect(JSON.parse(response.body)).toMatchObject({ user, mysql: "written by PHP", redis: "written by PHP" });
    const environment = machines.web.ssh(`grep _HOST= /var/www/${user}/.env`);
    expect(environment).toContain(`DB_HOST=${machines.mysql.address}`);
    expect(environment).toContain(`REDIS_HOST=${machines.redis.address}`);
  });

  it("lets only MySQL's and Redis's clients reach them", () => {
    expect(reaches(machines.web, machines.mysql, 3306)).toBe(true);
    expect(reaches(machines.worker, machines.mysql, 3306)).toBe(true);
    expect(reaches(machines.redis, machines.mysql, 3306)).toBe(false);
    expect(reaches(machines.web, machines.redis, 6379)).toBe(true);
    expect(reaches(machines.mysql, machines.redis, 6379)).toBe(false);
  });

  it("answers from outside the cluster only on SSH, and on HTTP at the web host", async () => {
    expect(await machines.web.answers(80)).toBe(true);
    expect(await machines.mysql.answers(3306)).toBe(false);
    expect(await machines.redis.answers(6379)).toBe(false);
    for (const machine of Object.values(machines)) expect(await machine.answers(22)).toBe(true);
  });

  it("reports no changes on a second preview", () => {
    local.pulumiOk(["preview", "--expect-no-changes"]);
  }, 300_000);
});
