import { z } from "zod";
import { Cidr, SecretRef } from "./infrastructure";
import { deployProblems, SiteCode, SiteSchedule, SiteWorker } from "./deploy";

/**
 * One website as a hosting panel's per-site settings table describes it. Every field but
 * `domain` has a default, so `{ domain: example.com }` is a complete site.
 */

/** `example.com` → `example_com`: injective because host names hold no `_`; names the site's account, pool, files and database. */
export function siteSlug(domain: string): string {
  return domain.replace(/\./g, "_");
}

/** Quotes the offending value so a message shows exactly what was typed, newlines included. */
const shown = (value: unknown) => JSON.stringify(value);

const hostLabel = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const hostNamePattern = new RegExp(`^(?=.{1,253}$)${hostLabel}(?:\\.${hostLabel})*$`);
const aliasPattern = new RegExp(`^(?=.{1,253}$)(?:\\*\\.)?${hostLabel}(?:\\.${hostLabel})*$`);

/**
 * Host names end up inside nginx, Apache and OLS directives and in Unix user names, so only
 * letters, digits, dashes and single dots pass; upper case is folded because DNS is case-blind.
 */
export const Domain = z
  .string()
  .transform((value) => value.toLowerCase())
  .pipe(z.string().regex(hostNamePattern, { error: (issue) => `${shown(issue.input)} is not a valid host name` }));

/** An alias may also be a wildcard (`*.example.com`), which all three web servers accept. */
export const Alias = z
  .string()
  .transform((value) => value.toLowerCase())
  .pipe(z.string().regex(aliasPattern, { error: (issue) => `${shown(issue.input)} is not a valid host name or *.wildcard` }));

export const webServers = ["nginx", "apache", "openlitespeed"] as const;
export const WebServer = z.enum(webServers, {
  error: (issue) => `${shown(issue.input)} is not a supported web server (${webServers.join(", ")})`,
});
export type WebServer = z.infer<typeof WebServer>;

export const phpVersions = ["8.0", "8.1", "8.2", "8.3", "8.4"] as const;
/** YAML reads `phpVersion: 8.2` as a number and `8.0` as 8, so numbers are read back as one-decimal strings. */
export const PhpVersion = z.preprocess(
  (value) => (typeof value === "number" ? value.toFixed(1) : value),
  z.enum(phpVersions, {
    error: (issue) => `${shown(issue.input)} is not a supported PHP version (${phpVersions[0]}–${phpVersions[phpVersions.length - 1]})`,
  }),
);
export type PhpVersion = z.infer<typeof PhpVersion>;

export const siteKinds = ["php", "static", "proxy"] as const;
export const SiteKind = z.enum(siteKinds, {
  error: (issue) => `${shown(issue.input)} is not a site kind (${siteKinds.join(", ")})`,
});
export type SiteKind = z.infer<typeof SiteKind>;

/** A PHP ini size such as `128M`; unlimited (`-1`) is refused because pool sizing needs a bound. */
export const PhpSize = z
  .string()
  .regex(/^[1-9]\d{0,5}[KMG]$/, { error: (issue) => `${shown(issue.input)} is not a PHP size (a number and K, M or G, like 128M)` });

/** Megabytes in a PHP size string already checked by `PhpSize`. */
export function phpSizeMb(size: string): number {
  const amount = Number(size.slice(0, -1));
  const unit = size.slice(-1);
  return unit === "G" ? amount * 1024 : unit === "M" ? amount : amount / 1024;
}

/**
 * Absolute path without `..`, `.` segments or characters that would end a directive
 * (quotes, `;`, braces, whitespace) in any of the server configs it lands in.
 */
export const AbsolutePath = z.string().superRefine((value, ctx) => {
  const fail = (rule: string) => ctx.addIssue({ code: "custom", message: `${shown(value)} ${rule}` });
  if (!value.startsWith("/")) return fail("must be an absolute path");
  if (value.split("/").some((segment) => segment === ".." || segment === ".")) return fail("must not contain . or .. segments");
  if (!/^[A-Za-z0-9._/@+-]+$/.test(value)) return fail("may hold only letters, digits and . _ / @ + -");
});

/** A short nginx-style duration such as `30d`, `12h`, `10m`. */
export const Duration = z
  .string()
  .regex(/^[1-9]\d{0,4}[smhd]$/, { error: (issue) => `${shown(issue.input)} is not a duration (a number and s, m, h or d, like 30d)` });

