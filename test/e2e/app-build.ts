import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocument, type YAMLMap } from "yaml";
import { type LocalStack, repo } from "./local-stack";

/**
 * The orchestrator's artifact for the end-to-end tests: the repository's build, each stack's own
 * copy of it (so another build during a test is no new release), and rebuilds of that copy.
 */

const artifactName = "megaweb-orchestrator-0.1.0.tgz";

/** The build is reproducible: an unchanged app gives the same tarball, and so no new release. */
export function buildApp(): void {
  const build = spawnSync("npm", ["run", "build", "-w", "app"], { cwd: repo, encoding: "utf8", timeout: 300_000 });
  if (build.status !== 0) throw new Error(`npm run build -w app failed:\n${build.stdout}\n${build.stderr}`);
}

/** Edits the workspace's `megaweb:app`, keeping the rest of the stack file as it is. */
export function editApp(stack: LocalStack, edit: (app: YAMLMap) => void): void {
  const document = parseDocument(readFileSync(stack.configFile, "utf8"));
  edit(document.getIn(["config", "megaweb:app"]) as YAMLMap);
  writeFileSync(stack.configFile, document.toString());
}

/** The stack's own copy of the build, the one it deploys. */
export const stackBuild = (stack: LocalStack) => join(stack.workspace, artifactName);

/** Points a prepared stack at its own copy of the app's build and sets the API token. */
export function deployFromOwnBuild(stack: LocalStack, apiToken: string): string {
  const artifact = stackBuild(stack);
  copyFileSync(join(repo, "app", "dist", artifactName), artifact);
  editApp(stack, (app) => app.set("artifact", artifact));
  stack.setSecret("megaweb:apiToken", apiToken);
  return artifact;
}

/** Another build of the same version: the stack's build unpacked, changed by `change`, packed again. */
export function rebuilt(stack: LocalStack, name: string, change: (root: string) => void): string {
  const work = join(stack.workspace, name);
  mkdirSync(join(work, "dist"), { recursive: true });
  const tar = (args: string[]) => {
    const result = spawnSync("tar", args, { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`tar ${args.join(" ")}: ${result.stderr}`);
  };
  tar(["-xzf", stackBuild(stack), "-C", work]);
  change(join(work, "megaweb-orchestrator-0.1.0"));
  const artifact = join(work, "dist", artifactName);
  tar(["-czf", artifact, "-C", work, "megaweb-orchestrator-0.1.0"]);
  return artifact;
}
