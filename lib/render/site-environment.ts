import type { HostFile } from "./files";
import { renderTemplate } from "./template";

/** A PHP site's `.env`: where its database and Redis are, and their passwords (or their placeholders). */

export interface SiteEnvironmentInput {
  /** The site's home, where `.env` lies outside the document root. */
  readonly home: string;
  /** The site's group: PHP runs as the site's user, which reads the file through it. */
  readonly group: string;
  readonly database?: { readonly host: string; readonly port: number; readonly name: string; readonly user: string; readonly password: string };
  readonly redis: { readonly host: string; readonly port: number; readonly password: string };
}

export function renderSiteEnvironment(input: SiteEnvironmentInput): HostFile {
  return {
    path: `${input.home}/.env`,
    content: renderTemplate("site/env", { database: input.database ?? false, redis: input.redis }),
    mode: "0640",
    owner: `root:${input.group}`,
    secret: true,
  };
}
