import type { PhpVersion, Site } from "../schema/site";
import type { HostContext, PoolContext, SiteContext } from "./context";
import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/**
 * How long a request may hold a worker: ten seconds past PHP's own limit, so PHP's clean timeout
 * error wins when it can, and the pool kills what PHP cannot stop (sleep and I/O do not count).
 */
export function phpTimeoutSeconds(site: Site): number {
  return site.php.maxExecutionTime + 10;
}

/** The site's own pool, whichever web server talks to it. */
export function renderFpmPool(site: Site, context: SiteContext & { pool: PoolContext }): HostFile {
  const { pool } = context;
  return {
    path: pool.configPath,
    content: renderTemplate("php-fpm/pool.conf", {
      domain: site.domain,
      name: pool.name,
      user: context.account.user,
      group: context.account.group,
      socket: pool.socket,
      webServerGroup: context.webServerAccount.group,
      ...pool.size,
      dynamic: pool.size.pm === "dynamic",
      ondemand: pool.size.pm === "ondemand",
      processIdleTimeout: site.pool.processIdleTimeout,
      maxRequests: site.pool.maxRequests,
      statusPath: pool.statusPath,
      pingPath: pool.pingPath,
      slowLog: pool.slowLog,
      slowlogTimeout: site.pool.slowlogTimeout,
      terminateTimeout: phpTimeoutSeconds(site),
      tmpDir: pool.tmpDir,
      memoryLimit: site.php.memoryLimit,
      maxExecutionTime: site.php.maxExecutionTime,
      uploadMaxFilesize: site.php.uploadMaxFilesize,
      postMaxSize: site.php.postMaxSize,
      openBasedir: pool.openBasedir.join(":"),
      sessionDir: pool.sessionDir,
      sharedSessions: pool.sharedSessionsConfig ?? false,
      cookieDomain: site.sessions.cookieDomain ?? false,
      errorLog: pool.errorLog,
    }),
  };
}

/**
 * The site's own FPM master: it runs the site's pool alone, so a change to it restarts only this
 * site's workers (a master restarts every pool it runs on reload).
 */
export function renderFpmMaster(site: Site, context: SiteContext & { pool: PoolContext }): HostFile {
  const { pool } = context;
  return {
    path: pool.masterPath,
    content: renderTemplate("fpm-site/master.conf", {
      domain: site.domain,
      phpVersion: pool.phpVersion,
      slug: context.slug,
      poolConfig: pool.configPath,
      sharedSessions: pool.sharedSessionsConfig ?? false,
    }),
  };
}

export interface SessionStore {
  /** The Redis primary as this host reaches it. */
  readonly address: string;
  readonly port: number;
  /** Redis's password, or its placeholder (`secretPlaceholder`). */
  readonly password: string;
}

/**
 * The secret half of a pool with shared sessions: where Redis is and its password. Sites sharing a
 * session cookie share a key prefix (the cookie's domain), so one site reads the session another
 * wrote; every other site keeps its own prefix, so a session id taken from one site opens nothing
 * on another.
 */
export function renderFpmSessions(site: Site, context: SiteContext & { pool: PoolContext }, store: SessionStore): HostFile {
  const { pool } = context;
  if (pool.sharedSessionsConfig === undefined)
    throw new Error(`${site.domain}: its pool keeps sessions in files; only a pool with shared sessions has a Redis session file`);
  return {
    path: pool.sharedSessionsConfig,
    mode: "0600",
    owner: "root:root",
    secret: true,
    content: renderTemplate("php-fpm/sessions.conf", {
      domain: site.domain,
      name: pool.name,
      ...store,
      prefix: `PHPREDIS_SESSION:${site.sessions.cookieDomain ?? site.domain}:`,
    }),
  };
}

/** The systemd template unit every site's master of one PHP version is an instance of. */
export function renderFpmSiteUnit(host: HostContext, phpVersion: PhpVersion): HostFile {
  return {
    path: host.path(`/etc/systemd/system/php${phpVersion}-fpm-site@.service`),
    content: renderTemplate("fpm-site/php-fpm-site@.service", { phpVersion }),
  };
}

/** The FPM-wide ini of one PHP version, read by every site's master of that version. */
export function renderFpmIni(host: HostContext, phpVersion: PhpVersion): HostFile {
  return { path: host.path(`/etc/php/${phpVersion}/fpm/conf.d/99-megaweb.ini`), content: renderTemplate("php/megaweb.ini", { phpVersion }) };
}