const secondsPer = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** Seconds in a `Duration` string already checked by the schema. */
export function durationSeconds(duration: string): number {
  return Number(duration.slice(0, -1)) * secondsPer[duration.slice(-1) as keyof typeof secondsPer];
}

export const PhpSettings = z
  .object({
    /** PHP's memory_limit; also what pool sizing counts per worker. @default "256M" @example "128M" */
    memoryLimit: PhpSize.default("256M"),
    /** Seconds. @default 60 */
    maxExecutionTime: z.number().int().min(1).max(3600).default(60),
    /** PHP's upload_max_filesize; at most `postMaxSize`. @default "64M" */
    uploadMaxFilesize: PhpSize.default("64M"),
    /** Also the web server's request body limit. @default "64M" */
    postMaxSize: PhpSize.default("64M"),
    /**
     * Extensions beyond Debian's php-fpm defaults, by Debian package suffix (`php8.2-<name>`).
     * Debian enables an installed extension for every pool of that PHP version, so sites sharing
     * a version share their extensions.
     * @default []
     * @example ["mysql", "redis", "gd", "intl"]
     */
    extensions: z.array(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, { error: (issue) => `${shown(issue.input)} is not a PHP extension name` })).default([]),
  })
  .strict()
  .superRefine((php, ctx) => {
    if (phpSizeMb(php.uploadMaxFilesize) > phpSizeMb(php.postMaxSize)) {
      ctx.addIssue({
        code: "custom",
        path: ["uploadMaxFilesize"],
        message: `${php.uploadMaxFilesize} is larger than postMaxSize ${php.postMaxSize}, so such uploads could never arrive`,
      });
    }
  });
export type PhpSettings = z.infer<typeof PhpSettings>;

export const pmModes = ["ondemand", "dynamic", "static"] as const;

/**
 * The site's own PHP-FPM pool. Leave `maxChildren` out to have it sized from the host's memory;
 * any figure given is checked against the host's PHP budget.
 */
export const FpmPool = z
  .object({
    /**
     * `dynamic` keeps a few idle workers ready. `ondemand` keeps an idle site at zero workers, for
     * many quiet sites on one host, but its master wakes on every connection: a third more CPU per
     * small request (bench/README.md). @default "dynamic"
     */
    pm: z.enum(pmModes, { error: (issue) => `${shown(issue.input)} is not a pm mode (${pmModes.join(", ")})` }).default("dynamic"),
    /**
     * Workers at most. Checked against the host's PHP budget when given.
     * @default sized from the host's memory: an equal share of what explicit pools leave, at most 2.5 a core (never capped below 5) and 32
     * @example 8
     */
    maxChildren: z.number().int().min(1).max(1000).optional(),
    /** Only for `dynamic`. @default minSpareServers */
    startServers: z.number().int().min(1).optional(),
    /** Only for `dynamic`. @default a quarter of maxChildren, at least 1 */
    minSpareServers: z.number().int().min(1).optional(),
    /** Only for `dynamic`. @default half of maxChildren, at least minSpareServers */
    maxSpareServers: z.number().int().min(1).optional(),
    /**
     * Recycles workers to bound leaks. A new worker costs a few milliseconds: at 500, 15 % of a small
     * request's CPU (bench/README.md). @default 10000
     */
    maxRequests: z.number().int().min(0).default(10_000),
    /** Only for `ondemand`. @default "10s" */
    processIdleTimeout: Duration.default("10s"),
    /** Requests slower than this are written to the pool's slow log. @default "5s" */
    slowlogTimeout: Duration.default("5s"),
  })
  .strict()
  .superRefine((pool, ctx) => {
    const spares = [pool.startServers, pool.minSpareServers, pool.maxSpareServers];
    if (pool.pm !== "dynamic") {
      (["startServers", "minSpareServers", "maxSpareServers"] as const).forEach((field, index) => {
        if (spares[index] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: `applies only when pm is "dynamic"` });
      });
      return;
    }
    const [start, minSpare, maxSpare] = spares;
    if (minSpare !== undefined && maxSpare !== undefined && minSpare > maxSpare) {
      ctx.addIssue({ code: "custom", path: ["minSpareServers"], message: `${minSpare} is more than maxSpareServers ${maxSpare}` });
    }
    if (start !== undefined && ((minSpare !== undefined && start < minSpare) || (maxSpare !== undefined && start > maxSpare))) {
      ctx.addIssue({ code: "custom", path: ["startServers"], message: `${start} must lie between minSpareServers and maxSpareServers` });
    }
    if (pool.maxChildren !== undefined && maxSpare !== undefined && maxSpare > pool.maxChildren) {
      ctx.addIssue({ code: "custom", path: ["maxSpareServers"], message: `${maxSpare} is more than maxChildren ${pool.maxChildren}` });
    }
  });
