import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { repoRoot, Workspace } from "../engine/pulumi";

/**
 * `megaweb loadtest` on a DigitalOcean stack file asks `pulumi stack output` of the stack the
 * file names, in the project the file belongs to, with the caller's backend. The deployed stack
 * is a program exporting the megaweb program's outputs, up on a local file backend.
 */

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMegawebTestKeyOnly ci";

/** The bin as a user runs it, in the workspace's environment (PATH with the engine, its backend and passphrase). */
function megaweb(workspace: Workspace, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      join(repoRoot, "node_modules/.bin/tsx"),
      [join(repoRoot, "cli/megaweb.ts"), ...argv],
      { cwd: workspace.dir, env: workspace.env },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr }),
    );
  });
}

/** Adds megaweb keys to the stack file `pulumi stack init` wrote (it holds the passphrase salt). */
async function addStackConfig(file: string, config: Record<string, unknown>): Promise<void> {
  const document = (parse(await readFile(file, "utf8").catch(() => "")) ?? {}) as { config?: Record<string, unknown> };
  await writeFile(file, stringify({ ...document, config: { ...document.config, ...config } }));
}

describe("megaweb loadtest on a deployed DigitalOcean stack", { timeout: 300_000 }, () => {
  let workspace: Workspace;
  let stackFile: string;

  beforeAll(async () => {
    workspace = await Workspace.create(join(repoRoot, "test/loadtest/fixtures/deployed"), "prod");
    await workspace.up();
    stackFile = join(workspace.programDir, "Pulumi.prod.yaml");
    await addStackConfig(stackFile, {
      "megaweb:sshPublicKeys": [key],
      "megaweb:adminCidrs": ["198.51.100.0/24"],
      "megaweb:sites": [{ domain: "example.com" }],
    });
  });

  afterAll(async () => {
    await workspace?.remove();
  });

  it("allows the endpoint and the web hosts' addresses from pulumi stack output, and refuses any other before sending", async () => {
    const result = await megaweb(workspace, "loadtest", stackFile, "--target", "127.0.0.11", "--duration", "1s");
    expect(result.code).toBe(2);
    expect(result.stderr.split("\n")[0]).toBe(
      "megaweb loadtest: --target: 127.0.0.11 is not one of the stack's addresses: 127.0.0.1 (endpoint, web-1), 127.0.0.10 (web-1 private); pass --allow-any-target to load-test it anyway",
    );
  });

  it("says which stack pulumi could not answer for, and how to pass the outputs instead", async () => {
    const missing = join(workspace.programDir, "Pulumi.staging.yaml");
    await addStackConfig(missing, { "megaweb:sites": [{ domain: "example.com" }] });
    const result = await megaweb(workspace, "loadtest", missing, "--duration", "1s");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `^pulumi stack output --stack staging \\(in ${workspace.programDir}\\) failed: .*staging.*; or pass --outputs FILE saved from pulumi stack output --json\\n$`,
      ),
    );
  });
});
