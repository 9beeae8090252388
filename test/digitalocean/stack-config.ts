import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import { Workspace, repoRoot } from "../engine/pulumi";
import { adminCidr, bootstrapKey } from "../phases/fixtures";

/** The sites and SSH settings every DigitalOcean engine test deploys, under the given infrastructure keys. */
export function digitalOceanSettings(infrastructure: Record<string, unknown>): Record<string, unknown> {
  return {
    target: "digitalocean",
    region: "fra1",
    sshPublicKeys: [bootstrapKey],
    adminCidrs: [adminCidr],
    sites: [
      { domain: "shop.example.com", database: {} },
      { domain: "blog.example.com", webServer: "apache" },
    ],
    ...infrastructure,
  };
}

/** The same settings as a stack file's `megaweb:*` config. */
export function digitalOceanStackConfig(infrastructure: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(digitalOceanSettings(infrastructure)).map(([key, value]) => [`megaweb:${key}`, value]));
}

/** Rewrites a workspace's stack file with these settings, keeping its salt and its encrypted SSH key and reserved-IP token. */
export async function writeDigitalOceanStack(workspace: Workspace, infrastructure: Record<string, unknown>): Promise<void> {
  const file = parse(await readFile(workspace.configFile!, "utf8"));
  file.config = {
    ...digitalOceanStackConfig(infrastructure),
    "megaweb:sshPrivateKey": file.config["megaweb:sshPrivateKey"],
    "megaweb:reservedIpToken": file.config["megaweb:reservedIpToken"],
  };
  await writeFile(workspace.configFile!, stringify(file));
}

/**
 * The repo's program on a DigitalOcean stack file with its own SSH key, previewed offline: the
 * provider needs a token to start and calls no API in a preview, so a dummy one does.
 */
export async function digitalOceanWorkspace(): Promise<Workspace> {
  const workspace = await Workspace.forRepoProgram(join(repoRoot, "stacks/Pulumi.do-example.yaml"));
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(workspace.dir, "key")]);
  await workspace.setConfig("megaweb:sshPrivateKey", await readFile(join(workspace.dir, "key"), "utf8"), { secret: true });
  await workspace.setConfig("megaweb:reservedIpToken", "dop_v1_0123456789abcdef0123456789abcdef", { secret: true });
  process.env.DIGITALOCEAN_TOKEN = "dop_v1_dummy";
  return workspace;
}

const run = promisify(execFile);