export type FpmPool = z.infer<typeof FpmPool>;

const sqlName = (what: string) =>
  z.string().regex(/^[A-Za-z0-9_]{1,32}$/, { error: (issue) => `${shown(issue.input)} is not a ${what} (letters, digits, _; at most 32)` });

/**
 * The site's MySQL database. Its password has no setting: provisioning derives it from the
 * stack's SSH key and hands it to the site in `.env`.
 */
export const Database = z
  .object({
    /** Filled in by the site schema when absent. @default the site's slug (`shop.example.com` → `shop_example_com`) */
    name: sqlName("database name").optional(),
    /** Filled in by the site schema when absent. @default the site's slug, cut to 32 characters */
    user: sqlName("database user").optional(),
    /** Character set of the database. @default "utf8mb4" */
    charset: z.enum(["utf8mb4", "utf8mb3", "latin1"]).default("utf8mb4"),
  })
  .strict();
export type Database = z.infer<typeof Database>;

const pemCertificate = z
  .string()
  .regex(/^-----BEGIN CERTIFICATE-----\r?\n[\s\S]+-----END CERTIFICATE-----\s*$/, { error: "is not a PEM certificate (-----BEGIN CERTIFICATE----- …)" });

/**
 * The private key of a custom certificate. In a stack file it is a `secure:` value that nothing
 * here decrypts; a Pulumi program that reads the stack's config gets it as the decrypted PEM.
 */
const keyRule = "must be a secret (pulumi config set --secret --path 'sites[N].tls.key' < key.pem)";
export const TlsKey = z.union([SecretRef, z.string().regex(/^-----BEGIN [A-Z ]*PRIVATE KEY-----/, { error: keyRule })], { error: keyRule });
export type TlsKey = z.infer<typeof TlsKey>;

export const Tls = z.discriminatedUnion(
  "mode",
  [
    z.object({ mode: z.literal("none") }).strict(),
    z
      .object({
        mode: z.literal("letsencrypt"),
        /** Account e-mail for expiry notices. */
        email: z.email({ error: (issue) => `${shown(issue.input)} is not an e-mail address` }).optional(),
      })
      .strict(),
    z.object({ mode: z.literal("custom"), certificate: pemCertificate, key: TlsKey }).strict(),
  ],
  {
    error: (issue) => {
      const mode = (issue.input as { mode?: unknown } | undefined)?.mode;
      return mode === undefined ? "needs a mode (none, letsencrypt, custom)" : `${shown(mode)} is not a TLS mode (none, letsencrypt, custom)`;
    },
  },
);
export type Tls = z.infer<typeof Tls>;

export const Caching = z
  .object({
    /** Browser cache lifetime for images, fonts, CSS and JS, or `off`. @default "7d" */
    staticMaxAge: z.union([Duration, z.literal("off")]).default("7d"),
    /**
     * Seconds nginx keeps anonymous GET answers of a PHP site (a micro-cache), or `off`.
     * Requests with a session cookie or a query string always reach PHP. @default "off"
     */
    pageCache: z.union([Duration, z.literal("off")]).default("off"),
  })
  .strict();
export type Caching = z.infer<typeof Caching>;

export const Access = z
  .object({
    /** When non-empty, only these addresses reach the site (ACME challenges excepted). @default [] @example ["203.0.113.0/24"] */
    allow: z.array(Cidr).default([]),
    /** Always refused with 403, even when also allowed. @default [] @example ["198.51.100.7"] */
    deny: z.array(Cidr).default([]),
  })
  .strict();
export type Access = z.infer<typeof Access>;

/**
 * Raw directives go into the site's server block verbatim; `nginx -t` on the host is their real
 * check. What is refused here is only what would break out of the block or run into the lines
 * that follow it, found with nginx's own token rules: braces and `#` count only between tokens,
 * quotes and `\\` escape, and `${` opens a variable, not a block.
 */
