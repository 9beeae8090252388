import { createHash } from "node:crypto";
import type { SiteCode } from "../schema/deploy";
import type { Site } from "../schema/site";
import { poolCheckPrefix } from "./balanced-web";
import { drainScriptPath } from "./balancer-agent";
import type { HostContext, SiteContext } from "./context";
import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * Site code deploys: one host-wide script, `megaweb-deploy` (templates/deploy/megaweb-deploy.sh),
 * and per site with code its settings, `/etc/megaweb/deploy/<slug>.conf`. The script does the
 * whole deploy on the host (fetch, build as the site's user, migrate once per release, atomic
 * switch, graceful pool reload, worker restart, retention); the step that runs it only passes the
 * site's slug, so the same command serves a provisioning step, a rollback and an operator.
 */

export interface SiteDeployRender {
  readonly domain: string;
  readonly slug: string;
  /** The site's deploy settings (no secrets: those stay in the site's `.env`). */
  readonly config: HostFile;
  /** Deploys what the config names; nothing when that release is live already. */
  readonly deployCommand: string;
  /** Switches back to the release live before the current one, without building. */
  readonly rollbackCommand: string;
  /** Prints the kept releases, newest first, the live one marked with `*`. */
  readonly listCommand: string;
  /** Where the site's releases live; `<home>/current` links to the live one. */
  readonly home: string;
}

export interface DeployNode {
  /** Worker units on this host that run the site's code (lib/render/site-workers.ts); restarted after a switch. @default [] */
  readonly workerUnits?: readonly string[];
}

export function deployScriptPath(host: HostContext): string {
  return host.path("/usr/local/sbin/megaweb-deploy");
}

/** The host-wide deploy script, the same for every site. */
export function renderDeployScript(host: HostContext): HostFile {
  return {
    path: deployScriptPath(host),
    content: renderTemplate("deploy/megaweb-deploy.sh", { configDir: host.path("/etc/megaweb/deploy"), drainScript: drainScriptPath(host), poolCheckPrefix }),
    mode: "0755",
  };
}

/** A site's deploy settings; the site must have `code`. */
export function renderSiteDeploy(site: Site & { code: SiteCode }, context: SiteContext, host: HostContext, node: DeployNode = {}): SiteDeployRender {
  const { code } = site;
  const script = deployScriptPath(host);
  const content = renderTemplate("deploy/site.conf", {
    domain: site.domain,
    slug: context.slug,
    user: context.account.user,
    group: context.account.group,
    webGroup: context.webServerAccount.group,
    home: context.home,
    source: code.repository === undefined ? "archive" : "git",
    repository: shellWord(code.repository ?? ""),
    ref: shellWord(code.ref ?? ""),
    archive: shellWord(code.archive ?? ""),
    stripComponents: code.stripComponents,
    recipe: releaseRecipe(code),
    defaultBuild: code.build === undefined,
    buildCommands: (code.build ?? []).map(shellWord).join(" "),
    migrateCommand: shellWord(code.migrate ?? ""),
    timeout: code.timeout,
    sharedDirectories: code.shared.directories.map(shellWord).join(" "),
    sharedFiles: code.shared.files.map(shellWord).join(" "),
    keepReleases: code.keepReleases,
    pinnedRelease: code.release ?? "''",
    fpmUnit: context.pool?.unit ?? "''",
    workerUnits: (node.workerUnits ?? []).join(" "),
  });
  return {
    domain: site.domain,
    slug: context.slug,
    config: { path: host.path(`/etc/megaweb/deploy/${context.slug}.conf`), content },
    deployCommand: `${script} ${context.slug}`,
    rollbackCommand: `${script} ${context.slug} --rollback`,
    listCommand: `${script} ${context.slug} --list`,
    home: context.home,
  };
}

/**
 * The part of a release id that is not the code: what shapes the release directory (source kind,
 * unpacking, build, shared paths). Changing any of it builds a new release from the same code.
 */
export function releaseRecipe(code: SiteCode): string {
  const recipe = {
    source: code.repository === undefined ? { archive: code.stripComponents } : "git",
    build: code.build ?? "composer when composer.json",
    shared: code.shared,
  };
  return createHash("sha256").update(JSON.stringify(recipe)).digest("hex").slice(0, 6);
}

/**
 * The body of a site's deploy step (`templates/provision/site-deploy.sh`): the script and the
 * site's settings written like every step's files, then the deploy itself.
 */
export function renderSiteDeployStep(render: SiteDeployRender, script: HostFile, writeFiles: (files: readonly HostFile[]) => string): string {
  return renderTemplate("provision/site-deploy.sh", { domain: render.domain, files: writeFiles([script, render.config]), deployCommand: render.deployCommand });
}

/**
 * What `megaweb rollback <stack> <site>` does (phase B adds it to cli/): rollback as a config
 * change. From the kept releases the live host reports (`megaweb-deploy <slug> --list`), the one
 * live before the current becomes the site's pinned `code.release`; `pulumi up` then switches
 * every node to it without building, and removing the pin deploys `ref` again.
 */
export interface RollbackPlan {
  /** The stack file's key to set, e.g. `sites[0].code.release`. */
  readonly configPath: string;
  readonly release: string;
  /** The release that stops being live. */
  readonly from: string;
}

/** Parses `megaweb-deploy --list` output and picks the release to pin; an Error says why there is none. */
export function planRollback(siteIndex: number, listing: string): RollbackPlan | Error {
  const releases = listing
    .split("\n")
    .map((line) => /^([* ]) ([0-9a-f]{12}-[0-9a-f]{6}) /.exec(line))
    .filter((match) => match !== null)
    .map((match) => ({ live: match[1] === "*", id: match[2]! }));
  const liveIndex = releases.findIndex((release) => release.live);
  if (liveIndex < 0) return new Error("no release of the site is live on the host");
  // The listing is newest first by the time each release was last live.
  const previous = releases.find((release) => !release.live);
  if (previous === undefined) return new Error(`only release ${releases[liveIndex]!.id} is kept; there is nothing to roll back to`);
  return { configPath: `sites[${siteIndex}].code.release`, release: previous.id, from: releases[liveIndex]!.id };
}

const shellWord = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
