import { describe, expect, it } from "vitest";
import { placeholderPattern, secretName } from "../../lib/plan/cluster";
import { planTopology } from "../../lib/plan/topology";
import { ConfigError } from "../../lib/schema/errors";
import { parseStack } from "../../lib/schema/stack";
import { filesPerHost, planSteps, type StepPlan } from "../../lib/steps/plan";
import { plannedFacts } from "../../lib/steps/planned-facts";

/** Certificates and backups in the step plan: which steps, on which host, after what, with which secrets. */

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnmPRvX2XbQ3RRkXhhD0yRSsOEv7Ba9rTfZrgqlIWcm ops@example";
const shop = { domain: "shop.example.com", database: {}, php: { memoryLimit: "96M", extensions: ["mysql", "redis"] }, pool: { maxChildren: 4 } };
const secure = { domain: "secure.example.com", kind: "static", tls: { mode: "letsencrypt", email: "ops@example.com" } };
const sftp = { destination: { kind: "sftp" } };

function plan(input: Record<string, unknown>): StepPlan {
  const stack = parseStack({ sshPublicKeys: [key], adminCidrs: ["203.0.113.0/24"], ...input });
  return planSteps(stack, planTopology(stack));
}
const step = (steps: StepPlan, name: string) => {
  const found = steps.steps.find((each) => each.name === name);
  if (found?.kind !== "command") throw new Error(`no command step ${name}`);
  return found;
};
const render = (steps: StepPlan, name: string) => step(steps, name).render(plannedFacts(steps));
const problems = (input: Record<string, unknown>) => {
  try {
    parseStack(input);
    return [];
  } catch (error) {
    return (error as ConfigError).message.split("\n");
  }
};

describe("certificates in the step plan", () => {
  const steps = plan({ sites: [shop, secure], certificates: { acmeDirectory: "letsencrypt-staging" } });

  it("issues each Let's Encrypt site in a step of its own after the site's step, and no other site gets one", () => {
    const certificate = step(steps, "web-1-site-secure_example_com-certificate");
    expect(certificate).toMatchObject({ host: "web-1", dependsOn: ["web-1-site-secure_example_com"], secrets: [], renderer: "certbot", undoable: true });
    expect(steps.steps.filter((each) => each.name.endsWith("-certificate")).map((each) => each.name)).toEqual(["web-1-site-secure_example_com-certificate"]);
    const script = render(steps, certificate.name).create;
    expect(script).toContain("certbot certonly --config /etc/megaweb/certbot/secure_example_com.ini");
    expect(script).toContain("server = https://acme-staging-v02.api.letsencrypt.org/directory");
    expect(render(steps, certificate.name).delete).toContain("certbot delete --cert-name secure.example.com --non-interactive");
  });

  it("lets the site's own step write the HTTP-only vhost until the certificate exists, so a new site never fails nginx -t", () => {
    const script = render(steps, "web-1-site-secure_example_com").create;
    const [tlsBranch, httpBranch] = script.split("\nelse\n");
    expect(tlsBranch).toContain("if [ -s /etc/letsencrypt/live/secure.example.com/fullchain.pem ]; then");
    expect(tlsBranch).toContain("ssl_certificate /etc/letsencrypt/live/secure.example.com/fullchain.pem;");
    expect(httpBranch).not.toContain("ssl_certificate");
    expect(httpBranch).not.toContain("Strict-Transport-Security");
    expect(httpBranch).toContain("/.well-known/acme-challenge/");
  });

  it("writes the renewal deploy hook and the certbot.service drop-in once per host", () => {
    const files = filesPerHost(steps, plannedFacts(steps))
      .get("web-1")!
      .map((file) => file.path);
    expect(files).toEqual(
      expect.arrayContaining(["/etc/letsencrypt/renewal-hooks/deploy/megaweb-reload-nginx", "/etc/systemd/system/certbot.service.d/megaweb.conf"]),
    );
  });
});

