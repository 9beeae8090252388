import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planTopology } from "../../lib/plan/topology";
import { renderWebHost } from "../../lib/render/files";
import { hostFirewallRules, renderNftables } from "../../lib/render/firewall";
import { parseStack } from "../../lib/schema/stack";
import { planSteps } from "../../lib/steps/plan";
import { plannedFacts } from "../../lib/steps/planned-facts";
import { putFiles, shellQuote, stepCommand } from "../../lib/steps/script";
import { phpRepositoryScript, siteCommand, siteDeleteCommand, webTierCommand } from "../../lib/steps/web";

const bookworm = { os: "debian", codename: "bookworm", memoryMb: 4096, cpus: 2, openFilesLimit: 524_288 };
const noble = { os: "ubuntu", codename: "noble", memoryMb: 4096 };

function webHost(sites: unknown[]) {
  const stack = parseStack({ phase: "single", target: "existing", hosts: { web: [{ address: "198.18.0.2" }] }, sites });
  return renderWebHost(stack, { name: "web-1", memoryMb: 4096, roles: ["web", "mysql", "redis", "worker"] });
}

/** Runs a step's script with bash against a scratch directory standing in for `/`. */
function runStep(command: string): { status: number; stderr: string } {
  const result = spawnSync("bash", ["-c", command], { encoding: "utf8" });
  return { status: result.status ?? -1, stderr: result.stderr };
}

describe("step scripts", () => {
  it("quotes inputs so no value can end the shell word", () => {
    expect(shellQuote("it's $HOME")).toBe(`'it'\\''s $HOME'`);
    const command = stepCommand('printf "%s" "$value" >&2', { value: "it's $HOME; rm -rf /" });
    expect(runStep(command.replace('if [ "$(id -u)" -eq 0 ]; then exec bash', "if true; then exec bash"))).toMatchObject({
      status: 0,
      stderr: "it's $HOME; rm -rf /",
    });
  });

  it("writes a file only when it differs and restores the previous one when a check fails", () => {
    const dir = mkdtempSync(join(tmpdir(), "megaweb-step-"));
    const path = join(dir, "site.conf");
    writeFileSync(path, "good\n");
    const body = [putFiles([{ path, content: "broken\n", owner: `${process.getuid!()}:${process.getgid!()}` }]), "checked false", "echo never"].join("\n");
    const result = runStep(stepCommand(body).replace(/previous_dir=\/var\/lib\/megaweb\/previous/, `previous_dir=${dir}/previous`));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("the previous configuration was restored and keeps serving");
    expect(readFileSync(path, "utf8")).toBe("good\n");
  });

  it("refuses file content that would end its heredoc early", () => {
    expect(() => putFiles([{ path: "/etc/x", content: "a\nMEGAWEB_FILE\nb" }])).toThrow('/etc/x: a file may not contain a line "MEGAWEB_FILE"');
  });
});

describe("host firewall", () => {
  it("opens only SSH and the web ports on the single box, whose databases listen for itself alone", () => {
    const stack = parseStack({ phase: "single", target: "existing", hosts: { web: [{ address: "198.18.0.2" }] }, sites: [] });
    const rules = hostFirewallRules(["web", "mysql", "redis", "worker"], planTopology(stack).firewall, [], []);
    expect(rules).toEqual(["tcp dport 22 accept", "tcp dport 80 accept", "tcp dport 443 accept"]);
  });

  it("lets MySQL and Redis hear only their clients' private addresses and SSH only the admin CIDRs", () => {
    const stack = parseStack({
      phase: "four-server",
      target: "existing",
      adminCidrs: ["203.0.113.0/24"],
      hosts: { web: [{ address: "10.0.0.2" }], redis: [{ address: "10.0.0.3" }], mysql: [{ address: "10.0.0.4" }], worker: [{ address: "10.0.0.5" }] },
      sites: [],
    });
    const peers = [
      { roles: ["web" as const], privateIp: "10.0.0.2" },
      { roles: ["redis" as const], privateIp: "10.0.0.3" },
      { roles: ["mysql" as const], privateIp: "10.0.0.4" },
      { roles: ["worker" as const], privateIp: "10.0.0.5" },
    ];
    const matrix = planTopology(stack).firewall;
    const others = (self: string) => peers.filter((peer) => peer.privateIp !== self);
    expect(hostFirewallRules(["mysql"], matrix, others("10.0.0.4"), ["203.0.113.0/24"])).toEqual([
      "ip saddr { 203.0.113.0/24 } tcp dport 22 accept",
      "ip saddr { 10.0.0.2, 10.0.0.5 } tcp dport 3306 accept",
    ]);
    expect(hostFirewallRules(["redis"], matrix, others("10.0.0.3"), ["203.0.113.0/24"])).toEqual([
      "ip saddr { 203.0.113.0/24 } tcp dport 22 accept",
      "ip saddr { 10.0.0.2, 10.0.0.5 } tcp dport 6379 accept",
    ]);
    expect(hostFirewallRules(["worker"], matrix, others("10.0.0.5"), ["203.0.113.0/24"])).toEqual(["ip saddr { 203.0.113.0/24 } tcp dport 22 accept"]);
  });

  it("renders an nftables file that nft itself accepts", () => {
    const config = renderNftables("web-1", ["web"], ["tcp dport 22 accept", "ip saddr { 10.0.0.2 } tcp dport 3306 accept"]).content;
    const dir = mkdtempSync(join(tmpdir(), "megaweb-nft-"));
    writeFileSync(join(dir, "nftables.conf"), config);
    const check = spawnSync("nft", ["-c", "-f", join(dir, "nftables.conf")], { encoding: "utf8" });
    // `nft -c` needs CAP_NET_ADMIN to build the ruleset it checks; the test suite runs as root.
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
    expect(config).toContain("policy drop;");
  });
});

