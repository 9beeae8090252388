import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Workspace, planOf, repoRoot } from "./pulumi";
import { LoopbackSshd } from "./sshd";

const run = promisify(execFile);

const secretToken = "r3mote-s3cr3t-token";

// One stack lives through the whole lifecycle, so the tests run in order and share it. Each
// engine run takes seconds to tens of seconds, more while the rest of the suite loads the cores.
describe("remote commands and copies over SSH under the real engine", { timeout: 300_000 }, () => {
  let sshd: LoopbackSshd;
  let workspace: Workspace;
  let remoteDir: string;

  beforeAll(async () => {
    sshd = await LoopbackSshd.start();
    workspace = await Workspace.create(join(repoRoot, "test/fixtures/engine/remote"));
    remoteDir = join(workspace.dir, "remote-host");
    await workspace.setConfig("remoteDir", remoteDir);
    await workspace.setConfig("port", String(sshd.port));
    await workspace.setConfig("privateKey", sshd.privateKey, { secret: true });
    await workspace.setConfig("token", secretToken, { secret: true });
    await workspace.setConfig("motd", "welcome, first edition");
    await workspace.setConfig("greeting", "hello over ssh");
  });

  afterAll(async () => {
    await workspace?.remove();
    await sshd?.stop();
  });

  it("previews three copies and a command without contacting the host", async () => {
    const plan = planOf(await workspace.preview());
    // The engine registers independent siblings in whatever order their inputs resolve; only the
    // stack before its children and the command after the copies it depends on are fixed.
    expect(plan[0]).toBe("create pulumi:pulumi:Stack engine-remote-test");
    expect(plan.slice(1, 4).sort()).toEqual([
      "create command:remote:CopyToRemote motd",
      "create command:remote:CopyToRemote page",
      "create command:remote:CopyToRemote site",
    ]);
    expect(plan.slice(4)).toEqual(["create command:remote:Command install"]);
    expect(existsSync(remoteDir)).toBe(false);
  });

  it("copies an archive and two assets, then runs the command with a secret on stdin, which no process list ever shows", async () => {
    // The sshd, the remote shell and the provider all run on this host: watch every process's arguments while up runs.
    let watching = true;
    const seen: string[] = [];
    const watcher = (async () => {
      while (watching) {
        seen.push((await run("ps", ["-eo", "args"], { maxBuffer: 16 * 1024 * 1024 })).stdout);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const output = await workspace.up().finally(() => (watching = false));
    await watcher;
    expect(seen.some((list) => list.includes("token-length"))).toBe(true);
    expect(seen.filter((list) => list.includes(secretToken))).toEqual([]);
    // logging "none": the listing the command prints is not shown while it runs.
    expect(output).not.toContain("site.css");
    expect(await readFile(join(remoteDir, "site/index.html"), "utf8")).toContain("copied by command:remote:CopyToRemote");
    expect(await readFile(join(remoteDir, "site/assets/site.css"), "utf8")).toBe("body { color: #333; }\n");
    expect(await readFile(join(remoteDir, "etc/motd"), "utf8")).toBe("welcome, first edition");
    expect(await readFile(join(remoteDir, "etc/index.html"), "utf8")).toContain("copied by command:remote:CopyToRemote");
    expect(await readFile(join(remoteDir, "greeting"), "utf8")).toBe("hello over ssh");
    expect(await readFile(join(remoteDir, "token-length"), "utf8")).toBe(String(secretToken.length));
  });

  it("records the command output encrypted, and neither the token nor the private key in state", async () => {
    const state = await workspace.exportState();
    expect(state).not.toContain(secretToken);
    expect(state).not.toContain("OPENSSH PRIVATE KEY");
    expect(state).not.toContain("site.css");
    const { stdout } = await workspace.pulumi(["stack", "output", "--json", "--show-secrets"]);
    expect(JSON.parse(stdout).listing).toMatch(/index\.html[\s\S]*site\.css/);
  });

  it("plans no change when nothing changed", async () => {
    const preview = await workspace.preview(["--expect-no-changes"]);
    expect(preview.changeSummary).toEqual({ same: 5 });
  });

  it("updates only the copy whose content changed, and writes the new content", async () => {
    await workspace.setConfig("motd", "welcome, second edition");
    const preview = await workspace.preview();
    expect(preview.changeSummary).toEqual({ same: 4, update: 1 });
    expect(preview.steps.find((step) => step.op === "update")).toMatchObject({
      urn: expect.stringMatching(/::motd$/),
      diffReasons: ["source"],
    });
    await workspace.up();
    expect(await readFile(join(remoteDir, "etc/motd"), "utf8")).toBe("welcome, second edition");
  });

  it("fails a command whose environment the host's sshd does not accept, naming the variable", async () => {
    await workspace.setConfig("probeEnvironment", "true");
    await expect(workspace.up()).rejects.toThrow(/could not set environment variable "PROBE"/);
    await workspace.pulumi(["config", "rm", "probeEnvironment"]);
  });

  it("runs the delete command on destroy", async () => {
    await workspace.destroy();
    expect(existsSync(remoteDir)).toBe(false);
  });
});