describe("certificates on more than one web node", () => {
  const hosts = {
    web: ["198.18.0.11", "198.18.0.12", "198.18.0.13"].map((address) => ({ address })),
    loadbalancer: [{ address: "198.18.0.10" }],
    worker: [{ address: "198.18.0.16" }],
  };
  const existing = { target: "existing", phase: "horizontal", loadBalancer: { kind: "haproxy" }, nodes: { web: 3, worker: 1 } };
  const steps = plan({ ...existing, hosts: { ...hosts, mysql: [{ address: "198.18.0.14" }], redis: [{ address: "198.18.0.15" }] }, sites: [shop, secure] });
  const names = (pattern: RegExp) => steps.steps.filter((each) => pattern.test(each.name)).map((each) => [each.name, each.dependsOn]);

  it("issues on the first web node alone, after every node's vhost can pass it a challenge, then pushes to the others before they serve it", () => {
    expect(planTopology(steps.stack).certificates).toEqual({ issuer: "web-1", receivers: ["web-2", "web-3"] });
    expect(names(/-certificate(-|$)/)).toEqual([
      ["web-1-certificate-issuer", ["web-1-web"]],
      [
        "web-1-site-secure_example_com-certificate",
        ["web-1-site-secure_example_com", "web-1-certificate-issuer", "web-2-site-secure_example_com", "web-3-site-secure_example_com"],
      ],
      ["web-2-certificate-receiver", ["web-2-web", "web-1-certificate-issuer"]],
      ["web-3-certificate-receiver", ["web-3-web", "web-1-certificate-issuer"]],
      ["web-1-certificate-push", ["web-1-site-secure_example_com-certificate", "web-2-certificate-receiver", "web-3-certificate-receiver"]],
      ["web-2-site-secure_example_com-certificate", ["web-2-site-secure_example_com", "web-1-certificate-push"]],
      ["web-3-site-secure_example_com-certificate", ["web-3-site-secure_example_com", "web-1-certificate-push"]],
    ]);
    expect(render(steps, "web-1-site-secure_example_com-certificate").create).toContain("certbot certonly");
    for (const name of ["web-2-site-secure_example_com-certificate", "web-1-certificate-push", "web-2-certificate-receiver"]) {
      expect(render(steps, name).create).not.toContain("certbot certonly");
    }
  });

  it("lets only the issuer's key in on the others, for the install command from the issuer's address, and knows their host keys", () => {
    const receiver = render(steps, "web-2-certificate-receiver");
    expect(receiver.create).toContain(
      'restrict,from="198.18.0.11",command="/usr/local/sbin/megaweb-install-certificate" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlannedKeyTheIssuingWebNodePushesCertificatesWith megaweb-certificates@web-1',
    );
    expect(receiver.create).toContain("domains=(secure.example.com )");
    expect(receiver.delete).toContain("grep -v ' megaweb-certificates@' /root/.ssh/authorized_keys");
    const push = render(steps, "web-1-certificate-push").create;
    expect(push).toContain("receivers=(198.18.0.12 198.18.0.13 )");
    expect(push).toContain("198.18.0.13 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlannedHostKeyOfAWebNodeTakingCertificatesFromIt");
    expect(push).toMatch(/\n\/usr\/local\/sbin\/megaweb-push-certificates\n/);
    const issuer = render(steps, "web-1-certificate-issuer").create;
    expect(issuer).toContain("ssh-keygen -q -t ed25519 -N '' -C 'megaweb-certificates@web-1' -f /etc/megaweb/certbot/push/id_ed25519");
    expect(issuer).toMatch(/listen 8402;[\s\S]*allow 198\.18\.0\.12;\n {4}allow 198\.18\.0\.13;\n {4}deny all;/);
  });

  it("has the other nodes' vhosts ask the issuer for a challenge they do not hold, and the issuer's answer only from its own webroot", () => {
    const upstream = render(steps, "web-2-web").files.find((file) => file.path === "/etc/nginx/conf.d/megaweb-acme-issuer.conf");
    expect(upstream?.content).toContain("server 198.18.0.11:8402;");
    expect(render(steps, "web-1-web").files.map((file) => file.path)).not.toContain("/etc/nginx/conf.d/megaweb-acme-issuer.conf");
    for (const name of ["web-2-site-secure_example_com", "web-2-site-secure_example_com-certificate"]) {
      expect(render(steps, name).create).toContain("try_files $uri @acme_issuer;");
      expect(render(steps, name).create).toContain("proxy_pass http://megaweb_acme_issuer;");
    }
    expect(render(steps, "web-1-site-secure_example_com").create).not.toContain("@acme_issuer");
    // Every site of a receiving node, Let's Encrypt or not, passes challenges on: a name can switch to it later.
    expect(render(steps, "web-2-site-shop_example_com").create).toContain("try_files $uri @acme_issuer;");
  });

  it("opens SSH and the challenge port between web nodes only when the stack has a Let's Encrypt site on several of them", () => {
    const rules = (stack: StepPlan) => stack.topology.firewall.filter((rule) => rule.role === "web" && (rule.port === 22 || rule.port === 8402));
    expect(rules(steps).map((rule) => [rule.port, rule.sources])).toEqual([
      [22, [{ kind: "role", role: "web" }]],
      [8402, [{ kind: "role", role: "web" }]],
    ]);
    const none = plan({ ...existing, hosts: { ...hosts, mysql: [{ address: "198.18.0.14" }], redis: [{ address: "198.18.0.15" }] }, sites: [shop] });
    expect(rules(none)).toEqual([]);
    expect(none.topology.certificates).toBeUndefined();
    expect(none.steps.filter((each) => each.name.includes("certificate"))).toEqual([]);
  });
});