export const NginxDirectives = z.string().superRefine((text, ctx) => {
  const fail = (rule: string) => ctx.addIssue({ code: "custom", message: rule });
  let open = 0;
  let line = 1;
  let quote: string | undefined;
  let inToken = false;
  let inComment = false;
  let escaped = false;
  let last = ";";
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (char === "\n") line++;
    if (escaped || inComment) {
      escaped = false;
      inComment &&= char !== "\n";
      continue;
    }
    if (char === "\\") {
      escaped = true;
      last = char;
      inToken ||= quote === undefined;
      continue;
    }
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
      last = char;
      continue;
    }
    if (/\s/.test(char)) {
      inToken = false;
      continue;
    }
    if (char === "{" && text[index - 1] === "$") continue;
    if (char === "#" && !inToken) {
      inComment = true;
      continue;
    }
    last = char;
    if (char === ";" || char === "{" || (char === "}" && !inToken)) {
      inToken = false;
      if (char === "{") open++;
      if (char === "}" && --open < 0) return fail(`the "}" on line ${line} would close the site's server block; directives must stay inside it`);
      continue;
    }
    if (!inToken && (char === '"' || char === "'")) quote = char;
    inToken = true;
  }
  if (quote !== undefined) return fail(`leaves a ${quote} quote unclosed`);
  if (open > 0) return fail(`leaves ${open} "{" unclosed`);
  if (last !== ";" && last !== "}") fail(`must end its last directive with ; or }`);
});

/**
 * A PHP site's sessions. With more than one web node they live in Redis, which every node reaches;
 * on one node, in files under the site's home.
 */
export const Sessions = z
  .object({
    /**
     * Share the session cookie with sibling sites under a common parent domain, so a visitor signed
     * in on one is signed in on the others (the sites then share one session store in Redis).
     * A parent of the site's own domain, with a leading dot.
     * @default undefined (the cookie goes back to the site's own host name only)
     * @example ".example.com"
     */
    cookieDomain: z
      .string()
      .transform((value) => value.toLowerCase())
      .pipe(
        z.string().regex(/^\.[a-z0-9-]+(\.[a-z0-9-]+)+$/, {
          error: (issue) => `${shown(issue.input)} is not a parent domain with a leading dot and at least two labels, like ".example.com"`,
        }),
      )
      .optional(),
  })
  .strict();
export type Sessions = z.infer<typeof Sessions>;

/** Where a `proxy` site forwards: an app listening on this host's loopback. */
export const ProxyUpstream = z
  .object({
    /** The upstream app's port. @example 3000 */
    port: z.number().int().min(1).max(65535),
    /** The loopback address the upstream app listens on. @default "127.0.0.1" */
    host: z.enum(["127.0.0.1", "::1", "localhost"]).default("127.0.0.1"),
    /** Keep WebSocket upgrades working through the proxy. @default true */
    websockets: z.boolean().default(true),
  })
  .strict();
export type ProxyUpstream = z.infer<typeof ProxyUpstream>;