describe("PHP and web server repositories", () => {
  it("adds Ondřej Surý's repository on Debian only for versions Debian does not ship", () => {
    expect(phpRepositoryScript(bookworm, ["8.2"])).toBe("");
    const sury = phpRepositoryScript(bookworm, ["8.2", "8.3"]);
    expect(sury).toContain("# PHP 8.3 is not Debian's own");
    expect(sury).toContain("deb [signed-by=/usr/share/keyrings/deb.sury.org-php.gpg] https://packages.sury.org/php/ bookworm main");
  });

  it("adds the ondrej/php PPA on Ubuntu for versions Ubuntu does not ship", () => {
    expect(phpRepositoryScript(noble, ["8.3"])).toBe("");
    expect(phpRepositoryScript(noble, ["8.1"])).toContain("add-apt-repository -y ppa:ondrej/php");
  });

  it("installs OpenLiteSpeed from LiteSpeed's repository and checks it in the site's step", () => {
    const render = webHost([{ domain: "ols.example.com", webServer: "openlitespeed" }]);
    const web = webTierCommand(render, bookworm);
    expect(web).toContain("deb http://rpms.litespeedtech.com/debian/ bookworm main");
    expect(web).toMatch(/apt_install_stopped .*openlitespeed/);
    const site = siteCommand(render.sites[0]!);
    expect(site).toContain("checked check_openlitespeed");
    expect(site).toContain("/usr/local/lsws/bin/lswsctrl restart");
    expect(site).toContain("put_file '/usr/local/lsws/conf/vhosts/ols_example_com/vhconf.conf'");
  });
});

describe("site steps", () => {
  const render = webHost([
    { domain: "shop.example.com", php: { memoryLimit: "192M" } },
    { domain: "legacy.example.com", webServer: "apache" },
  ]);

  it("write the site's own files inline, check PHP-FPM and nginx, and restart only the site's FPM master", () => {
    const shop = siteCommand(render.sites[0]!);
    expect(shop).toContain("php_admin_value[memory_limit] = 192M");
    expect(shop).toContain("put_file '/etc/php/8.2/fpm/sites/shop_example_com.conf'");
    expect(shop).toContain("include = /etc/php/8.2/fpm/pool.d/shop_example_com.conf");
    expect(shop.indexOf("checked php-fpm8.2 -t --fpm-config /etc/php/8.2/fpm/sites/shop_example_com.conf")).toBeLessThan(shop.indexOf("checked nginx -t"));
    expect(shop).toContain("systemctl restart php8.2-fpm-site@shop_example_com.service");
    expect(shop).not.toContain("legacy_example_com");
    expect(shop).not.toMatch(/systemctl (reload|restart) php8\.2-fpm\.service/);
  });

  it("enable an Apache site and check Apache before nginx reloads", () => {
    const legacy = siteCommand(render.sites[1]!);
    expect(legacy).toContain("a2ensite -q legacy_example_com");
    expect(legacy).toContain("checked apache2ctl -t");
    expect(legacy).toContain(`restore_hooks+=("[ -e /etc/apache2/sites-available/legacy_example_com.conf ] || a2dissite -q legacy_example_com")`);
  });

  it("remove a site's vhost, pool, FPM master and user when it leaves the config", () => {
    const removal = siteDeleteCommand(render.sites[1]!);
    expect(removal).toContain("systemctl disable --now php8.2-fpm-site@legacy_example_com.service");
    expect(removal).toContain("a2dissite -q legacy_example_com");
    expect(removal).toMatch(/rm -f .*\/etc\/nginx\/sites-enabled\/legacy_example_com\.conf.*\/etc\/php\/8\.2\/fpm\/sites\/legacy_example_com\.conf/);
    expect(removal).toContain("userdel legacy_example_com");
  });

  it("leave the distribution's per-version FPM master unused and masked", () => {
    const web = webTierCommand(render, bookworm);
    expect(web).toContain("systemctl mask php8.2-fpm.service");
    expect(web).toContain("put_file '/etc/systemd/system/php8.2-fpm-site@.service'");
    expect(web).not.toContain("put_file '/etc/php/8.2/fpm/php-fpm.conf'");
  });
});

describe("load balancer step", () => {
  it("balances over the web hosts' private addresses and checks the file with haproxy -c before reloading", () => {
    const stack = parseStack({
      phase: "horizontal",
      target: "existing",
      nodes: { web: 2, worker: 1 },
      hosts: {
        loadbalancer: [{ address: "10.0.0.9" }],
        web: [{ address: "10.0.0.2" }, { address: "10.0.0.3" }],
        redis: [{ address: "10.0.0.4" }],
        mysql: [{ address: "10.0.0.5" }],
        worker: [{ address: "10.0.0.6" }],
      },
    });
    const plan = planSteps(stack, planTopology(stack));
    const step = plan.steps.find((each) => each.name === "loadbalancer-1-haproxy");
    if (step?.kind !== "command") throw new Error("no HAProxy step");
    const command = step.render(plannedFacts(plan)).create;
    expect(command).toMatch(/server web-1 10\.0\.0\.2:80/);
    expect(command).toMatch(/server web-2 10\.0\.0\.3:80/);
    expect(command.indexOf("checked haproxy -c -f /etc/haproxy/haproxy.cfg")).toBeLessThan(command.indexOf("systemctl reload haproxy"));
  });
});
