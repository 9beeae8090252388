#!/usr/bin/env node
// Builds the one deployable artifact: dist/megaweb-orchestrator-<version>.tgz holding the bundled
// web and worker entries (Node 18, the distro Node.js of Debian 12 and Ubuntu 24.04), the SQL
// migrations and the control panel. Same sources, same bytes: the deploy step hashes the tarball,
// so an unchanged app must not look changed to Pulumi.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { version } = JSON.parse(readFileSync(path.join(appDir, "package.json"), "utf8"));
const name = `megaweb-orchestrator-${version}`;
const distDir = path.join(appDir, "dist");
// Each build stages in a directory of its own and renames its tarball into place: two builds at
// once (the ha and horizontal e2e start together) otherwise emptied each other's staging under tar,
// and a reader copied a half-written tarball whose hash then matched its own broken bytes.
mkdirSync(distDir, { recursive: true });
const workDir = mkdtempSync(path.join(distDir, ".build-"));
const stageDir = path.join(workDir, name);
mkdirSync(stageDir);

await build({
  entryPoints: { web: path.join(appDir, "src/web.ts"), worker: path.join(appDir, "src/worker.ts") },
  outdir: stageDir,
  bundle: true,
  platform: "node",
  target: "node18",
  format: "cjs",
  sourcemap: "linked",
  sourcesContent: false,
  legalComments: "linked",
  logLevel: "warning",
  // msgpackr (under BullMQ) tries this optional native addon and falls back to plain JS without it.
  external: ["msgpackr-extract"],
});

cpSync(path.join(appDir, "migrations"), path.join(stageDir, "migrations"), { recursive: true });
cpSync(path.join(appDir, "public"), path.join(stageDir, "public"), { recursive: true });
writeFileSync(
  path.join(stageDir, "package.json"),
  `${JSON.stringify({ name: "megaweb-orchestrator", version, private: true, engines: { node: ">=18" } }, null, 2)}\n`,
);

const tarball = path.join(distDir, `${name}.tgz`);
const staged = path.join(workDir, `${name}.tgz`);
// Sorted names, fixed times and owners, gzip without a timestamp: reproducible bytes.
execFileSync("sh", [
  "-c",
  `tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf - "$2" | gzip -n -9 > "$3"`,
  "tar",
  workDir,
  name,
  staged,
]);
const sha256 = createHash("sha256").update(readFileSync(staged)).digest("hex");
writeFileSync(`${staged}.sha256`, `${sha256}  ${name}.tgz\n`);
renameSync(staged, tarball);
renameSync(`${staged}.sha256`, `${tarball}.sha256`);
rmSync(workDir, { recursive: true, force: true });
console.log(`${tarball}\nsha256 ${sha256}`);
