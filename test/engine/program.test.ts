import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Workspace, planOf, repoRoot, type Preview } from "./pulumi";

const run = promisify(execFile);
const stackFile = join(repoRoot, "stacks/Pulumi.local.yaml");

/** The logical-name fragment the program derives from a site's domain. */
const siteKey = (domain: string) => domain.replaceAll(".", "_");

// The committed local stack on an existing host that is never contacted: a preview plans
// remote steps without connecting, so it needs no machine and no cloud credentials.
describe("the megaweb program under the real engine (existing target)", { timeout: 300_000 }, () => {
  let workspace: Workspace;
  let privateKey: string;
  let domains: string[];
  let preview: Preview;

  beforeAll(async () => {
    workspace = await Workspace.forRepoProgram(stackFile);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(workspace.dir, "key")]);
    privateKey = await readFile(join(workspace.dir, "key"), "utf8");
    await workspace.setConfig("megaweb:sshPrivateKey", privateKey, { secret: true });
    await workspace.pulumi(["config", "set", "--path", "megaweb:hosts.web[0].address", "198.18.0.77"]);
    domains = (parse(await readFile(stackFile, "utf8")).config["megaweb:sites"] as { domain: string }[]).map((site) => site.domain);
    preview = await workspace.preview();
  });

  afterAll(async () => {
    await workspace?.remove();
  });

  it("plans the single box and its provisioning as components, and only remote commands on the given host", () => {
    const plan = planOf(preview);
    expect(plan.slice(0, 3)).toEqual([
      "create pulumi:pulumi:Stack megaweb-test",
      "create megaweb:phases:SingleBox megaweb-test",
      "create megaweb:provision:Provisioning megaweb-test-provisioning",
    ]);
    const resources = preview.steps.filter((step) => !step.newState?.type.startsWith("megaweb:")).slice(1);
    expect(resources.length).toBeGreaterThan(0);
    for (const step of resources) expect(step.newState?.type).toBe("command:remote:Command");
    expect(preview.changeSummary).toEqual({ create: plan.length });
  });

  it("plans the host's role steps and every site's steps from the stack file", () => {
    const names = preview.steps.map((step) => step.urn.split("::").at(-1));
    for (const role of ["facts", "base", "firewall", "redis", "web", "mysql"]) {
      expect(names).toContain(`megaweb-test-provisioning-web-1-${role}`);
    }
    for (const domain of domains) {
      for (const step of ["site", "db"]) expect(names).toContain(`megaweb-test-provisioning-web-1-${step}-${siteKey(domain)}`);
    }
  });

  it("connects every step to the configured host with the key kept secret", async () => {
    const remote = preview.steps.filter((step) => step.newState?.type === "command:remote:Command");
    const text = JSON.stringify(remote);
    expect(text).not.toContain("BEGIN OPENSSH PRIVATE KEY");
    const { stdout } = await workspace.pulumi(["preview", "--diff"]);
    expect(stdout).not.toContain("BEGIN OPENSSH PRIVATE KEY");
    expect(stdout).toContain("198.18.0.77");
  });

  it("pulumi about lists the program's packages, as the upstream language host reads them", async () => {
    const { stdout } = await workspace.pulumi(["about"]);
    const dependencies = stdout.slice(stdout.indexOf("Dependencies:"));
    for (const name of ["@pulumi/pulumi", "@pulumi/command", "@pulumi/digitalocean", "zod"]) expect(dependencies).toContain(name);
    expect(stdout).toMatch(/nodejs\s+unknown|nodejs\s+3\.259\.0/);
  });

  it("refuses a receiver's credential stored in plain text, and keeps it out of the plan once stored as a secret", async () => {
    const token = "megaweb:monitoring.receivers.webhooks[0].bearerToken";
    await workspace.pulumi(["config", "set", "--path", "megaweb:monitoring.receivers.webhooks[0].url", "https://hooks.example.com/megaweb"]);
    // Pulumi asks before storing a value named like a secret in the clear; --plaintext is someone insisting.
    await workspace.pulumi(["config", "set", "--plaintext", "--path", token, "token-in-the-clear"]);
    await expect(workspace.preview()).rejects.toThrow(
      "megaweb:monitoring.receivers.webhooks[0].bearerToken: is in plain text; store it with pulumi config set --secret --path 'monitoring.receivers.webhooks[0].bearerToken'",
    );
    await workspace.pulumi(["config", "set", "--secret", "--path", token, "token-kept-secret"]);
    const secured = await workspace.preview();
    expect(secured.steps.map((step) => step.urn.split("::").at(-1))).toContain("megaweb-test-provisioning-web-1-secret-alert-webhook-1-token");
    expect(JSON.stringify(secured)).not.toContain("token-kept-secret");
    await workspace.pulumi(["config", "rm", "megaweb:monitoring"]);
  });

  it("stops before planning anything when the stack config breaks a schema rule, naming the field", async () => {
    await workspace.pulumi(["config", "rm", "megaweb:hosts"]);
    await expect(workspace.preview()).rejects.toThrow(/megaweb:hosts\.web: the single phase needs 1 web host/);
  });
});
