import { existsSync } from "node:fs";
import path from "node:path";

/**
 * Folders shipped next to the code: beside the bundle in the artifact (dist/web.js, dist/migrations),
 * one level up in the source tree (src/web.ts, migrations/).
 */
export function assetDir(name: "migrations" | "public"): string {
  const candidates = [path.join(__dirname, name), path.join(__dirname, "..", name)];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`${name}/ not found next to the orchestrator code (looked in ${candidates.join(", ")})`);
  return found;
}
