import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Workspace, planOf, repoRoot } from "./pulumi";

const secretToken = "s3cr3t-engine-token";

// One stack lives through the whole lifecycle, so the tests run in order and share it. Each
// engine run takes seconds to tens of seconds, more while the rest of the suite loads the cores.
describe("the Pulumi engine on a local file backend", { timeout: 300_000 }, () => {
  let workspace: Workspace;
  let markerDir: string;

  beforeAll(async () => {
    workspace = await Workspace.create(join(repoRoot, "test/fixtures/engine/local"));
    markerDir = join(workspace.dir, "marker");
    await workspace.setConfig("markerDir", markerDir);
    await workspace.setConfig("greeting", "hello from stdin");
    await workspace.setConfig("token", secretToken, { secret: true });
  });

  afterAll(async () => {
    await workspace?.remove();
  });

  it("previews the stack and a local command as creates", async () => {
    const preview = await workspace.preview();
    expect(planOf(preview)).toEqual(["create pulumi:pulumi:Stack engine-local-test", "create command:local:Command marker"]);
    expect(preview.changeSummary).toEqual({ create: 2 });
  });

  it("runs the command on up with stdin and a secret environment, runs an invoke, and keeps the secret out of state", async () => {
    const output = await workspace.up();
    expect(output).toContain("2 created");
    expect(await readFile(join(markerDir, "greeting"), "utf8")).toBe("hello from stdin");
    expect(await readFile(join(markerDir, "token-length"), "utf8")).toBe(String(secretToken.length));

    const { stdout } = await workspace.pulumi(["stack", "output", "--json"]);
    expect(JSON.parse(stdout)).toMatchObject({ markerOutput: "created", invoked: "hello from stdin" });

    const state = await workspace.exportState();
    expect(state).toContain('"stdout": "created"');
    expect(state).not.toContain(secretToken);
    expect(output).not.toContain(secretToken);
  });

  it("plans no change when nothing changed", async () => {
    const preview = await workspace.preview(["--expect-no-changes"]);
    expect(preview.changeSummary).toEqual({ same: 2 });
  });

  it("replaces the command when a trigger changes, naming the trigger as the reason", async () => {
    await workspace.setConfig("revision", "2");
    const preview = await workspace.preview();
    const marker = preview.steps.find((step) => step.urn.endsWith("::marker"));
    // The upstream provider names the replacing property in the detailed diff, not in replaceReasons.
    expect(marker).toMatchObject({ op: "replace", diffReasons: ["triggers"], detailedDiff: { "triggers[0]": { kind: "update-replace" } } });
  });

  it("runs the delete command with the create output on destroy", async () => {
    await workspace.up();
    await workspace.destroy();
    // The delete step only succeeds when PULUMI_COMMAND_STDOUT carried create's "created".
    expect(existsSync(join(markerDir, "greeting"))).toBe(false);
    expect(existsSync(join(markerDir, "token-length"))).toBe(false);
  });
});

describe("engine pins", () => {
  // The engine and the SDK speak one protocol version per minor line; pulumi-engine.md asks to keep them together.
  it("builds the CLI on the same minor line as the @pulumi/pulumi the program loads", async () => {
    const goMod = await readFile(join(repoRoot, "scripts/engine/pulumi/go.mod"), "utf8");
    const cli = /github\.com\/pulumi\/pulumi\/pkg\/v3 v(\d+\.\d+)\.\d+/.exec(goMod)?.[1];
    const sdk = JSON.parse(await readFile(join(repoRoot, "node_modules/@pulumi/pulumi/package.json"), "utf8")).version as string;
    expect(cli).toBeDefined();
    expect(sdk.split(".").slice(0, 2).join(".")).toBe(cli);
  });
});
