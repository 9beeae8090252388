/**
 * `npm run lint`'s check of templates/**\/*.sh. The templates are Mustache (`{{#fpm}}` lines are
 * not shell), so what shellcheck reads is what runs on a host: every step script of a set of
 * stacks that uses every feature, rendered by the step plan, on Debian and on Ubuntu. So that no
 * branch escapes, every template line without a placeholder must appear in some checked script.
 * Shell files a step writes onto a host (megaweb-backup, megaweb-restore, certbot's deploy hook:
 * every rendered file starting with `#!`) are checked too, as the shell their first line names.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { planTopology } from "../lib/plan/topology";
import { parseStack } from "../lib/schema/stack";
import { planSteps } from "../lib/steps/plan";
import { plannedFacts } from "../lib/steps/planned-facts";

const repo = join(__dirname, "..");
const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnmPRvX2XbQ3RRkXhhD0yRSsOEv7Ba9rTfZrgqlIWcm ops@example";
const certificate = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const sites = [
  { domain: "shop.example.com", database: {}, php: { memoryLimit: "64M", extensions: ["mysql", "redis"] }, pool: { maxChildren: 2 } },
  { domain: "legacy.example.com", webServer: "apache", phpVersion: "8.3", php: { memoryLimit: "64M" }, pool: { pm: "dynamic", maxChildren: 2 } },
  { domain: "ols.example.com", webServer: "openlitespeed", php: { memoryLimit: "64M" }, pool: { maxChildren: 2 } },
  { domain: "files.example.com", kind: "static", tls: { mode: "custom", certificate, key: { secure: "v1:abc" } } },
  // Code deploys, workers and a schedule: their deploy, workers and (on worker-only hosts) runtime steps.
  {
    domain: "app.example.com",
    database: {},
    php: { memoryLimit: "64M", extensions: ["mysql", "redis"] },
    pool: { maxChildren: 2 },
    code: { repository: "https://git.example.com/app.git", migrate: "php artisan migrate --force" },
    workers: [{ command: "php artisan queue:work" }],
    schedule: "laravel",
  },
];
const letsencrypt = { domain: "secure.example.com", kind: "static", tls: { mode: "letsencrypt", email: "ops@example.com" } };
const app = { domain: "orchestrator.example.com" };
const artifact = { path: "/srv/megaweb-orchestrator-0.1.0.tgz", version: "0.1.0", sha256: "ab".repeat(32), release: "0.1.0-abababababab" };
const existing = (roles: Record<string, number>) =>
  Object.fromEntries(Object.entries(roles).map(([role, count]) => [role, Array.from({ length: count }, (_, index) => ({ address: `198.18.0.${index + 2}` }))]));
const stacks = [
  {
    phase: "single",
    target: "existing",
    hosts: existing({ web: 1, backup: 1 }),
    sites: [...sites, letsencrypt],
    app,
    backups: { destination: { kind: "sftp" } },
  },
  {
    phase: "four-server",
    target: "existing",
    // The growth's moves and the steps that forget the copies they leave.
    forgetMovedData: true,
    hosts: existing({ web: 1, redis: 1, mysql: 1, worker: 1 }),
    sites: [...sites, { ...letsencrypt, tls: { mode: "letsencrypt" } }],
    app,
    certificates: { acmeDirectory: "letsencrypt-staging" },
    backups: {
      destination: { kind: "s3", endpoint: "https://fra1.digitaloceanspaces.com", bucket: "example-backups", accessKeyId: "DO00ABCDEFGHIJKLMNOP" },
    },
  },
  // Let's Encrypt on two web nodes: the issuer, the other's receiver, the push.
  {
    phase: "horizontal",
    target: "existing",
    nodes: { web: 2, worker: 1 },
    hosts: existing({ loadbalancer: 1, web: 2, redis: 1, mysql: 1, worker: 1 }),
    sites: [...sites, letsencrypt],
  },
  // Existing hosts, so the replication and Sentinel steps name real addresses and the balancer pair gets keepalived.
  {
    phase: "ha",
    target: "existing",
    sshPublicKeys: [key],
    adminCidrs: ["203.0.113.0/24"],
    nodes: { web: 2, worker: 1 },
    loadBalancer: { kind: "haproxy", virtualAddress: "198.18.0.50/24" },
    hosts: existing({ loadbalancer: 2, web: 2, redis: 3, sentinel: 3, mysql: 3, worker: 1 }),
    sites: sites.slice(0, 1),
    app,
  },
];
const releases = [
  { os: "debian", codename: "bookworm" },
  { os: "ubuntu", codename: "jammy" },
];

/** The script a step runs: the body of `stepCommand`'s heredoc, or the facts step's own script. */
const scriptOf = (command: string) => /^script=\$\(cat <<'MEGAWEB_STEP'\n([\s\S]*)\nMEGAWEB_STEP\n\)/.exec(command)?.[1] ?? command;

