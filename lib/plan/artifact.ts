import type { Stack } from "../schema/stack";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** The app's release tarball as `npm run build -w app` writes it, identified by its content. */
export interface Artifact {
  /** Absolute path on the machine running Pulumi. */
  readonly path: string;
  readonly version: string;
  readonly sha256: string;
  /** `<version>-<first 12 hex of the sha256>`: a rebuilt tarball of the same version is still a new release. */
  readonly release: string;
}

const artifactName = /^megaweb-orchestrator-(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)\.tgz$/;

/** Reads and hashes the tarball; the hash, not the file's time, decides whether hosts get a new release. */
export function readArtifact(path: string): Artifact {
  const version = artifactName.exec(basename(path))?.[1];
  if (version === undefined) throw new Error(`${path}: an orchestrator artifact is named megaweb-orchestrator-<version>.tgz (npm run build -w app)`);
  if (!existsSync(path)) throw new Error(`${path} does not exist: build it with npm run build -w app, or pass the path of a built artifact`);
  const sha256 = createHash("sha256").update(readFileSync(path)).digest("hex");
  return { path, version, sha256, release: `${version}-${sha256.slice(0, 12)}` };
}

/** The artifact the app workspace of this checkout builds: `app/dist/megaweb-orchestrator-<version>.tgz`. */
export function defaultArtifactPath(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, "app", "package.json");
    if (existsSync(manifest)) {
      const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
      return join(dir, "app", "dist", `megaweb-orchestrator-${version}.tgz`);
    }
  }
  throw new Error(`no app/ workspace above ${__dirname}: pass the path of a built orchestrator artifact`);
}

/** The release an enabled app deploys: its configured artifact, or this checkout's build. */
export function appArtifact(stack: Pick<Stack, "app">): Artifact | undefined {
  return stack.app?.enabled ? readArtifact(stack.app.artifact ?? defaultArtifactPath()) : undefined;
}
