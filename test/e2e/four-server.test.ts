import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startLoad, summarize } from "../faults/measure";
import { type AcmeMachine, httpsGet, startAcmeMachine } from "./acme-machine";
import { LocalStack, type Machine, probePage, repo, Timings } from "./local-stack";

/**
 * The four-server phase on four existing hosts (local machines), through the real engine, grown
 * from the single box it starts as: one `pulumi up` of the phase change moves the site's database to
 * the MySQL host under a write load (lib/render/DEPLOY.md, "Growth that keeps the data"), then the
 * web host's PHP reaches MySQL and Redis on their own hosts, whose firewalls admit only their clients.
 * A second `up` with `forgetMovedData` then drops the copies the growth left on the box, and a third
 * grows on to horizontal: a load balancer and a second web node in front of the same MySQL and Redis.
 *
 * A Let's Encrypt site comes along, from a test ACME server (Pebble) on a seventh machine outside
 * the stack: issued on the four-server web host, then, once that host is the first of two web nodes,
 * it issues for both: the new node gets the certificate pushed, a new site's challenge is answered
 * whichever node the balancer sends the ACME server to, and a renewal reaches both without `up`.
 */

const roles = ["web", "redis", "mysql", "worker"] as const;
/** Only the box is in the stack at first; the other machines join as it grows (the last two at horizontal). */
const local = new LocalStack("four", "four", join(__dirname, "fixtures", "Pulumi.four-server.yaml"), ["web", ...Array<"none">(6).fill("none")]);
const machines = {} as Record<(typeof roles)[number] | "balancer" | "secondWeb", Machine>;
const user = "shop_megaweb_test";
const shop = "shop.megaweb.test";
const timings = new Timings("e2e-four-server-timings.json");
const secure = "secure.megaweb.test";
const later = "later.megaweb.test";
// certbot renews what has less than 30 days left: an hour's certificate is due at once, so the renewal below is real.
const certificateValiditySeconds = 3600;
let acme: AcmeMachine;
let issued: string;

/**
 * The serial of the certificate `machine`'s nginx serves for `domain`, asked on the machine itself;
 * behind the balancer with the PROXY header the balancer opens each connection with. Once nginx's
 * reload has settled: old workers serve the previous certificate until their connections close.
 */
const servedSerial = (machine: Machine, domain: string, proxied: boolean, expected?: string) =>
  eventually(
    `${domain}'s certificate${expected ? ` ${expected}` : ""} served by ${machine.address}`,
    () => {
      const serial = machine
        .ssh(
          `curl -s -k ${proxied ? "--haproxy-protocol" : ""} --resolve ${domain}:443:${machine.address} -o /dev/null -w '%{certs}' https://${domain}/ | openssl x509 -noout -serial`,
        )
        .trim();
      return /^serial=/.test(serial) && (expected === undefined || serial === expected) ? serial : undefined;
    },
    30,
  );

const addLetsEncryptSite = (domain: string) => local.editSites((all) => void all.push({ domain, kind: "static", tls: { mode: "letsencrypt" } }));

/** Whether `from` gets a TCP connection to `to`'s port within two seconds. */
function reaches(from: Machine, to: Machine, port: number): boolean {
  return from.ssh(`timeout 2 bash -c '</dev/tcp/${to.address}/${port}' 2>/dev/null && echo open || echo shut`).trim() === "open";
}

/** One insert and one Redis push through the site's PHP, resolved only when PHP says both were acknowledged. */
async function write(n: number, via = machines.web): Promise<number> {
  const answer = await via.get(shop, `/probe.php?write=${n}`);
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.body.slice(0, 160)}`);
  return n;
}

/** What the site's PHP finds of its writes, in the database and the Redis its .env names now, asked through `via`. */
async function written(via = machines.web): Promise<{ mysql: Set<number>; redis: Set<number>; hosts: string[]; node: string }> {
  const answer = await via.get(shop, "/probe.php?written=1");
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.body.slice(0, 160)}`);
  const held = JSON.parse(answer.body) as { mysql: number[]; redis: number[]; hosts: string[]; node: string };
  return { mysql: new Set(held.mysql), redis: new Set(held.redis), hosts: held.hosts, node: held.node };
}

/** The probe page on a web node's copy of the site. */
const installProbe = (web: Machine) => web.placePage(user, `/var/www/${user}/public`, "probe.php", probePage);

/** The `writes` rows of the site's database on `machine`, as root over its socket. */
function rowsOn(machine: Machine): Set<number> {
  return new Set(machine.ssh(`mariadb -N -B -e 'SELECT n FROM shop_megaweb_test.writes'`).split("\n").filter(Boolean).map(Number));
}

