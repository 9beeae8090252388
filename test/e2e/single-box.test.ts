import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AcmeMachine, httpsGet, startAcmeMachine } from "./acme-machine";
import { LocalStack, type Machine, Timings } from "./local-stack";

/**
 * The single box end to end: the real engine runs stacks/ against a fresh local machine
 * (`target: existing`) with the committed local stack's three sites: two PHP sites on nginx with
 * different PHP settings, one behind Apache. A second machine is the stack's backup host (restic
 * over SFTP) and, for the test only, its ACME server (Pebble), so a Let's Encrypt site is issued
 * for real and a backup is restored after the data is destroyed.
 */

const sites = {
  shop: { domain: "shop.megaweb.test", user: "shop_megaweb_test", memoryLimit: "192M", maxExecutionTime: "30" },
  blog: { domain: "blog.megaweb.test", user: "blog_megaweb_test", memoryLimit: "96M", maxExecutionTime: "20" },
  legacy: { domain: "legacy.megaweb.test", user: "legacy_megaweb_test", memoryLimit: "128M", maxExecutionTime: "60" },
};
const fpmUnit = (user: string) => `php8.2-fpm-site@${user}.service`;

const local = new LocalStack("e2e", "e2e", undefined, ["web", "backup"]);
const letsencrypt = { domain: "secure.megaweb.test", user: "secure_megaweb_test" };
// A test value, long enough for the schema; it must never show in the state, a command or the CLI's output.
const backupPassword = `e2e-backup-${randomBytes(12).toString("hex")}`;
const timings = new Timings("e2e-timings.json");
const timed = timings.time;
let machine: Machine;
let backupHost: Machine;
let acme: AcmeMachine;

function installProbe(user: string): void {
  machine.ssh(`install -m 0640 -o ${user} -g www-data /dev/stdin /var/www/${user}/public/probe.php`, readFileSync(join(__dirname, "probe.php"), "utf8"));
}

async function probe(domain: string): Promise<Record<string, string>> {
  const response = await machine.get(domain, "/probe.php");
  expect(response.status, `${domain}/probe.php answered ${response.status}: ${response.body}`).toBe(200);
  return JSON.parse(response.body) as Record<string, string>;
}

/** Steps the engine would touch, as `type::name`, from `pulumi preview --json`. */
function changedSteps(previewJson: string): string[] {
  const preview = JSON.parse(previewJson) as { steps?: { op: string; urn: string }[] };
  return (preview.steps ?? []).filter((step) => step.op !== "same").map((step) => `${step.op} ${step.urn.split("::").pop()}`);
}

/** Main PID and start time of each unit: a restart changes both, a reload of the FPM master logs "Reloading". */
function unitIdentity(units: readonly string[]): string {
  return machine.ssh(units.map((unit) => `systemctl show -p MainPID -p ActiveEnterTimestampMonotonic ${unit}`).join("; "));
}

