import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Workspace, repoRoot } from "./pulumi";

const run = promisify(execFile);

interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run preview -- <args>` is `bash scripts/preview.sh <args>`; run the script the same way. */
function preview(args: string[], env: NodeJS.ProcessEnv): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [join(repoRoot, "scripts/preview.sh"), ...args], { cwd: repoRoot, env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("npm run preview", { timeout: 300_000 }, () => {
  let workspace: Workspace;
  let state: string;
  let env: NodeJS.ProcessEnv;
  let stackFile: string;
  let before: string;

  beforeAll(async () => {
    // A stack file with everything the program needs: the local stack pointed at an address
    // that is never contacted, and an SSH key encrypted under the stack's own salt.
    workspace = await Workspace.forRepoProgram(join(repoRoot, "stacks/Pulumi.local.yaml"), "scripted");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(workspace.dir, "key")]);
    await workspace.setConfig("megaweb:sshPrivateKey", await readFile(join(workspace.dir, "key"), "utf8"), { secret: true });
    await workspace.pulumi(["config", "set", "--path", "megaweb:hosts.web[0].address", "198.18.0.78"]);
    stackFile = workspace.configFile!;
    before = await readFile(stackFile, "utf8");
    state = await mkdtemp(join(tmpdir(), "megaweb-preview-state-"));
    env = {
      ...process.env,
      MEGAWEB_PREVIEW_STATE: state,
      PULUMI_HOME: join(state, "home"),
      PULUMI_CONFIG_PASSPHRASE: workspace.env.PULUMI_CONFIG_PASSPHRASE,
    };
  });

  afterAll(async () => {
    await workspace?.remove();
    if (state) await rm(state, { recursive: true, force: true });
  });

  it("prints a real preview as a diff of a stack file", async () => {
    const result = await preview([stackFile], env);
    expect(result.stderr).not.toContain("error:");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Previewing update (scripted)");
    expect(result.stdout).toMatch(/\+ megaweb:phases:SingleBox: \(create\)/);
    expect(result.stdout).toContain("198.18.0.78");
    expect(result.stdout).not.toContain("BEGIN OPENSSH PRIVATE KEY");
    expect(result.stdout).toMatch(/Resources:\s+\+ \d+ to create/);
  });

  it("previews the committed DigitalOcean example offline, with no token and no SSH key set", async () => {
    const { DIGITALOCEAN_TOKEN: _token, ...withoutToken } = env;
    const result = await preview(["do-example"], withoutToken);
    expect(result.stderr).toContain("DIGITALOCEAN_TOKEN is not set; the preview runs offline");
    expect(result.code).toBe(0);
    expect(`${result.stdout}${result.stderr}`).toContain("megaweb:sshPrivateKey is not set: the provisioning steps preview without it");
    expect(result.stdout).toMatch(/\+ megaweb:phases:Horizontal: \(create\)/);
    expect(result.stdout).toMatch(/\+ digitalocean:index\/loadBalancer:LoadBalancer: \(create\)/);
    expect(result.stdout).not.toContain("error:");
  });

  it("leaves the stack file as it was", async () => {
    expect(await readFile(stackFile, "utf8")).toBe(before);
  });

  it("lists the stacks when none is named", async () => {
    const result = await preview([], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^usage: npm run preview -- <stack \| path\/to\/Pulumi\.<stack>\.yaml>\s+\(stacks: .*local/);
  });

  it("names the missing stack file", async () => {
    const result = await preview(["no-such-stack"], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("preview: no stack file stacks/Pulumi.no-such-stack.yaml");
  });

  it("refuses the local-only passphrase in CI", async () => {
    const result = await preview([stackFile], { ...env, CI: "true", PULUMI_CONFIG_PASSPHRASE: "" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("set PULUMI_CONFIG_PASSPHRASE in CI");
  });
});
