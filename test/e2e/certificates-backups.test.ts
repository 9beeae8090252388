import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AcmeMachine, acmeDirectoryOf, httpsGet, startAcmeMachine } from "./acme-machine";
import { LocalStack, type Machine, probePage, Timings } from "./local-stack";

/**
 * Certificates and backups on local machines, through the real engine: the single box and a
 * backup host (restic over SFTP) that also runs the test's ACME server (Pebble) on the bridge.
 * A Let's Encrypt site is issued by `pulumi up` and renewed by certbot's own unit; a site Pebble
 * cannot validate fails alone; a backup is restored after its data is destroyed.
 */

const local = new LocalStack("cb", "certificates-backups", join(__dirname, "fixtures", "Pulumi.certificates-backups.yaml"), ["web", "backup"]);
const shop = { domain: "shop.megaweb.test", user: "shop_megaweb_test" };
const secure = { domain: "secure.megaweb.test", user: "secure_megaweb_test" };
const unreachable = { domain: "unreachable.megaweb.test", user: "unreachable_megaweb_test" };
// certbot renews what has less than 30 days left, so a certificate of ten minutes is due at once
// yet outlives the test.
const certificateValiditySeconds = 600;
// A test value, long enough for the schema; it must never show in the state, a command or the CLI's output.
const backupPassword = `cb-backup-${randomBytes(12).toString("hex")}`;
const timings = new Timings("e2e-certificates-backups.json");
const timed = timings.time;
let web: Machine;
let backupHost: Machine;
let acme: AcmeMachine;
let issuedSerial: string;

async function probe(domain: string): Promise<Record<string, string>> {
  const response = await web.get(domain, "/probe.php");
  expect(response.status, `${domain}/probe.php answered ${response.status}: ${response.body}`).toBe(200);
  return JSON.parse(response.body) as Record<string, string>;
}

const servedOverTls = () => httpsGet(web.address, secure.domain, acme.issuingRoot(), "/index.html");

/** A plain-HTTP GET on the web host: its status and where it redirects to. */
const plainHttp = (domain: string) =>
  web.ssh(`curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: ${domain}' http://${web.address}/index.html`).trim();

/** Steps the engine would touch, as `op name`, from `pulumi preview --json`. */
function changedSteps(previewJson: string): string[] {
  const preview = JSON.parse(previewJson) as { steps?: { op: string; urn: string }[] };
  return (preview.steps ?? []).filter((step) => step.op !== "same").map((step) => `${step.op} ${step.urn.split("::").pop()}`);
}

function addStaticSite(domain: string): void {
  local.editSites((all) => void all.push({ domain, kind: "static", tls: { mode: "letsencrypt" } }));
}

const redis = `REDISCLI_AUTH=$(sed -n 's/^requirepass //p' /etc/redis/megaweb.d/secrets.conf) redis-cli --no-auth-warning`;

