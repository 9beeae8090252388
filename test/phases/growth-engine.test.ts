import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Workspace, planOf, repoRoot } from "../engine/pulumi";

// The mock tests check that a grown phase aliases the former phase's type; this checks, with
// the real engine and state, that the engine hands those aliases down so kept children stay put.
describe("growing a phase with the real engine", () => {
  let workspace: Workspace;

  beforeAll(async () => {
    workspace = await Workspace.create(join(repoRoot, "test/fixtures/phase-growth"));
    await workspace.setConfig("repo", repoRoot);
    await workspace.setConfig("phase", "single");
    await workspace.up();
  });

  afterAll(async () => {
    await workspace?.remove();
  });

  it("single → four-server keeps the node and its resource: the same resources under the new type", async () => {
    await workspace.setConfig("phase", "four-server");
    const preview = await workspace.preview(["--expect-no-changes", "--show-sames"]);
    expect(preview.changeSummary).toEqual({ same: 4 });
    expect(preview.steps.map((step) => step.urn.split("::").slice(2).join("::"))).toContain(
      "megaweb:phases:FourServer$megaweb:digitalocean:Node$command:local:Command::megaweb-test-web-1",
    );
  });

  it("would rebuild them without the aliases, so the aliases are what keeps them", async () => {
    await workspace.setConfig("withoutAliases", "true");
    const preview = await workspace.preview();
    expect(planOf(preview)).toContain("create command:local:Command megaweb-test-web-1");
    expect(planOf(preview)).toContain("delete command:local:Command megaweb-test-web-1");
  });
});
