import { apacheModules } from "../../lib/render/apache";
import { olsServerRoot } from "../../lib/render/openlitespeed";
import type { HostDirectory, HostFile, SiteRender, WebHostRender } from "../../lib/render/files";
import { renderTemplate } from "../../lib/render/template";
import type { ServerFacts } from "./base";
import { putFiles, stepCommand } from "./script";

/** PHP each release ships itself; other versions come from Ondřej Surý's repositories. */
const distributionPhp: Readonly<Record<string, string>> = { bookworm: "8.2", trixie: "8.4", jammy: "8.1", noble: "8.3" };

/** `php8.2-fpm` → `8.2` */
const fpmPackage = /^php(\d\.\d)-fpm$/;

function phpVersionsOf(packages: readonly string[]): string[] {
  return packages.flatMap((name) => fpmPackage.exec(name)?.[1] ?? []);
}

/** The repository step for PHP versions the host's release does not ship; empty when it ships them all. */
export function phpRepositoryScript(facts: Pick<ServerFacts, "os" | "codename">, versions: readonly string[]): string {
  const foreign = versions.filter((version) => distributionPhp[facts.codename] !== version);
  if (foreign.length === 0) return "";
  if (facts.os !== "debian" && facts.os !== "ubuntu") throw new Error(`PHP ${foreign.join(", ")} needs Debian or Ubuntu, not ${facts.os}`);
  return renderTemplate(`provision/php-repository-${facts.os}.sh`, { versions: foreign.join(", "), codename: facts.codename });
}

const unitPath = (version: string) => `/etc/systemd/system/php${version}-fpm-site@.service`;
const fpmUnit = (version: string, slug: string) => `php${version}-fpm-site@${slug}.service`;
const fpmMaster = (version: string, slug: string) => `/etc/php/${version}/fpm/sites/${slug}.conf`;

/** Host-wide web tier: packages, nginx.conf and its snippets, php.ini settings, Apache's listener. */
export function webRoleCommand(render: WebHostRender, facts: ServerFacts): string {
  const versions = phpVersionsOf(render.packages);
  const apache = render.packages.includes("apache2");
  const openlitespeed = render.packages.includes("openlitespeed");
  const packages = [...render.packages, ...versions.map((version) => `php${version}-cli`)];
  const body = renderTemplate("provision/web.sh", {
    phpRepository: phpRepositoryScript(facts, versions),
    openLiteSpeedRepository: openlitespeed ? renderTemplate("provision/openlitespeed-repository.sh", { codename: facts.codename }) : "",
    openlitespeed,
    packages: [...new Set(packages)].sort().join(" "),
    phpVersions: versions,
    units: putFiles(
      versions.map((version) => ({ path: unitPath(version), content: renderTemplate("fpm-site/php-fpm-site@.service", { phpVersion: version }) })),
    ),
    directories: render.hostDirectories.map(directoryView),
    files: putFiles(render.host.map(withDefaults)),
    apache: apache && {
      modules: apacheModules.join(" "),
      confs: render.host.flatMap((file) => /^\/etc\/apache2\/conf-available\/(.+)\.conf$/.exec(file.path)?.[1] ?? []).join(" "),
    },
  });
  return stepCommand(body);
}

interface SiteParts {
  readonly apacheSite: false | { slug: string };
  readonly olsSite: boolean;
  readonly fpm: false | { phpVersion: string; pool: string; master: string; unit: string; masterFile: HostFile };
}

function siteParts(site: SiteRender): SiteParts {
  const pool = site.files.find((file) => /^\/etc\/php\/\d\.\d\/fpm\/pool\.d\//.test(file.path));
  const phpVersion = pool?.path.split("/")[3];
  const apache = site.files.some((file) => file.path.startsWith("/etc/apache2/sites-available/"));
  return {
    apacheSite: apache && { slug: site.slug },
    olsSite: site.files.some((file) => file.path.startsWith(`${olsServerRoot}/conf/vhosts/`)),
    fpm:
      pool !== undefined && phpVersion !== undefined
        ? {
            phpVersion,
            pool: pool.path,
            master: fpmMaster(phpVersion, site.slug),
            unit: fpmUnit(phpVersion, site.slug),
            masterFile: {
              path: fpmMaster(phpVersion, site.slug),
              content: renderTemplate("fpm-site/master.conf", { domain: site.domain, phpVersion, slug: site.slug, poolConfig: pool.path }),
            },
          }
        : false,
  };
}

/** One site's account, directories and non-secret files, checked by its daemons before they reload. */
export function siteCommand(site: SiteRender): string {
  const parts = siteParts(site);
  const files = [...site.files.filter((file) => !file.secret), ...(parts.fpm ? [parts.fpm.masterFile] : [])];
  return stepCommand(
    renderTemplate("provision/site.sh", {
      domain: site.domain,
      slug: site.slug,
      user: site.account.user,
      home: homeOf(site),
      directories: site.directories.map(directoryView),
      files: putFiles(files.map(withDefaults)),
      ...parts,
    }),
  );
}

/** Removes what `siteCommand` made: vhost, pool, FPM master and account; the home is moved aside. */
export function siteDeleteCommand(site: SiteRender): string {
  const parts = siteParts(site);
  const paths = [...site.files.map((file) => file.path), ...(parts.fpm ? [parts.fpm.master] : [])];
  return stepCommand(
    renderTemplate("provision/site-delete.sh", {
      domain: site.domain,
      slug: site.slug,
      user: site.account.user,
      home: homeOf(site),
      paths: paths.join(" "),
      ...parts,
    }),
  );
}

/**
 * A secret file (a site's credentials, a custom TLS key): the script is visible, the content
 * arrives on stdin, so it never stands in a command string, a log or the preview.
 */
export function secretFileCommand(file: Pick<HostFile, "path" | "mode" | "owner">): string {
  return stepCommand(renderTemplate("provision/secret-file.sh", { path: file.path, mode: file.mode ?? "0600", owner: file.owner ?? "root:root" }));
}

/** The directory every other one of the site hangs from. */
export function homeOf(site: SiteRender): string {
  const home = site.directories[0];
  if (home === undefined) throw new Error(`${site.domain} has no home directory`);
  return home.path;
}

function directoryView(directory: HostDirectory) {
  const [user, group] = directory.owner.split(":");
  return { path: directory.path, mode: directory.mode, user, group: group ?? user };
}

function withDefaults(file: HostFile) {
  return { path: file.path, content: file.content, mode: file.mode ?? "0644", owner: file.owner ?? "root:root" };
}
