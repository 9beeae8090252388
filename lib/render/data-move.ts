import { renderTemplate } from "./template";

/**
 * Growth that keeps the data (lib/render/DEPLOY.md): a site's or the app's database moved from the
 * host that holds it to the one the plan names, by the step `templates/data-move/database-move.sh`,
 * and the box's Redis by `templates/data-move/redis-move.sh`. The copies a move leaves behind are
 * dropped by `database-forget.sh` and `redis-forget.sh`, from the same input: what the move and its
 * forget share (where the environment file says the data is, the clients) are partials of both.
 */

export interface DatabaseMoveInput {
  /** The site's domain, or the app's. */
  readonly domain: string;
  readonly database: string;
  /** Its MariaDB account name (every host part of it loses its writes on the old copy). */
  readonly user: string;
  /** The environment file whose `hostVariable` says where the data is now: a host, or a URL naming one. */
  readonly envFile: string;
  readonly hostVariable: "DB_HOST" | "MEGAWEB_DB_URL";
  readonly target: { readonly host: string; readonly port: number };
  /** Its password on the target (a placeholder in plans). */
  readonly password: string;
  /** Where the host's files hang from: empty on a server, a scratch root in tests. @default "" */
  readonly root?: string;
}

export interface DatabaseMoveRender {
  readonly script: string;
  /** The client options for the target: on stdin only. */
  readonly stdin: string;
}

const databasePartials = { databaseHost: "data-move/database-host.sh", databaseClients: "data-move/database-clients.sh", retired: "data-move/retired.sh" };

function renderDatabaseStep(template: string, input: DatabaseMoveInput): DatabaseMoveRender {
  return {
    script: renderTemplate(
      template,
      {
        domain: input.domain,
        database: input.database,
        user: input.user,
        envFile: input.envFile,
        hostVariable: input.hostVariable,
        targetHost: input.target.host,
        root: input.root ?? "",
      },
      databasePartials,
    ),
    stdin: ["[client]", `host=${input.target.host}`, `port=${input.target.port}`, `user=${input.user}`, `password=${input.password}`, ""].join("\n"),
  };
}

export const renderDatabaseMove = (input: DatabaseMoveInput) => renderDatabaseStep("data-move/database-move.sh", input);

/** The copy the move of `input` left on its host, dropped once its clients use the new one and that has every table of it. */
export const renderDatabaseForget = (input: DatabaseMoveInput) => renderDatabaseStep("data-move/database-forget.sh", input);

export interface RedisMoveInput {
  /** Where the single box's Redis listens on this host. */
  readonly sourcePort: number;
  readonly target: { readonly host: string; readonly port: number };
  /** The Redis password, the same on both (a placeholder in plans). */
  readonly password: string;
  /** Where the host's files hang from: empty on a server, a scratch root in tests. @default "" */
  readonly root?: string;
}

const redisPartials = { redisClients: "data-move/redis-clients.sh", redisQuote: "data-move/redis-quote.sh", retired: "data-move/retired.sh" };

function renderRedisStep(template: string, input: RedisMoveInput): DatabaseMoveRender {
  return {
    script: renderTemplate(
      template,
      { sourcePort: input.sourcePort, targetHost: input.target.host, targetPort: input.target.port, root: input.root ?? "" },
      redisPartials,
    ),
    stdin: `${input.password}\n`,
  };
}

/** The single box's Redis moved to the plan's primary by `templates/data-move/redis-move.sh`; the password on stdin only. */
export const renderRedisMove = (input: RedisMoveInput) => renderRedisStep("data-move/redis-move.sh", input);

/** The keys the move of `input` left on the box, dropped once the new Redis answers and holds keys. */
export const renderRedisForget = (input: RedisMoveInput) => renderRedisStep("data-move/redis-forget.sh", input);

export interface BoxRetireInput {
  /** The host's MariaDB, once every database forget of the host has run. */
  readonly mariadb: boolean;
  /** The host's Redis, once its forget has run. */
  readonly redis: boolean;
}

/** The box's MariaDB and Redis stopped and masked on the web host they moved away from, by `templates/data-move/box-retire.sh`. */
export const renderBoxRetire = (input: BoxRetireInput) => renderTemplate("data-move/box-retire.sh", input, { retired: "data-move/retired.sh" });