describe.sequential("the single box on a local machine, with the real engine", () => {
  beforeAll(async () => {
    if (process.platform !== "linux" || process.getuid?.() !== 0)
      throw new Error("the end-to-end test needs Linux and root (it boots a systemd-nspawn machine)");
    local.destroy();
    await timed("bare machine to serving (s)", async () => {
      await timed("machine boot and stack setup (s)", () => {
        local.prepare();
        local.setConfig("megaweb:backups.destination.kind", "sftp");
        local.setSecret("megaweb:backupPassword", backupPassword);
        local.setConfig("megaweb:certificates.acmeDirectory", `https://${local.machine(1).address}:14000/dir`);
      });
      await timed("first pulumi up (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview"], 1200));
    });
    machine = local.machine();
    backupHost = local.machine(1);
    for (const site of Object.values(sites)) installProbe(site.user);
  }, 1_500_000);

  afterAll(() => {
    timings.save();
    local.destroyOk();
  }, 300_000);

  it("serves each site through its own pool with its own PHP settings, and MySQL and Redis work from PHP", async () => {
    for (const site of Object.values(sites)) {
      const seen = await probe(site.domain);
      expect(seen).toMatchObject({
        user: site.user,
        memory_limit: site.memoryLimit,
        max_execution_time: site.maxExecutionTime,
        mysql: "written by PHP",
        redis: "written by PHP",
      });
    }
    // The Apache site really went through Apache, behind nginx.
    expect(machine.ssh(`grep -c 'GET /probe.php' /var/log/apache2/${sites.legacy.user}.access.log`).trim()).not.toBe("0");
    expect(machine.ssh("systemctl is-active nginx apache2 mariadb redis-server").trim().split("\n")).toEqual(["active", "active", "active", "active"]);
  });

  it("reports no changes on a second preview, and a no-change up changes nothing", async () => {
    await timed("no-change preview (s)", () => local.pulumiOk(["preview", "--expect-no-changes"]));
    const up = await timed("no-change up (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview", "--expect-no-changes"]));
    expect(up.stdout).not.toMatch(/updated|created|deleted|replaced/);
  }, 300_000);

  it("updates only the changed site's step for a memory_limit change, shows the changed line, and leaves other pools running", async () => {
    const others = [fpmUnit(sites.shop.user), fpmUnit(sites.legacy.user)];
    const before = unitIdentity(others);
    const reloadsBefore = machine.ssh(
      `cat /var/log/php8.2-fpm-${sites.shop.user}.log /var/log/php8.2-fpm-${sites.legacy.user}.log | grep -c Reloading || true`,
    );
    local.editSites((all) => {
      const blog = all.find((site) => site.domain === sites.blog.domain)!;
      (blog.php as Record<string, unknown>).memoryLimit = "160M";
    });

    const plan = local.pulumiOk(["preview", "--json"]);
    expect(changedSteps(plan.stdout)).toEqual(["update megaweb-e2e-provisioning-web-1-site-blog_megaweb_test"]);
    const diff = local.pulumiOk(["preview", "--diff"]);
    expect(diff.stdout).toMatch(/-\s+php_admin_value\[memory_limit\] = 96M/);
    expect(diff.stdout).toMatch(/\+\s+php_admin_value\[memory_limit\] = 160M/);

    local.pulumiOk(["up", "--yes", "--skip-preview"]);
    expect((await probe(sites.blog.domain)).memory_limit).toBe("160M");
    expect((await probe(sites.shop.domain)).memory_limit).toBe(sites.shop.memoryLimit);
    expect(unitIdentity(others)).toBe(before);
    expect(machine.ssh(`cat /var/log/php8.2-fpm-${sites.shop.user}.log /var/log/php8.2-fpm-${sites.legacy.user}.log | grep -c Reloading || true`)).toBe(
      reloadsBefore,
    );
  }, 600_000);

  it("fails the step of a site whose nginxDirectives nginx refuses, the previous config keeps serving, and a good snippet then serves", async () => {
    const served = (await probe(sites.blog.domain)).memory_limit;
    const vhost = `/etc/nginx/sites-enabled/${sites.blog.user}.conf`;
    const vhostBefore = machine.ssh(`cat ${vhost}`);
    // The memory_limit change rides along, so a served old value shows the whole step was rolled back, pool included.
    const editBlog = (nginxDirectives: string) =>
      local.editSites((all) => {
        const blog = all.find((site) => site.domain === sites.blog.domain)!;
        blog.nginxDirectives = nginxDirectives;
        (blog.php as Record<string, unknown>).memoryLimit = "112M";
      });
    editBlog("megaweb_no_such_directive on;");

    const failed = local.pulumi(["up", "--yes", "--skip-preview"]);
    expect(failed.status).not.toBe(0);
    const output = failed.stdout + failed.stderr;
    expect(output).toMatch(/\(megaweb-e2e-provisioning-web-1-site-blog_megaweb_test\):\s+error:/);
    expect(output).toContain(`unknown directive "megaweb_no_such_directive"`);
    expect(output).toContain("check failed: nginx -t; the previous configuration was restored and keeps serving");
    expect(machine.ssh(`cat ${vhost}`)).toBe(vhostBefore);
    expect((await probe(sites.blog.domain)).memory_limit).toBe(served);
    expect((await probe(sites.shop.domain)).user).toBe(sites.shop.user);

    editBlog('location = /megaweb-directive {\n    default_type text/plain;\n    return 200 "from nginxDirectives\\n";\n}');
    local.pulumiOk(["up", "--yes", "--skip-preview"]);
    expect(await machine.get(sites.blog.domain, "/megaweb-directive")).toMatchObject({ status: 200, body: "from nginxDirectives\n" });
    expect((await probe(sites.blog.domain)).memory_limit).toBe("112M");
  }, 600_000);

  it("keeps every generated password out of the stack export, command strings and the CLI's output", () => {
    const secrets = machine
      .ssh("cat /var/www/*/.env")
      .split("\n")
      .filter((line) => /^(DB|REDIS)_PASSWORD=/.test(line))
      .map((line) => line.slice(line.indexOf("=") + 1));
    expect(new Set(secrets).size).toBe(4); // three database users and Redis
    const privateKeyLine = readFileSync(`/var/lib/megaweb/machines/${local.machineSet}/id_ed25519`, "utf8").split("\n")[1]!;

    const exported = local.pulumiOk(["stack", "export"]).stdout;
    const resources = (JSON.parse(exported) as { deployment: { resources: { inputs?: Record<string, unknown> }[] } }).deployment.resources;
    const commandStrings = resources.flatMap((resource) =>
      [resource.inputs?.create, resource.inputs?.delete].filter((text): text is string => typeof text === "string"),
    );
    expect(commandStrings.length).toBeGreaterThan(10);
    for (const secret of [...secrets, privateKeyLine, backupPassword]) {
      expect(exported).not.toContain(secret);
      for (const text of commandStrings) expect(text).not.toContain(secret);
      for (const output of local.transcript) expect(output).not.toContain(secret);
    }
  }, 120_000);

  it("answers from outside the machine only on 22, 80 and 443", async () => {
    const listening = machine
      .ssh("ss -Hltn")
      .split("\n")
      .flatMap((line) => /:(\d+)\s/.exec(line.split(/\s+/)[3] + " ")?.[1] ?? [])
      .map(Number);
    // Loopback-only daemons are included on purpose: the firewall must hold even if one rebinds.
    const candidates = [...new Set([...listening, 21, 25, 3306, 6379, 8080, 8088, 9000, 11211])].sort((a, b) => a - b);
    expect(listening).toEqual(expect.arrayContaining([22, 80, 3306, 6379, 8080]));
    const open = (await Promise.all(candidates.map(async (port) => ((await machine.answers(port)) ? port : undefined)))).filter((port) => port !== undefined);
    expect(open).toEqual([22, 80, 443].filter((port) => listening.includes(port)));
  });

  it("fails the step of a site whose certificate does not match its key, and the previous config keeps serving", async () => {
    const scratch = mkdtempSync(join(tmpdir(), "megaweb-tls-"));
    const openssl = (...args: string[]) => expect(spawnSync("openssl", args, { cwd: scratch, encoding: "utf8" }).status).toBe(0);
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${sites.shop.domain}`, "-days", "1", "-keyout", "right.key", "-out", "site.crt");
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "wrong.key");
    const shopIndex = 0;
    local.editSites((all) => {
      all[shopIndex]!.tls = { mode: "custom", certificate: readFileSync(join(scratch, "site.crt"), "utf8") };
    });
    const wrongKey = readFileSync(join(scratch, "wrong.key"), "utf8");
    local.setSecret(`megaweb:sites[${shopIndex}].tls.key`, wrongKey);

    const failed = local.pulumi(["up", "--yes", "--skip-preview"]);
    expect(failed.status).not.toBe(0);
    expect(failed.stdout + failed.stderr).toContain("check failed: nginx -t; the previous configuration was restored and keeps serving");
    expect((await probe(sites.shop.domain)).user).toBe(sites.shop.user);
    expect(machine.ssh(`grep -c ssl_certificate /etc/nginx/sites-enabled/${sites.shop.user}.conf || true`).trim()).toBe("0");
    const keyLine = wrongKey.split("\n")[1]!;
    expect(local.pulumiOk(["stack", "export"]).stdout).not.toContain(keyLine);
    for (const output of local.transcript) expect(output).not.toContain(keyLine);

    local.editSites((all) => {
      delete all[shopIndex]!.tls;
    });
    local.pulumiOk(["up", "--yes", "--skip-preview"]);
    expect((await probe(sites.shop.domain)).user).toBe(sites.shop.user);
  }, 600_000);

  it("removes a site's vhost, pool and user when it leaves the config, and the others keep serving", async () => {
    const mariadb = () => machine.ssh("systemctl show -p MainPID --value mariadb; mariadb -N -e 'SELECT @@GLOBAL.max_connections'").trim().split("\n");
    const [mariadbBefore, connectionsBefore] = mariadb();
    local.editSites((all) =>
      all.splice(
        all.findIndex((site) => site.domain === sites.legacy.domain),
        1,
      ),
    );
    const plan = local.pulumiOk(["preview", "--json"]);
    expect(changedSteps(plan.stdout).sort()).toEqual([
      "delete megaweb-e2e-provisioning-web-1-db-legacy_megaweb_test",
      "delete megaweb-e2e-provisioning-web-1-site-legacy_megaweb_test",
      "delete megaweb-e2e-provisioning-web-1-site-legacy_megaweb_test-env",
      // Its database and files are no longer backed up.
      "update megaweb-e2e-provisioning-web-1-backup",
      // Its database's PHP workers no longer count towards MariaDB's max_connections.
      "update megaweb-e2e-provisioning-web-1-mysql",
      // It was the only Apache site, so the host-wide Apache listener leaves the web tier's step.
      "update megaweb-e2e-provisioning-web-1-web",
    ]);
    local.pulumiOk(["up", "--yes", "--skip-preview"]);
    // The smaller size is applied to the running server: no restart cut the other sites' connections.
    const [mariadbAfter, connectionsAfter] = mariadb();
    expect(mariadbAfter).toBe(mariadbBefore);
    expect(Number(connectionsAfter)).toBe(Number(connectionsBefore) - 3);

    const left = machine.ssh(
      [
        `ls /etc/nginx/sites-enabled /etc/php/8.2/fpm/pool.d /etc/php/8.2/fpm/sites /etc/apache2/sites-enabled /var/www`,
        `id ${sites.legacy.user} 2>&1 || true`,
        `systemctl is-active ${fpmUnit(sites.legacy.user)} || true`,
      ].join("; "),
    );
    expect(left).not.toMatch(new RegExp(`${sites.legacy.user}\\.conf`));
    expect(left).toMatch(/no such user/);
    expect(left).toMatch(/inactive/);
    // nginx's default server closes the connection without an answer (444) for a name it does not serve.
    await expect(machine.get(sites.legacy.domain, "/probe.php")).rejects.toThrow("socket hang up");
    expect((await probe(sites.shop.domain)).user).toBe(sites.shop.user);
    expect((await probe(sites.blog.domain)).user).toBe(sites.blog.user);
  }, 600_000);

  it("issues a Let's Encrypt certificate through pulumi up and serves the site over HTTPS with the redirect and HSTS", async () => {
    acme = await timed("ACME server on the backup host (s)", () => startAcmeMachine(backupHost, machine));
    local.editSites((all) => {
      all.push({ domain: letsencrypt.domain, kind: "static", tls: { mode: "letsencrypt", email: "ops@megaweb.test" } });
    });
    await timed("certificate issued by pulumi up (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview"]));
    machine.ssh(`install -m 0644 /dev/stdin /var/www/${letsencrypt.user}/public/index.html`, "served over TLS\n");

    const served = await httpsGet(machine.address, letsencrypt.domain, acme.issuingRoot(), "/index.html");
    expect(served).toMatchObject({ status: 200, body: "served over TLS\n" });
    expect(served.headers).toMatch(/^strict-transport-security: max-age=31536000/im);
    const plain = await machine.get(letsencrypt.domain, "/index.html");
    expect(plain.status).toBe(301);
    // The key was made by certbot on the host and is nowhere in the state or the CLI's output.
    const keyLine = machine.ssh(`cat /etc/letsencrypt/live/${letsencrypt.domain}/privkey.pem`).split("\n")[1]!;
    expect(local.pulumiOk(["stack", "export"]).stdout).not.toContain(keyLine);
    for (const output of local.transcript) expect(output).not.toContain(keyLine);
    expect(machine.ssh("systemctl is-enabled certbot.timer").trim()).toBe("enabled");
    // Every other site kept serving.
    expect((await probe(sites.shop.domain)).user).toBe(sites.shop.user);
  }, 600_000);

  it("backs up to the backup host, and after the data is destroyed megaweb-restore all brings back every row, file and key", async () => {
    const home = `/var/www/${sites.shop.user}`;
    const database = machine.ssh(`sed -n 's/^DB_DATABASE=//p' ${home}/.env`).trim();
    machine.ssh(
      `mariadb ${database} -e "CREATE TABLE e2e_orders (id INT PRIMARY KEY, note VARCHAR(64)); INSERT INTO e2e_orders SELECT seq, CONCAT('order ', seq) FROM seq_1_to_5000"`,
    );
    machine.ssh(
      `install -d -o ${sites.shop.user} ${home}/public/uploads && for n in $(seq 20); do head -c 65536 /dev/urandom >${home}/public/uploads/file-$n.bin; done && chown -R ${sites.shop.user} ${home}/public/uploads`,
    );
    const redis = `REDISCLI_AUTH=$(sed -n 's/^requirepass //p' /etc/redis/megaweb-secrets.conf) redis-cli --no-auth-warning`;
    machine.ssh(`${redis} set e2e:backup 'kept across the restore' >/dev/null`);
    const rows = () => machine.ssh(`mariadb -N ${database} -e "SELECT COUNT(*), SUM(CRC32(note)) FROM e2e_orders"`).trim();
    const files = () => machine.ssh(`cd ${home}/public && find . -type f | sort | xargs sha256sum`);
    const [rowsBefore, filesBefore] = [rows(), files()];
    expect(rowsBefore).toMatch(/^5000\t\d+$/);

    await timed("backup (s)", () => machine.ssh("systemctl start megaweb-backup.service", undefined, 600_000));
    expect(machine.ssh("cat /var/lib/megaweb/backup/last-success")).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ snapshot [0-9a-f]{8}$/m);
    timings.seconds["backup size (MB)"] = Math.round(Number(backupHost.ssh("du -sb /srv/megaweb-backup/web-1 | cut -f 1")) / 10_000) / 100;
    // The repository is encrypted: the backup host holds no row of the dump in plain text.
    expect(backupHost.ssh("grep -rc 'order 4999' /srv/megaweb-backup/web-1 | grep -vc ':0$' || true").trim()).toBe("0");

    machine.ssh(`mariadb -e "DROP DATABASE ${database}" && rm -rf ${home}/public/* && ${redis} del e2e:backup >/dev/null`);
    expect(machine.ssh(`ls ${home}/public | wc -l`).trim()).toBe("0");

    const restored = await timed("restore (s)", () => machine.ssh("megaweb-restore all", undefined, 600_000));
    expect(restored).toMatch(/database .* from snapshot/);
    expect(rows()).toBe(rowsBefore);
    expect(files()).toBe(filesBefore);
    expect(machine.ssh(`${redis} get e2e:backup`).trim()).toBe("kept across the restore");
    expect((await probe(sites.shop.domain)).mysql).toBe("written by PHP");
  }, 900_000);
});
