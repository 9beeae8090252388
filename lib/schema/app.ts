import { z } from "zod";
import { privatePorts } from "../plan/firewall";
import { AbsolutePath, Access, Domain, Tls, type SiteInput } from "./site";
import type { Problem } from "./errors";

/**
 * The `app` section of a stack: the MegaWeb Orchestrator, deployed onto the phase's hosts. Its web
 * process runs on every web host behind nginx, as a `proxy` site on `domain`; its worker runs on
 * every worker host (the single box is both). Leave the section out and no app is deployed.
 */

const shown = (value: unknown) => JSON.stringify(value);

const sqlName = (what: string) =>
  z.string().regex(/^[A-Za-z0-9_]{1,32}$/, { error: (issue) => `${shown(issue.input)} is not a ${what} (letters, digits, _; at most 32)` });

/** The same rule the app applies to `MEGAWEB_CORS_ORIGINS`, so a bad origin is refused here rather than by a crash-looping unit. */
const CorsOrigin = z
  .string()
  .regex(/^\*$|^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/, { error: (issue) => `${shown(issue.input)} is not an origin (like https://panel.example.com) or *` });

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const App = z
  .object({
    /** Keeps the section in the stack file while no app is deployed. @default true */
    enabled: z.boolean().default(true),
    /** Where nginx serves the API and the control panel. @example "orchestrator.example.com" */
    domain: Domain,
    /**
     * The built app (`npm run build -w app`) on the machine running Pulumi; a tarball with other
     * content is a new release.
     * @default "app/dist/megaweb-orchestrator-<version>.tgz" of the checkout megaweb runs from
     * @example "/srv/ci/megaweb-orchestrator-0.1.0.tgz"
     */
    artifact: AbsolutePath.optional(),
    /** Loopback port of the web process, behind nginx. @default 3000 */
    port: z
      .number()
      .int()
      .min(1024, { error: (issue) => `${shown(issue.input)} is a privileged port; use 1024 or above (nginx holds 80 and 443)` })
      .max(65535)
      .default(3000),
    /** TLS of the app's site, as for any site. @default { mode: "none" } */
    tls: Tls.default({ mode: "none" }),
    /** Who may reach the app's site, as for any site. @default {} @example { allow: ["203.0.113.0/24"] } */
    access: Access.default(Access.parse({})),
    /** Jobs each worker runs at once. @default 4 */
    workerConcurrency: z.number().int().min(1).max(64).default(4),
    /** Browser origins allowed to call the API. @default [] @example ["https://panel.example.com"] */
    corsOrigins: z.array(CorsOrigin).default([]),
    /** Requests per client address and minute, counted across all web hosts. @default 1000 */
    rateLimitPerMinute: z.number().int().min(1).default(1000),
    /** Days the app keeps its metrics. @default 30 */
    metricsRetentionDays: z.number().int().min(1).max(3650).default(30),
    /** The app's log level. @default "info" */
    logLevel: z.enum(logLevels, { error: (issue) => `${shown(issue.input)} is not a log level (${logLevels.join(", ")})` }).default("info"),
    /** The app's database and user on the MySQL primary. @default {} */
    database: z
      .object({
        /** @default "megaweb" */
        name: sqlName("database name").default("megaweb"),
        /** Its password is derived from the stack's SSH key, like the sites'. @default "megaweb" */
        user: sqlName("database user").default("megaweb"),
      })
      .strict()
      .default({ name: "megaweb", user: "megaweb" }),
  })
  .strict();
export type App = z.infer<typeof App>;
export type AppInput = z.input<typeof App>;

/**
 * The app's site: a proxy site like any other, so provisioning renders and checks it with the
 * rest. It exists only here, derived from the `app` section.
 */
export function appSiteInput(app: App): SiteInput {
  return { domain: app.domain, kind: "proxy", proxy: { port: app.port }, tls: app.tls, access: app.access };
}

/** The upstream ports of the stack's proxy sites, and the cluster's private service ports: the app's port must be none of them. */
export function appPortProblems(app: App, sites: readonly { readonly domain: string; readonly proxy?: { readonly port: number } }[]): Problem[] {
  const taken = sites.findIndex((site) => site.proxy?.port === app.port);
  if (taken >= 0) return [{ path: ["app", "port"], message: `${app.port} is already the upstream of sites[${taken}] (${sites[taken]!.domain})` }];
  const service = Object.entries(privatePorts).find(([, port]) => port === app.port);
  if (service !== undefined) return [{ path: ["app", "port"], message: `${app.port} is ${service[0]}'s port` }];
  return [];
}

/** `MEGAWEB_API_TOKEN` (`megaweb:apiToken`): the app refuses a short one at start, so it is refused here, before anything reaches a server. */
export function apiTokenProblems(token: string | undefined): Problem[] {
  if (token === undefined || token === "") {
    return [{ path: ["apiToken"], message: "is required when the app is enabled (pulumi config set --secret megaweb:apiToken)" }];
  }
  if (token.length < 16) return [{ path: ["apiToken"], message: "must be at least 16 characters" }];
  // It stands bare in a systemd EnvironmentFile, where quotes, `$`, backslashes and spaces would be read as syntax.
  if (!/^[A-Za-z0-9._~+/=-]+$/.test(token))
    return [{ path: ["apiToken"], message: "may hold only letters, digits and . _ ~ + / = - (like the output of openssl rand -hex 24)" }];
  return [];
}
