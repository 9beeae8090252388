import { execFile } from "node:child_process";
import { readFile, writeFile, mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { engineBin, repoRoot } from "./pulumi";

const run = promisify(execFile);
const workflowPath = join(repoRoot, ".github/workflows/pulumi.yml");

async function actionlint(file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run(join(engineBin, "actionlint"), ["-no-color", file], { cwd: repoRoot });
    return { code: 0, output: stdout };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, output: `${stdout}${stderr}` };
  }
}

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
}

async function pulumiSteps(job: string): Promise<Step[]> {
  const workflow = parse(await readFile(workflowPath, "utf8"));
  return (workflow.jobs[job].steps as Step[]).filter((step) => step.uses?.startsWith("pulumi/actions@"));
}

describe("the Pulumi GitHub Actions workflow", () => {
  it("passes actionlint, with shellcheck on its scripts", async () => {
    expect(await actionlint(workflowPath)).toEqual({ code: 0, output: "" });
  });

  it("is linted for real: an unknown pulumi/actions input and an unquoted shell variable are caught", async () => {
    const dir = await mkdtemp(join(tmpdir(), "megaweb-workflow-"));
    try {
      await mkdir(join(dir, ".github/workflows"), { recursive: true });
      const broken = join(dir, ".github/workflows/broken.yml");
      const text = await readFile(workflowPath, "utf8");
      await writeFile(broken, text.replace("comment-on-pr: true", "comment-on-pull-request: true").replace('>> "$GITHUB_OUTPUT"', ">> $GITHUB_OUTPUT"));
      const result = await actionlint(broken);
      expect(result.code).toBe(1);
      expect(result.output).toContain('input "comment-on-pull-request" is not defined in action "pulumi/actions@v6"');
      expect(result.output).toContain("SC2086");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("previews each stack on pull requests with the diff as a PR comment", async () => {
    const [preview] = await pulumiSteps("preview");
    expect(preview?.with).toMatchObject({ command: "preview", diff: true, "comment-on-pr": true });
  });

  it("checks drift on a schedule by refreshing and expecting no changes", async () => {
    const workflow = parse(await readFile(workflowPath, "utf8"));
    expect(workflow.on.schedule).toHaveLength(1);
    const [drift] = await pulumiSteps("drift");
    expect(drift?.with).toMatchObject({ command: "preview", refresh: true, "expect-no-changes": true });
  });

  it("previews every stack file in stacks/ but the local demo, the DigitalOcean example among them", async () => {
    const workflow = parse(await readFile(workflowPath, "utf8"));
    const script = (workflow.jobs.stacks.steps as { id?: string; run?: string }[]).find((step) => step.id === "stacks")!.run!;
    const dir = await mkdtemp(join(tmpdir(), "megaweb-workflow-"));
    try {
      const output = join(dir, "output");
      await run("bash", ["-euo", "pipefail", "-c", script], { cwd: repoRoot, env: { ...process.env, GITHUB_OUTPUT: output } });
      const names = JSON.parse((await readFile(output, "utf8")).replace(/^names=/, ""));
      expect(names).toContain("do-example");
      expect(names).not.toContain("local");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("takes the CLI version from the one pin, the engine's go.mod, not a literal", async () => {
    const text = await readFile(workflowPath, "utf8");
    expect(text).not.toMatch(/pulumi-version:\s*["']?\d/);
    for (const job of ["preview", "drift"]) {
      const [step] = await pulumiSteps(job);
      expect(step?.with?.["pulumi-version"]).toBe("${{ needs.stacks.outputs.pulumi-version }}");
    }
  });
});
