import { renderTemplate } from "./template";

/**
 * Growth that keeps the data (lib/render/DEPLOY.md): a site's database moved from the host that
 * holds it to the one the plan names, by the step `templates/data-move/site-database-move.sh`.
 */

export interface SiteDatabaseMoveInput {
  readonly domain: string;
  readonly database: string;
  /** The site's MariaDB account name (every host part of it loses its writes on the old copy). */
  readonly user: string;
  /** The site's `.env`, whose `DB_HOST` says where its data is now. */
  readonly envFile: string;
  readonly target: { readonly host: string; readonly port: number };
  /** The site's password on the target (a placeholder in plans). */
  readonly password: string;
}

export interface SiteDatabaseMoveRender {
  readonly script: string;
  /** The client options for the target: on stdin only. */
  readonly stdin: string;
}

export function renderSiteDatabaseMove(input: SiteDatabaseMoveInput): SiteDatabaseMoveRender {
  return {
    script: renderTemplate("data-move/site-database-move.sh", {
      domain: input.domain,
      database: input.database,
      user: input.user,
      envFile: input.envFile,
      targetHost: input.target.host,
    }),
    stdin: ["[client]", `host=${input.target.host}`, `port=${input.target.port}`, `user=${input.user}`, `password=${input.password}`, ""].join("\n"),
  };
}