export const SiteFields = z
  .object({
    /** The site's host name; its slug (`.` → `_`) names its account, pool and files. @example "example.com" */
    domain: Domain,
    /** Other names the site answers to. @default [] @example ["www.example.com", "*.example.com"] */
    aliases: z.array(Alias).default([]),
    /** Who serves the site: nginx itself, or Apache or OpenLiteSpeed on loopback behind nginx. @default "nginx" */
    webServer: WebServer.default("nginx"),
    /** `php` (its own FPM pool), `static` files, or `proxy` to an app on the host. @default "php" */
    kind: SiteKind.default("php"),
    /** PHP of the site's pool; Debian 12 ships 8.2, other versions come from Ondřej Surý's repository. @default "8.2" */
    phpVersion: PhpVersion.default("8.2"),
    /** The site's php.ini values. @default {} @example { memoryLimit: "192M", extensions: ["mysql", "redis"] } */
    php: PhpSettings.default(PhpSettings.parse({})),
    /** The site's PHP-FPM pool. @default {} @example { pm: "dynamic", maxChildren: 6 } */
    pool: FpmPool.default(FpmPool.parse({})),
    /** A database and user on the MySQL primary, credentials in the site's `.env`. @example {} */
    database: Database.optional(),
    /** @default { mode: "none" } @example { mode: "letsencrypt", email: "ops@example.com" } */
    tls: Tls.default({ mode: "none" }),
    /** Compress text answers. @default true */
    gzip: z.boolean().default(true),
    /** Browser and micro-cache lifetimes. @default {} @example { staticMaxAge: "30d", pageCache: "10s" } */
    caching: Caching.default(Caching.parse({})),
    /** nosniff, frame and referrer policy, and HSTS when TLS is on. @default true */
    securityHeaders: z.boolean().default(true),
    /** Who may reach the site. @default {} @example { deny: ["198.51.100.7"] } */
    access: Access.default(Access.parse({})),
    /**
     * Served with nginx resolving its links for PHP, so a release link swapped under it never serves
     * OPcache's copy of the old file. @default "/var/www/<slug>/public" @example "/var/www/example_com/current/public"
     */
    documentRoot: AbsolutePath.optional(),
    /** The PHP sessions' cookie. @default {} @example { cookieDomain: ".example.com" } */
    sessions: Sessions.default({}),
    /** Required when kind is `proxy`. @example { port: 3000 } */
    proxy: ProxyUpstream.optional(),
    /**
     * nginx directives for power users, placed at the end of the site's server block (nginx fronts
     * every site, whatever its `webServer`). They are checked by `nginx -t` on the host before
     * nginx reloads; a refused snippet fails the site's step and the previous config keeps serving.
     * @default undefined (no directives)
     * @example "location = /health { access_log off; return 200 \"ok\\n\"; }"
     */
    nginxDirectives: NginxDirectives.optional(),

    // Code deploys, workers and schedules: their rules live in lib/schema/deploy.ts.
    /**
     * The site's code, deployed into `releases/<id>` and switched live atomically; the document
     * root becomes `current/<publicDirectory>`.
     * @default undefined (an empty webroot, filled by other means)
     * @example { repository: "https://git.example.com/shop.git", ref: "main", migrate: "php artisan migrate --force" }
     */
    code: SiteCode.optional(),
    /**
     * Long-running commands (queue workers) under systemd as the site's user, restarted after each deploy.
     * @default []
     * @example [{ command: "php artisan queue:work --tries=3", processes: 2 }]
     */
    workers: z.array(SiteWorker).default([]),
    /**
     * Commands on systemd timers as the site's user: cron expressions, or `laravel` for `php artisan schedule:run` each minute.
     * @default []
     * @example "laravel"
     */
    schedule: SiteSchedule.default([]),
  })
  .strict()
  .superRefine((site, ctx) => {
    for (const problem of deployProblems(site)) ctx.addIssue({ code: "custom", path: [...problem.path] as (string | number)[], message: problem.message });
    if (site.kind === "proxy" && site.proxy === undefined) {
      ctx.addIssue({ code: "custom", path: ["proxy"], message: `is required when kind is "proxy" (like { port: 3000 })` });
    }
    if (site.kind !== "proxy" && site.proxy !== undefined) {
      ctx.addIssue({ code: "custom", path: ["proxy"], message: `applies only when kind is "proxy"` });
    }
    const cookieDomain = site.sessions.cookieDomain;
    if (cookieDomain !== undefined && site.kind !== "php") {
      ctx.addIssue({ code: "custom", path: ["sessions", "cookieDomain"], message: `applies only when kind is "php" (PHP's session cookie)` });
    } else if (cookieDomain !== undefined && site.domain !== cookieDomain.slice(1) && !site.domain.endsWith(cookieDomain)) {
      ctx.addIssue({
        code: "custom",
        path: ["sessions", "cookieDomain"],
        message: `${shown(cookieDomain)} is not a parent domain of ${shown(site.domain)}: a browser sends the cookie only to the domain and its subdomains`,
      });
    }
    site.aliases.forEach((alias, index) => {
      if (alias === site.domain) ctx.addIssue({ code: "custom", path: ["aliases", index], message: `${shown(alias)} repeats the site's own domain` });
    });
  });

/** A site with every default resolved, the database's names (which follow the domain) included. */
export const Site = SiteFields.transform((site) => {
  const slug = siteSlug(site.domain);
  return { ...site, database: site.database && { ...site.database, name: site.database.name ?? slug, user: site.database.user ?? slug.slice(0, 32) } };
});
export type Site = z.infer<typeof Site>;
export type SiteInput = z.input<typeof Site>;
