import { renderTemplate } from "../../lib/render/template";
import { putFiles, stepCommand } from "../provision/script";
import type { Artifact } from "./artifact";

/** Where the orchestrator lives on a host. */
export const layout = {
  /** One directory per release, named by `Artifact.release`. */
  releases: "/opt/megaweb/orchestrator",
  environmentFile: "/etc/megaweb/orchestrator.env",
  /** Writable by any SSH user (so a sudo user's upload works) and kept across reboots. */
  uploadDir: "/var/tmp",
  /**
   * A leading underscore keeps it apart from every site account: those derive from domains and
   * start with a letter.
   */
  user: "_orchestrator",
  nodePath: "/usr/bin/node",
} as const;

export type OrchestratorUnit = "orchestrator-web.service" | "orchestrator-worker.service";

/** Where the host's copy of the artifact is uploaded. */
export function uploadPath(artifact: Artifact): string {
  return `${layout.uploadDir}/megaweb-orchestrator-${artifact.release}.tgz`;
}

const partials = { units: "app/units.sh" };

/** The units as `templates/systemd` has them, pointing at this release. */
export function renderUnit(unit: OrchestratorUnit, artifact: Artifact): string {
  return renderTemplate(`systemd/${unit}`, {
    version: artifact.version,
    installDir: `${layout.releases}/${artifact.release}`,
    nodePath: layout.nodePath,
    user: layout.user,
    environmentFile: layout.environmentFile,
  });
}

function view(units: readonly OrchestratorUnit[], port: number, artifact?: Artifact) {
  return {
    ...layout,
    units: units.join(" "),
    port,
    uploadPattern: "megaweb-orchestrator-*.tgz",
    ...(artifact && { version: artifact.version, sha256: artifact.sha256, release: artifact.release, upload: uploadPath(artifact) }),
  };
}

/** Node.js, the account, the release and the host's units; restarts only what changed. */
export function installCommand(units: readonly OrchestratorUnit[], port: number, artifact: Artifact): string {
  const unitFiles = putFiles(units.map((unit) => ({ path: `/etc/systemd/system/${unit}`, content: renderUnit(unit, artifact) })));
  return stepCommand(renderTemplate("app/install.sh", { ...view(units, port, artifact), unitFiles }, partials));
}

export function uninstallCommand(units: readonly OrchestratorUnit[]): string {
  return stepCommand(renderTemplate("app/uninstall.sh", view(units, 0)));
}

/** Writes the environment file from stdin and restarts the units already running. */
export function environmentCommand(units: readonly OrchestratorUnit[], port: number): string {
  return stepCommand(renderTemplate("app/environment.sh", { ...view(units, port), path: layout.environmentFile }, partials));
}

export function environmentDeleteCommand(): string {
  return stepCommand(renderTemplate("app/environment-delete.sh", { path: layout.environmentFile }));
}