const scripts = new Map<string, string>();
const hostScripts = new Map<string, string>();
for (const input of stacks) {
  const stack = parseStack(input);
  const plan = planSteps(stack, planTopology(stack), { artifact });
  const planned = plannedFacts(plan);
  for (const release of releases) {
    const at = { ...planned, facts: (host: string) => ({ ...planned.facts(host), ...release }) };
    for (const step of plan.steps) {
      if (step.kind !== "command") continue;
      const { create, delete: undo, files } = step.render(at);
      for (const file of files)
        if (/^#!\S*\/(ba)?sh\b/.test(file.content)) hostScripts.set(createHash("sha256").update(file.content).digest("hex"), file.content);
      for (const command of [create, undo ?? ""].filter(Boolean)) {
        const script = scriptOf(command);
        scripts.set(createHash("sha256").update(script).digest("hex"), script);
      }
    }
  }
}

const templates = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? templates(join(dir, entry.name)) : entry.name.endsWith(".sh") ? [join(dir, entry.name)] : [],
  );
const checked = [...scripts.values()].join("\n");
const unreached = templates(join(repo, "templates")).flatMap((path) =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.includes("{{"))
    .filter((line) => !checked.includes(line))
    .map((line) => `${relative(repo, path)}: no rendered step script holds: ${line.trim()}`),
);

const dir = mkdtempSync(join(tmpdir(), "megaweb-step-scripts-"));
try {
  const files = [...scripts].map(([hash, script]) => {
    const file = join(dir, `${hash.slice(0, 12)}.sh`);
    writeFileSync(file, script);
    return file;
  });
  // Every script starts with the shared helpers (templates/provision/lib.sh), so a step that never
  // asks which release it runs on, or calls was_replaced only with a path, is not at fault:
  // SC2034 (os_id unused), SC2119/SC2120 (was_replaced's optional argument). /etc/os-release is
  // the host's, not ours to follow (SC1091).
  execFileSync("shellcheck", ["--shell=bash", "--exclude=SC1091,SC2034,SC2119,SC2120", ...files], { stdio: "inherit" });
  const hostFiles = [...hostScripts].map(([hash, script]) => {
    const file = join(dir, `host-${hash.slice(0, 12)}.sh`);
    writeFileSync(file, script);
    return file;
  });
  // The scripts source their rendered config, which shellcheck cannot follow (SC1090/SC1091), so
  // the variables it sets look unassigned (SC2154).
  execFileSync("shellcheck", ["--exclude=SC1090,SC1091,SC2154", ...hostFiles], { stdio: "inherit" });
  console.log(`shellcheck: ${files.length} step scripts and ${hostFiles.length} host scripts rendered from templates/**/*.sh are clean`);
} catch {
  console.error(`shellcheck found problems in the rendered step scripts (kept in ${dir})`);
  process.exit(1);
}
rmSync(dir, { recursive: true, force: true });
if (unreached.length > 0) {
  unreached.forEach((line) => console.error(line));
  process.exit(1);
}
