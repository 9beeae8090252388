import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { megaweb } from "./megaweb";

const scratch = mkdtempSync(join(tmpdir(), "megaweb-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function stackFile(name: string, yaml: string): string {
  const path = join(scratch, `Pulumi.${name}.yaml`);
  writeFileSync(path, yaml);
  return path;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((entry) => statSync(join(dir, entry)).isFile())
    .sort();
}

const certificate = readFileSync(join(__dirname, "fixtures", "example.crt"), "utf8");
/** The planner refuses DigitalOcean stacks nobody could SSH into; everything else may stay default. */
const access = "  megaweb:sshPublicKeys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMegawebTestKeyOnly ci]\n  megaweb:adminCidrs: [198.51.100.0/24]\n";
const secretKey = "v1:Zm9yLXRlc3RzLW9ubHk=:c2VjcmV0LWtleS1jaXBoZXJ0ZXh0";

describe("megaweb validate", () => {
  it("accepts a stack file that gives a domain and the SSH access DigitalOcean needs", async () => {
    const result = await megaweb("validate", stackFile("minimal", `config:\n${access}  megaweb:sites:\n    - domain: example.com\n`));
    expect(result).toEqual({ code: 0, out: ["minimal: valid (1 sites on 1 web hosts, phase single)"], err: [] });
  });

  it("exits 1 with one line per problem, each starting with the field path", async () => {
    const file = stackFile(
      "broken",
      [
        "config:",
        "  digitalocean:token:",
        "    secure: v1:abc",
        "  megaweb:region: mars",
        "  megaweb:sites:",
        "    - domain: example.com",
        "    - domain: shop.example.com",
        "      aliases: [example.com]",
        "      phpVersion: 7.4",
        "      php: { memoryLimit: lots }",
        "      colour: blue",
        "",
      ].join("\n"),
    );
    const result = await megaweb("validate", file);
    expect(result.code).toBe(1);
    expect(result.out).toEqual([]);
    expect(result.err).toEqual([
      `region: "mars" is not a DigitalOcean region slug (like nyc3)`,
      `sites[1].phpVersion: "7.4" is not a supported PHP version (8.0–8.4)`,
      `sites[1].php.memoryLimit: "lots" is not a PHP size (a number and K, M or G, like 128M)`,
      `sites[1].colour: is not a known setting`,
    ]);
  });

  it("refuses secrets written in plain text, the program's own (API token) as well as the schema's", async () => {
    const file = stackFile(
      "leaky",
      [
        "config:",
        access.trimEnd(),
        "  megaweb:sshPrivateKey:",
        "    secure: v1:c3No",
        "  megaweb:apiToken: 0123456789abcdef0123",
        "  megaweb:sites:",
        "    - domain: shop.example.com",
        "      tls:",
        "        mode: custom",
        "        certificate: |",
        ...certificate
          .trimEnd()
          .split("\n")
          .map((line) => `          ${line}`),
        "        key: |",
        "          -----BEGIN PRIVATE KEY-----",
        "          MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg",
        "          -----END PRIVATE KEY-----",
        "  megaweb:monitoring:",
        "    receivers:",
        "      email: { to: [ops@example.com], from: alerts@example.com, smarthost: 'smtp.example.com:587', username: alerts, password: hunter22 }",
        "      webhooks: [{ url: 'https://hooks.example.com/megaweb', bearerToken: t0ken }]",
        "",
      ].join("\n"),
    );
    const result = await megaweb("validate", file);
    expect(result.code).toBe(1);
    expect(result.err).toEqual([
      "apiToken: is in plain text; store it with pulumi config set --secret megaweb:apiToken",
      "sites[0].tls.key: is in plain text; store it with pulumi config set --secret --path 'sites[0].tls.key' < key.pem",
      "monitoring.receivers.email.password: is in plain text; store it with pulumi config set --secret --path 'monitoring.receivers.email.password'",
      "monitoring.receivers.webhooks[0].bearerToken: is in plain text; store it with pulumi config set --secret --path 'monitoring.receivers.webhooks[0].bearerToken'",
    ]);
  });

  it("refuses a file that is not YAML or not a stack file, and misuse", async () => {
    const notYaml = await megaweb("validate", stackFile("tabs", "config:\n\t- x: [\n"));
    expect(notYaml.code).toBe(1);
    expect(notYaml.err[0]).toMatch(/Pulumi\.tabs\.yaml: /);
    expect((await megaweb("validate", join(scratch, "stack.yaml"))).err).toEqual([`${join(scratch, "stack.yaml")}: a stack file is named Pulumi.<stack>.yaml`]);
    expect((await megaweb("validate")).code).toBe(2);
    expect((await megaweb("frobnicate")).code).toBe(2);
  });
});

describe("megaweb render", () => {
  it("writes every file of the host under DIR/<host>/<path>, secrets as placeholders and never their values", async () => {
    const file = stackFile(
      "shop",
      [
        "config:",
        access.trimEnd(),
        "  megaweb:sites:",
        "    - domain: shop.example.com",
        "      database: {}",
        "      tls:",
        "        mode: custom",
        "        certificate: |",
        ...certificate
          .trimEnd()
          .split("\n")
          .map((line) => `          ${line}`),
        "        key:",
        `          secure: ${secretKey}`,
        "    - domain: app.example.com",
        "      kind: proxy",
        "      proxy: { port: 3000 }",
        "",
      ].join("\n"),
    );
    const out = join(scratch, "out");
    const result = await megaweb("render", file, "--out", out);
    expect(result).toEqual({ code: 0, out: ["web-1: 45 files"], err: [] });
    expect(filesUnder(out)).toEqual([
      "web-1/etc/apt/apt.conf.d/20auto-upgrades",
      "web-1/etc/default/mtail",
      "web-1/etc/default/prometheus",
      "web-1/etc/default/prometheus-alertmanager",
      "web-1/etc/default/prometheus-blackbox-exporter",
      "web-1/etc/default/prometheus-mysqld-exporter",
      "web-1/etc/default/prometheus-nginx-exporter",
      "web-1/etc/default/prometheus-node-exporter",
      "web-1/etc/default/prometheus-redis-exporter",
      "web-1/etc/fail2ban/jail.local",
      "web-1/etc/issue",
      "web-1/etc/issue.net",
      "web-1/etc/modprobe.d/megaweb.conf",
      "web-1/etc/mtail/megaweb-nginx.mtail",
      "web-1/etc/mysql/mariadb.conf.d/60-megaweb.cnf",
      "web-1/etc/mysql/mariadb.conf.d/61-megaweb-sizing.cnf",
      "web-1/etc/nftables.conf",
      "web-1/etc/nginx/conf.d/megaweb-stub-status.conf",
      "web-1/etc/nginx/nginx.conf",
      "web-1/etc/nginx/sites-enabled/app_example_com.conf",
      "web-1/etc/nginx/sites-enabled/shop_example_com.conf",
      "web-1/etc/nginx/snippets/megaweb-fastcgi-php.conf",
      "web-1/etc/nginx/snippets/megaweb-proxy.conf",
      "web-1/etc/php/8.2/fpm/conf.d/99-megaweb.ini",
      "web-1/etc/php/8.2/fpm/pool.d/shop_example_com.conf",
      "web-1/etc/php/8.2/fpm/sites/shop_example_com.conf",
      "web-1/etc/prometheus/alertmanager.yml",
      "web-1/etc/prometheus/blackbox.yml",
      "web-1/etc/prometheus/mysqld-exporter.cnf",
      "web-1/etc/prometheus/prometheus.yml",
      "web-1/etc/prometheus/redis-exporter-passwords.json",
      "web-1/etc/prometheus/rules/megaweb-alerts.yml",
      "web-1/etc/prometheus/rules/megaweb-records.yml",
      "web-1/etc/redis/megaweb.d/secrets.conf",
      "web-1/etc/redis/megaweb.d/settings.conf",
      "web-1/etc/security/limits.d/90-megaweb-core.conf",
      "web-1/etc/ssh/sshd_config.d/50-megaweb.conf",
      "web-1/etc/ssl/megaweb/shop_example_com.crt",
      "web-1/etc/ssl/private/megaweb-shop_example_com.key",
      "web-1/etc/sudoers.d/megaweb-deploy",
      "web-1/etc/sysctl.d/90-megaweb.conf",
      "web-1/etc/systemd/coredump.conf.d/megaweb.conf",
      "web-1/etc/systemd/system/php8.2-fpm-site@.service",
      "web-1/home/deploy/.ssh/authorized_keys",
      "web-1/var/www/shop_example_com/.env",
    ]);
    const read = (path: string) => readFileSync(join(out, "web-1", path), "utf8");
    expect(read("etc/nginx/sites-enabled/shop_example_com.conf")).toContain("ssl_certificate_key /etc/ssl/private/megaweb-shop_example_com.key;");
    expect(read("etc/ssl/private/megaweb-shop_example_com.key")).toBe("<secret:tls-key:shop.example.com>");
    expect(read("etc/redis/megaweb.d/secrets.conf")).toBe("requirepass <secret:redis>\n");
    // On the single box the database and Redis are local: their sockets beside their loopback addresses.
    expect(read("var/www/shop_example_com/.env")).toBe(
      [
        "DB_HOST=127.0.0.1",
        "DB_PORT=3306",
        "DB_SOCKET=/run/mysqld/mysqld.sock",
        "DB_DATABASE=shop_example_com",
        "DB_USERNAME=shop_example_com",
        "DB_PASSWORD=<secret:mysql:shop.example.com>",
        "REDIS_HOST=127.0.0.1",
        "REDIS_PORT=6379",
        "REDIS_SOCKET=/run/redis/redis-server.sock",
        "REDIS_PASSWORD=<secret:redis>",
        "",
      ].join("\n"),
    );
    expect(statSync(join(out, "web-1/var/www/shop_example_com/.env")).mode & 0o777).toBe(0o600);
    for (const path of filesUnder(out)) expect(readFileSync(join(out, path), "utf8")).not.toContain(secretKey);
  });

  it("writes a tree for every host of the ha phase, each with its own roles' files", async () => {
    const file = stackFile(
      "cluster",
      `config:\n${access}  megaweb:phase: ha\n  megaweb:sites:\n    - domain: example.com\n      database: {}\n  megaweb:app:\n    domain: orchestrator.example.com\n`,
    );
    const out = join(scratch, "cluster");
    const result = await megaweb("render", file, "--out", out);
    const hosts = ["web", "redis", "sentinel", "mysql", "worker"].flatMap((role) => [1, 2, 3, 4, 5].map((n) => `${role}-${n}`));
    const planned = hosts.filter((host) => !/^(redis|sentinel|mysql)-[45]$/.test(host));
    expect(result.out.map((line) => line.split(":")[0])).toEqual(planned);
    expect(readdirSync(out).sort()).toEqual([...planned].sort());
    const has = (host: string, path: string) => existsSync(join(out, host, path));
    for (const host of planned) expect(has(host, "etc/nftables.conf") && has(host, "etc/ssh/sshd_config.d/50-megaweb.conf"), host).toBe(true);
    expect(has("web-3", "etc/nginx/sites-enabled/example_com.conf") && has("web-3", "etc/systemd/system/orchestrator-web.service")).toBe(true);
    expect(has("worker-2", "etc/systemd/system/orchestrator-worker.service") && has("worker-2", "etc/megaweb/orchestrator.env")).toBe(true);
    expect(has("mysql-2", "etc/mysql/mariadb.conf.d/61-megaweb-sizing.cnf") && has("redis-3", "etc/redis/megaweb.d/settings.conf")).toBe(true);
    // Droplets get their private addresses when DigitalOcean creates them: the files name them.
    expect(readFileSync(join(out, "worker-1/etc/megaweb/orchestrator.env"), "utf8")).toContain(
      "MEGAWEB_DB_URL=mysql://megaweb:<secret:mysql:orchestrator.example.com>@<mysql-1 private IP>:3306/megaweb\n",
    );
    expect(readFileSync(join(out, "mysql-1/etc/nftables.conf"), "utf8")).toMatch(
      /ip saddr \{ <mysql-2 private IP>, .*<worker-5 private IP> \} tcp dport 3306 accept/,
    );
  });

  it("renders one tree per host in the horizontal phase", async () => {
    const file = stackFile("wide", `config:\n${access}  megaweb:phase: horizontal\n  megaweb:sites:\n    - domain: example.com\n`);
    const out = join(scratch, "wide");
    const result = await megaweb("render", file, "--out", out);
    expect(result.out.map((line) => line.split(":")[0])).toEqual(["web-1", "web-2", "web-3", "redis-1", "mysql-1", "worker-1", "worker-2", "worker-3"]);
    expect(readFileSync(join(out, "web-2/etc/php/8.2/fpm/pool.d/example_com.conf"), "utf8")).toContain("[example_com]");
  });

  it("accepts a stack file with only a domain, and says what a DigitalOcean deployment still needs", async () => {
    const result = await megaweb("validate", stackFile("domain-only", "config:\n  megaweb:sites:\n    - domain: example.com\n"));
    expect(result.code).toBe(0);
    expect(result.err).toEqual([]);
    expect(result.out.slice(1).map((line) => line.split(":").slice(0, 2).join(":"))).toEqual([
      "before pulumi up: sshPublicKeys",
      "before pulumi up: adminCidrs",
    ]);
  });

  it("refuses to render an invalid stack and writes nothing", async () => {
    const out = join(scratch, "never");
    const result = await megaweb("render", stackFile("bad", "config:\n  megaweb:sites:\n    - domain: a b\n"), "--out", out);
    expect(result).toEqual({ code: 1, out: [], err: [`sites[0].domain: "a b" is not a valid host name`] });
    expect(existsSync(out)).toBe(false);
    expect((await megaweb("render", stackFile("ok", "config: {}\n"))).code).toBe(2);
  });
});

describe("megaweb help", () => {
  it("lists every command, and prints a command's flags with --help", async () => {
    const overview = await megaweb("--help");
    expect(overview.code).toBe(0);
    expect(
      overview.out[0]!.split("\n")
        .filter((line) => line.startsWith("  megaweb "))
        .map((line) => line.split(" ")[3]),
    ).toEqual(["validate", "render", "plan", "loadtest"]);
    const loadtest = await megaweb("loadtest", "--help");
    expect(loadtest.code).toBe(0);
    expect(loadtest.out[0]).toMatch(/^usage: megaweb loadtest <stack file> /);
    expect(loadtest.out.some((line) => line.trimStart().startsWith("--allow-any-target"))).toBe(true);
    expect((await megaweb("plan", "--help")).out).toEqual([
      "usage: megaweb plan <stack file> [--steps] [--json]",
      expect.stringMatching(/^ {2}print the topology/),
    ]);
  });
});
