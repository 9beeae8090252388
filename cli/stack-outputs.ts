import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { StackFileError } from "./stack-file";

/**
 * The outputs of a deployed stack (`endpoint`, `addresses`), for what only `pulumi up` knows:
 * the addresses DigitalOcean gave the droplets and the load balancer.
 */

/** JSON saved from `pulumi stack output --json`, for CI jobs that deploy in one step and test in another. */
export function readOutputsFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new StackFileError([`--outputs: ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`]);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new StackFileError([`--outputs: ${path} is not JSON; save it with pulumi stack output --json --stack <stack> > ${path}`]);
  }
}

/**
 * Runs `pulumi stack output --json --stack <name>` in the Pulumi project the stack file belongs to
 * (the nearest directory above it with a Pulumi.yaml: the checkout's root for `stacks/Pulumi.<name>.yaml`),
 * with the caller's environment, so the backend they are logged in to answers. Only non-secret
 * outputs come back: `--show-secrets` is never passed.
 */
export async function pulumiStackOutputs(stackFile: string, stackName: string): Promise<unknown> {
  const project = projectDirectory(stackFile);
  if (project === undefined) {
    throw new StackFileError([`${stackFile}: no Pulumi.yaml above it, so pulumi stack output has no project to ask; pass --outputs FILE instead`]);
  }
  const stdout = await new Promise<string>((done, fail) =>
    execFile("pulumi", ["stack", "output", "--json", "--non-interactive", "--stack", stackName], { cwd: project, maxBuffer: 16 << 20 }, (error, out, err) => {
      if (error === null) return done(out);
      const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "pulumi is not on PATH" : (err.trim().split("\n").at(-1) ?? error.message);
      fail(
        new StackFileError([
          `pulumi stack output --stack ${stackName} (in ${project}) failed: ${reason}; or pass --outputs FILE saved from pulumi stack output --json`,
        ]),
      );
    }),
  );
  try {
    return JSON.parse(stdout);
  } catch {
    throw new StackFileError([`pulumi stack output --stack ${stackName}: did not print JSON`]);
  }
}

function projectDirectory(stackFile: string): string | undefined {
  for (let dir = dirname(resolve(stackFile)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "Pulumi.yaml"))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}