describe("backups in the step plan", () => {
  it("single box with a backup host: the SFTP account on it, the password, the backup step, then the host's key let in", () => {
    const steps = plan({ target: "existing", hosts: { web: [{ address: "198.18.0.2" }], backup: [{ address: "198.18.0.3" }] }, sites: [shop], backups: sftp });
    expect(planTopology(steps.stack).hosts.map((host) => [host.name, host.roles])).toEqual([
      ["web-1", ["web", "mysql", "redis", "worker", "monitoring"]],
      ["backup-1", ["backup"]],
    ]);
    const backups = steps.steps.filter((each) => /-backup(-|$)/.test(each.name)).map((each) => [each.name, each.dependsOn, each.secrets.map(secretName)]);
    expect(backups).toEqual([
      ["backup-1-backup-server", ["backup-1-firewall"], []],
      ["web-1-backup-password", ["web-1-firewall"], ["backup-password"]],
      ["web-1-backup", ["web-1-backup-password", "backup-1-backup-server"], []],
      ["backup-1-backup-client-web-1", ["backup-1-backup-server", "web-1-backup"], []],
    ]);
    // The password travels on stdin only; the script that writes it names no secret.
    const password = render(steps, "web-1-backup-password");
    expect(password.create).not.toMatch(placeholderPattern);
    expect(password.stdin).toBe("<secret:backup-password>\n");
    const backup = render(steps, "web-1-backup");
    expect(backup.create).not.toMatch(placeholderPattern);
    expect(backup.create).toContain("export RESTIC_REPOSITORY='sftp:megaweb-backup:/srv/megaweb-backup/web-1'");
    expect(backup.create).toContain("HostName 198.18.0.3");
    expect(backup.create).toContain("198.18.0.3 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlannedHostKeyOfTheBackupHostPlannedHostKey");
    expect(backup.create).toMatch(/databases=\(shop_example_com\)/);
    // Only the backup host's own account accepts the host's key, for SFTP only.
    const client = render(steps, "backup-1-backup-client-web-1").create;
    expect(client).toContain("restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlannedKeyOfTheHostThatBacksUpPlannedKeyOfIt0 megaweb-backup@web-1");
    expect(render(steps, "backup-1-backup-server").create).toContain("ForceCommand internal-sftp");
  });

  it("renders every step from the inputs it declares alone, as the components resolve them, with one web node or several", () => {
    const single = plan({
      target: "existing",
      hosts: { web: [{ address: "198.18.0.2" }], backup: [{ address: "198.18.0.3" }] },
      sites: [shop, secure],
      backups: sftp,
    });
    const horizontal = plan({ phase: "horizontal", loadBalancer: { kind: "haproxy" }, nodes: { web: 2, backup: 1 }, sites: [shop, secure], backups: sftp });
    for (const steps of [single, horizontal]) renderStrictly(steps);
  });
});

/** Renders every command step with deploy facts that refuse what the step did not declare. */
function renderStrictly(steps: StepPlan): void {
  const planned = plannedFacts(steps);
  for (const each of steps.steps) {
    if (each.kind !== "command") continue;
    const declared = (kind: string, key: string) => {
      if (!each.inputs.some((input) => input.kind === kind && (input.kind === "output" ? input.step : input.host) === key)) {
        throw new Error(`${each.name} reads the ${kind} of ${key} without declaring it`);
      }
    };
    const strict = {
      facts: (host: string) => (declared("facts", host), planned.facts(host)),
      privateIp: (host: string) => (declared("privateIp", host), planned.privateIp(host)),
      output: (name: string) => (declared("output", name), planned.output(name)),
      dropletId: (host: string) => (declared("dropletId", host), planned.dropletId(host)),
      reservedIp: (host: string) => (declared("reservedIp", host), planned.reservedIp(host)),
    };
    expect(() => each.render(strict), each.name).not.toThrow();
  }
}

describe("backups in the step plan, per phase", () => {
  it("four servers: the site files from the web host, the databases from the MySQL primary and the RDB from the Redis primary", () => {
    const steps = plan({
      phase: "four-server",
      nodes: { backup: 1 },
      sites: [shop],
      app: { domain: "orchestrator.example.com" },
      backups: sftp,
    });
    const conf = (host: string) => render(steps, `${host}-backup`).files.find((file) => file.path.endsWith("backup.conf"))!.content;
    expect(conf("web-1")).toMatch(/^databases=\(\)$/m);
    expect(conf("web-1")).toContain("[shop.example.com]='/var/www/shop_example_com'");
    expect(conf("mysql-1")).toMatch(/^databases=\(shop_example_com megaweb\)$/m);
    expect(conf("mysql-1")).toMatch(/^redis_port=$/m);
    expect(conf("redis-1")).toMatch(/^redis_port=6379$/m);
    expect(steps.steps.some((each) => each.name.startsWith("worker-1-backup"))).toBe(false);
  });

  it("opens the backup host's SSH only to the hosts that back up there", () => {
    const topology = planTopology(parseStack({ phase: "four-server", nodes: { backup: 1 }, backups: sftp }));
    expect(topology.firewall.find((rule) => rule.role === "backup")).toMatchObject({
      port: 22,
      sources: [{ role: "web" }, { role: "mysql" }, { role: "redis" }].map((source) => ({ kind: "role", ...source })),
    });
  });

  it("refuses SFTP backups without a host when the stack has no backup host", () => {
    expect(problems({ backups: sftp })).toContain(
      "backups.destination.host: is required when the stack has no backup host (give one: nodes.backup: 1, or hosts.backup on existing hosts)",
    );
    expect(problems({ nodes: { backup: 2 } })).toContain("nodes.backup: the single phase allows at most 1 backup host, got 2");
  });
});