/** A command to the box's own Redis, as the clients' default user with the password the site's .env holds. */
function boxRedis(command: string): string {
  return machines.web.ssh(`REDISCLI_AUTH=$(sed -n 's/^REDIS_PASSWORD=//p' /var/www/${user}/.env) redis-cli --no-auth-warning ${command}`).trim();
}

describe.sequential("the four-server phase on existing hosts, with the real engine", () => {
  beforeAll(async () => {
    local.destroy();
    local.prepare();
    local.pulumiOk(["config", "set", "megaweb:phase", "single"]);
    await timings.time("single box: bare to serving (pulumi up)", () => local.pulumiOk(["up", "--yes", "--skip-preview"], 1200));
    roles.forEach((role, index) => (machines[role] = local.machine(index)));
    [machines.balancer, machines.secondWeb] = [local.machine(4), local.machine(5)];
    installProbe(machines.web);
  }, 1_500_000);

  afterAll(() => {
    timings.save();
    local.destroyOk();
  }, 300_000);

  it("grows from the single box under a write load: the site's rows and Redis keys move to their hosts and no acknowledged write is lost", async () => {
    // On the box the site's PHP reaches MariaDB and Redis through their unix sockets, which its .env names.
    expect(JSON.parse((await machines.web.get(shop, "/probe.php")).body)).toMatchObject({
      mysql: "written by PHP",
      mysql_via: "Localhost via UNIX socket",
      redis: "written by PHP",
      redis_via: "/run/redis/redis-server.sock",
    });
    const before = 200;
    for (let n = 1; n <= before; n++) await write(n);
    expect(machines.web.ssh(`grep ^DB_HOST= /var/www/${user}/.env`).trim()).toBe("DB_HOST=127.0.0.1");
    local.pulumiOk(["config", "set", "megaweb:phase", "four-server"]);
    for (const role of ["redis", "mysql", "worker"] as const)
      local.pulumiOk(["config", "set", "--path", `megaweb:hosts.${role}[0].address`, machines[role].address]);
    // Writes keep coming, two at a time, until the growth's `up` is over: the refused ones are the window.
    const load = startLoad((index) => write(before + 1 + index), { maxOperations: 100_000, maxSeconds: 1200, concurrency: 2, pauseMs: 20, timeoutMs: 10_000 });
    await timings.time("grow to four servers (pulumi up)", () => local.pulumiAsync(["up", "--yes", "--skip-preview"], 1200).finally(load.stop));
    const record = await load.done;
    const summary = summarize(record);
    const acknowledged = record.outcomes.filter((outcome) => outcome.ok).map((outcome) => outcome.value!);
    const moved = await written();
    expect(moved.hosts).toEqual([machines.mysql.address, machines.redis.address]);
    const lost = [...Array.from({ length: before }, (_, i) => i + 1), ...acknowledged].filter((n) => !moved.mysql.has(n) || !moved.redis.has(n));
    const figures = { ...summary, writesBefore: before, writesLost: lost.length };
    writeFileSync(join(repo, "test-output", "e2e-four-server-growth.json"), `${JSON.stringify(figures, null, 2)}\n`);
    console.log("four-server growth figures:", figures);
    expect(lost).toEqual([]);
    expect(summary.acknowledged).toBeGreaterThan(0);
    expect(machines.web.ssh(`grep ^DB_HOST= /var/www/${user}/.env`).trim()).toBe(`DB_HOST=${machines.mysql.address}`);
    // The old copies stay until forgotten: the box's Redis says where it went and refuses writes, its
    // MariaDB keeps every row it had. (The move steps carry secrets, so the engine shows none of their output.)
    expect(boxRedis("GET megaweb:moved-to")).toBe(machines.redis.address);
    expect(boxRedis("SET probe:late write")).toMatch(/NOPERM/);
    const kept = rowsOn(machines.web);
    expect(Array.from({ length: before }, (_, i) => i + 1).every((n) => kept.has(n))).toBe(true);
    expect([...kept].every((n) => moved.mysql.has(n))).toBe(true);
  }, 1_500_000);

  it("forgets the box's old copies once told to, then stops the box's MariaDB and Redis, while the site serves every row and key from the new hosts", async () => {
    const before = await written();
    const onMysql = rowsOn(machines.mysql);
    const boxDaemonsKb = machines.web.ssh("ps -o rss= -C mariadbd,redis-server | awk '{ total += $1 } END { print total }'");
    local.pulumiOk(["config", "set", "megaweb:forgetMovedData", "true"]);
    await timings.time("forget the old copies (pulumi up)", () => local.pulumiAsync(["up", "--yes", "--skip-preview"], 1200));
    // Both stopped after their forgets, and masked, so no package upgrade starts them again; their memory is the web host's.
    // MariaDB stops only once it holds no database: the site's went first.
    const states = machines.web.ssh(
      `systemctl is-active mariadb redis-server; systemctl is-enabled mariadb redis-server; ls /var/lib/mysql/${user} 2>&1; true`,
    );
    expect(states.trim().split("\n")).toEqual([
      "inactive",
      "inactive",
      "masked",
      "masked",
      `ls: cannot access '/var/lib/mysql/${user}': No such file or directory`,
    ]);
    console.log(`four-server: the box's MariaDB and Redis stopped after the forgets, ${Math.round(Number(boxDaemonsKb) / 1024)} MB resident before`);
    // The new hosts hold everything they held before, and the site serves it from there.
    const after = await written();
    expect(after.hosts).toEqual([machines.mysql.address, machines.redis.address]);
    expect([...before.mysql].filter((n) => !after.mysql.has(n))).toEqual([]);
    expect([...before.redis].filter((n) => !after.redis.has(n))).toEqual([]);
    const stillOnMysql = rowsOn(machines.mysql);
    expect([...onMysql].filter((n) => !stillOnMysql.has(n))).toEqual([]);
  }, 1_500_000);

  it("serves the site from the web host, with MySQL and Redis on their own hosts", async () => {
    const response = await machines.web.get(shop, "/probe.php");
    expect(JSON.parse(response.body)).toMatchObject({
      user,
      mysql: "written by PHP",
      mysql_via: `${machines.mysql.address} via TCP/IP`,
      redis: "written by PHP",
      redis_via: machines.redis.address,
    });
    const environment = machines.web.ssh(`grep -v _PASSWORD= /var/www/${user}/.env`);
    expect(environment).toContain(`DB_HOST=${machines.mysql.address}`);
    expect(environment).toContain(`REDIS_HOST=${machines.redis.address}`);
    expect(environment).not.toMatch(/_SOCKET=/);
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

  it("issues a Let's Encrypt certificate on the web host in one up", async () => {
    // Outside the stack, so no firewall step of megaweb's replaces the rule that opens Pebble's port.
    acme = await timings.time("ACME server on a machine of its own", () => startAcmeMachine(local.machine(6), machines.web, certificateValiditySeconds));
    local.setConfig("megaweb:certificates.acmeDirectory", acme.directory);
    addLetsEncryptSite(secure);
    await timings.time("issue a certificate on four servers (pulumi up)", () => local.pulumiAsync(["up", "--yes", "--skip-preview"], 1200));
    issued = await servedSerial(machines.web, secure, false);
  }, 600_000);

  it("reports no changes on a second preview", () => {
    local.pulumiOk(["preview", "--expect-no-changes"]);
  }, 300_000);

  it("grows on to horizontal: a balancer and a second web node serve every row and key from the same MySQL and Redis", async () => {
    const before = await written();
    local.pulumiOk(["config", "set", "megaweb:phase", "horizontal"]);
    local.pulumiOk(["config", "set", "--path", "megaweb:loadBalancer.kind", "haproxy"]);
    local.pulumiOk(["config", "set", "--path", "megaweb:nodes.web", "2"]);
    local.pulumiOk(["config", "set", "--path", "megaweb:nodes.worker", "1"]);
    local.pulumiOk(["config", "set", "--path", "megaweb:hosts.loadbalancer[0].address", machines.balancer.address]);
    local.pulumiOk(["config", "set", "--path", "megaweb:hosts.web[1].address", machines.secondWeb.address]);
    // Writes keep coming as from a client whose DNS moves to the balancer with the growth: through the
    // balancer once it answers, else to the box. The refused ones are the window in which neither serves.
    const first = Math.max(...before.mysql) + 1;
    const load = startLoad((index) => write(first + index, machines.balancer).catch(() => write(first + index)), {
      maxOperations: 100_000,
      maxSeconds: 1200,
      concurrency: 2,
      pauseMs: 20,
      timeoutMs: 10_000,
    });
    // The test's probe page goes onto the new node as soon as its site's directory is there.
    let growing = true;
    const placed = (async () => {
      while (growing) {
        const ready = await machines.secondWeb.sshAsync(`test -d /var/www/${user}/public && echo ready || true`);
        if (ready.trim() === "ready") return installProbe(machines.secondWeb);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    })();
    await timings.time("grow to horizontal (pulumi up)", () =>
      local.pulumiAsync(["up", "--yes", "--skip-preview"], 1200).finally(() => {
        growing = false;
        load.stop();
      }),
    );
    await placed;
    installProbe(machines.secondWeb);
    const record = await load.done;
    const acknowledged = record.outcomes.filter((outcome) => outcome.ok).map((outcome) => outcome.value!);
    const held = await written(machines.balancer);
    const lost = acknowledged.filter((n) => !held.mysql.has(n) || !held.redis.has(n));
    const figures = { ...summarize(record), writesLost: lost.length };
    writeFileSync(join(repo, "test-output", "e2e-four-server-horizontal-growth.json"), `${JSON.stringify(figures, null, 2)}\n`);
    console.log("growth to horizontal figures:", figures);
    expect(lost).toEqual([]);
    expect(figures.acknowledged).toBeGreaterThan(0);
    // Both nodes, through the balancer once its checks pass the new one, read everything the box's
    // site had written, where it was.
    const answers = await eventually(
      "both web nodes answering through the balancer",
      async () => {
        const answers = await Promise.all(Array.from({ length: 8 }, () => written(machines.balancer)));
        return new Set(answers.map((answer) => answer.node)).size === 2 ? answers : undefined;
      },
      60,
    );
    for (const answer of answers) {
      expect(answer.hosts).toEqual([machines.mysql.address, machines.redis.address]);
      expect([...before.mysql].filter((n) => !answer.mysql.has(n))).toEqual([]);
      expect([...before.redis].filter((n) => !answer.redis.has(n))).toEqual([]);
    }
    // A write through the balancer is read back through it, whichever node takes each request.
    const next = Math.max(first, ...acknowledged) + 1;
    expect((await machines.balancer.get(shop, `/probe.php?write=${next}`)).status).toBe(200);
    const after = await Promise.all(Array.from({ length: 4 }, () => written(machines.balancer)));
    for (const answer of after) expect(answer.mysql.has(next) && answer.redis.has(next)).toBe(true);
    local.pulumiOk(["preview", "--expect-no-changes"]);
  }, 1_500_000);

  it("serves the box's certificate from both web nodes: the first, which issued it, pushed it to the new one", async () => {
    expect(await servedSerial(machines.web, secure, true)).toBe(issued);
    expect(await servedSerial(machines.secondWeb, secure, true)).toBe(issued);
    // The key came with it, readable by root alone; the new node renews nothing itself.
    expect(machines.secondWeb.ssh(`stat -c '%a %U' /etc/letsencrypt/live/${secure}/privkey.pem`).trim()).toBe("600 root");
    expect(machines.secondWeb.ssh(`ls /etc/letsencrypt/renewal 2>/dev/null | wc -l`).trim()).toBe("0");
  });

  it("issues a new site behind the balancer, whichever node the ACME server reaches, and both nodes serve its certificate", async () => {
    // From here on the ACME server, like a client, finds the sites at the balancer.
    for (const domain of [secure, later]) acme.pointName(domain, machines.balancer.address);
    // A challenge certbot wrote on the first node is answered by the second as well.
    machines.web.ssh(
      "install -d /var/lib/megaweb/acme/.well-known/acme-challenge && echo held-by-web-1 >/var/lib/megaweb/acme/.well-known/acme-challenge/megaweb-e2e",
    );
    const asked = `curl -s --haproxy-protocol -H 'Host: ${secure}' http://${machines.secondWeb.address}/.well-known/acme-challenge/megaweb-e2e`;
    expect(machines.secondWeb.ssh(asked).trim()).toBe("held-by-web-1");
    machines.web.ssh("rm /var/lib/megaweb/acme/.well-known/acme-challenge/megaweb-e2e");
    addLetsEncryptSite(later);
    await timings.time("issue a certificate behind the balancer (pulumi up)", () => local.pulumiAsync(["up", "--yes", "--skip-preview"], 1200));
    const serial = await servedSerial(machines.web, later, true);
    expect(await servedSerial(machines.secondWeb, later, true)).toBe(serial);
    // A client of the balancer gets it with a chain to the ACME server's root.
    const answer = await httpsGet(machines.balancer.address, later, acme.issuingRoot(), "/");
    expect(`serial=${answer.certificate.serialNumber}`.toLowerCase()).toBe(serial.toLowerCase());
  }, 1_500_000);

  it("renews on the first node through certbot.service, whose deploy hook pushes the new certificate to the second, without pulumi up", async () => {
    const renewed = await timings.time("renew on the first node and push to the second (certbot.service)", async () => {
      machines.web.ssh("systemctl start certbot.service", undefined, 300_000);
      const live = machines.web.ssh(`openssl x509 -in /etc/letsencrypt/live/${secure}/fullchain.pem -noout -serial`).trim();
      await servedSerial(machines.web, secure, true, live);
      return servedSerial(machines.secondWeb, secure, true, live);
    });
    expect(renewed).not.toBe(issued);
    expect(machines.web.ssh("systemctl is-failed certbot.service || true").trim()).not.toBe("failed");
    local.pulumiOk(["preview", "--expect-no-changes"]);
  }, 600_000);
});