describe.sequential("certificates and backups on local machines, with the real engine", () => {
  beforeAll(async () => {
    local.destroy();
    await timed("bare machines to serving (s)", async () => {
      local.prepare();
      local.setSecret("megaweb:backupPassword", backupPassword);
      local.setConfig("megaweb:certificates.acmeDirectory", acmeDirectoryOf(local.machine(1)));
      local.pulumiOk(["up", "--yes", "--skip-preview"], 1200);
    });
    web = local.machine(0);
    backupHost = local.machine(1);
    web.placePage(shop.user, `/var/www/${shop.user}/public`, "probe.php", probePage);
    // After the first up: its firewall step on the backup host replaces the whole ruleset.
    acme = await timed("ACME server on the backup host (s)", () => startAcmeMachine(backupHost, web, certificateValiditySeconds));
  }, 1_500_000);

  afterAll(() => {
    timings.save();
    local.destroyOk();
  }, 300_000);

  it("issues a Let's Encrypt certificate in one pulumi up and serves the site over HTTPS with the redirect and HSTS", async () => {
    addStaticSite(secure.domain);
    await timed("pulumi up adding a Let's Encrypt site (s)", () => local.pulumiOk(["up", "--yes", "--skip-preview"]));
    web.ssh(`install -m 0644 /dev/stdin /var/www/${secure.user}/public/index.html`, "served over TLS\n");

    const served = await servedOverTls();
    expect(served).toMatchObject({ status: 200, body: "served over TLS\n" });
    expect(served.headers).toMatch(/^strict-transport-security: max-age=31536000/im);
    expect(served.certificate.subjectaltname).toBe(`DNS:${secure.domain}`);
    expect(Date.parse(served.certificate.valid_to) - Date.parse(served.certificate.valid_from)).toBeLessThanOrEqual((certificateValiditySeconds + 1) * 1000);
    issuedSerial = served.certificate.serialNumber;
    expect(plainHttp(secure.domain)).toBe(`301 https://${secure.domain}/index.html`);
    expect(web.ssh("systemctl is-enabled certbot.timer").trim()).toBe("enabled");

    // certbot made the key on the host; neither the state (secrets decrypted) nor the CLI's output holds it.
    const keyLines = web
      .ssh(`cat /etc/letsencrypt/live/${secure.domain}/privkey.pem`)
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith("-----"));
    expect(keyLines.length).toBeGreaterThan(0);
    const state = local.pulumiOk(["stack", "export", "--show-secrets"]).stdout;
    expect(state).toContain(backupPassword);
    for (const line of keyLines) {
      expect(state).not.toContain(line);
      for (const output of local.transcript) expect(output).not.toContain(line);
    }
    expect((await probe(shop.domain)).user).toBe(shop.user);
  }, 600_000);

  it("renews through certbot.service, as its timer starts it, and the deploy hook makes nginx serve the new certificate, without pulumi up", async () => {
    await timed("renewal by certbot.service (s)", () => web.ssh("systemctl start certbot.service", undefined, 300_000));
    const renewed = await servedOverTls();
    expect(renewed.status).toBe(200);
    expect(renewed.certificate.serialNumber).not.toBe(issuedSerial);
    expect(web.ssh("grep -c 'megaweb-reload-nginx' /var/log/letsencrypt/letsencrypt.log").trim()).not.toBe("0");
    expect(web.ssh("systemctl is-failed certbot.service || true").trim()).toBe("inactive");
    issuedSerial = renewed.certificate.serialNumber;
  }, 600_000);

  it("fails only the certificate step of a site Pebble cannot validate, with certbot's reason, and every site keeps serving", async () => {
    // Pebble's validation of this name reaches its own host, where nothing listens on port 80.
    acme.pointName(unreachable.domain, "127.0.0.1");
    addStaticSite(unreachable.domain);
    const failed = await timed("pulumi up with a failing issuance (s)", () => local.pulumi(["up", "--yes", "--skip-preview"]));
    const output = `${failed.stdout}${failed.stderr}`;
    expect(failed.status, output).not.toBe(0);
    expect(output).toMatch(/Certbot failed to authenticate some domains[\s\S]*Domain: unreachable\.megaweb\.test/);
    expect(output).toContain(`megaweb: no certificate for ${unreachable.domain} (certbot's reason is above); the site keeps serving plain HTTP`);

    web.ssh(`install -m 0644 /dev/stdin /var/www/${unreachable.user}/public/index.html`, "plain until issued\n");
    expect(plainHttp(unreachable.domain)).toBe("200");
    expect(web.ssh(`test -e /etc/letsencrypt/live/${unreachable.domain} && echo present || echo absent`).trim()).toBe("absent");
    const served = await servedOverTls();
    expect(served.status).toBe(200);
    expect(served.certificate.serialNumber).toBe(issuedSerial);
    expect((await probe(shop.domain)).user).toBe(shop.user);
    // Nothing half-applied: what the engine still has to do is that site's certificate, and only that.
    expect(changedSteps(local.pulumiOk(["preview", "--json"]).stdout)).toEqual([
      expect.stringMatching(/^create .*-site-unreachable_megaweb_test-certificate$/),
    ]);
  }, 600_000);

  it("backs up to the backup host, and after the data is destroyed megaweb-restore all brings back every row, file and key", async () => {
    const home = `/var/www/${shop.user}`;
    const database = web.ssh(`sed -n 's/^DB_DATABASE=//p' ${home}/.env`).trim();
    web.ssh(
      `mariadb ${database} -e "CREATE TABLE cb_orders (id INT PRIMARY KEY, note VARCHAR(64)); INSERT INTO cb_orders SELECT seq, CONCAT('order ', seq) FROM seq_1_to_5000"`,
    );
    web.ssh(
      `install -d -o ${shop.user} ${home}/public/uploads && for n in $(seq 20); do head -c 65536 /dev/urandom >${home}/public/uploads/file-$n.bin; done && chown -R ${shop.user} ${home}/public/uploads`,
    );
    web.ssh(`${redis} set cb:backup 'kept across the restore' >/dev/null`);
    const rows = () => web.ssh(`mariadb -N ${database} -e "SELECT COUNT(*), SUM(CRC32(note)) FROM cb_orders"`).trim();
    const files = () => web.ssh(`cd ${home}/public && find . -type f | sort | xargs sha256sum`);
    const [rowsBefore, filesBefore] = [rows(), files()];
    expect(rowsBefore).toMatch(/^5000\t\d+$/);

    await timed("first backup (s)", () => web.ssh("systemctl start megaweb-backup.service", undefined, 600_000));
    await timed("next backup (s)", () => web.ssh("systemctl start megaweb-backup.service", undefined, 600_000));
    const lastSuccess = web.ssh("cat /var/lib/megaweb/backup/last-success");
    expect(lastSuccess).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ snapshot [0-9a-f]{8}$/m);
    expect(Date.now() - Date.parse(lastSuccess.split(" ")[0]!)).toBeLessThan(120_000);
    timings.seconds["repository size (MB)"] = Math.round(Number(backupHost.ssh("du -sb /srv/megaweb-backup | cut -f 1")) / 10_000) / 100;
    // The repository is encrypted: the backup host holds no row of the dump in plain text.
    expect(backupHost.ssh("grep -rl 'order 4999' /srv/megaweb-backup | wc -l").trim()).toBe("0");

    web.ssh(`mariadb -e "DROP DATABASE ${database}" && rm -rf ${home}/public/* && ${redis} flushall >/dev/null`);
    expect(web.ssh(`ls ${home}/public | wc -l`).trim()).toBe("0");
    expect(web.ssh(`${redis} dbsize`).trim()).toBe("0");

    const restored = await timed("restore all (s)", () => web.ssh("megaweb-restore all", undefined, 600_000));
    expect(restored).toMatch(/database .* from snapshot/);
    expect(rows()).toBe(rowsBefore);
    expect(files()).toBe(filesBefore);
    expect(web.ssh(`${redis} get cb:backup`).trim()).toBe("kept across the restore");
    expect(await probe(shop.domain)).toMatchObject({ user: shop.user, mysql: "written by PHP" });
  }, 900_000);

  it("fails megaweb-backup.service when the backup host cannot be reached, and keeps the last success as it was", () => {
    const lastSuccess = web.ssh("cat /var/lib/megaweb/backup/last-success");
    // Refused rather than dropped, so restic fails at once instead of waiting out SSH's timeout.
    web.ssh(
      `nft add table inet cb_test && nft add chain inet cb_test output '{ type filter hook output priority 0; }' && nft add rule inet cb_test output ip daddr ${backupHost.address} tcp dport 22 reject with tcp reset`,
    );
    try {
      expect(() => web.ssh("systemctl start megaweb-backup.service", undefined, 300_000)).toThrow(/exited 1/);
      expect(web.ssh("systemctl is-failed megaweb-backup.service || true").trim()).toBe("failed");
    } finally {
      web.ssh("nft delete table inet cb_test");
    }
    expect(web.ssh("cat /var/lib/megaweb/backup/last-success")).toBe(lastSuccess);
  }, 600_000);
});
