import { z } from "zod";
import type { Problem } from "./errors";

/**
 * A site's code and what runs beside it: where its releases come from and how they are built
 * (`code`), its queue workers (`workers`) and its scheduled commands (`schedule`). Leave them out
 * and the site is what it was before: a vhost and a pool over a webroot someone else fills.
 *
 * On the host a site with code looks the way Envoyer, Deployer and Forge lay it out:
 * `releases/<id>/` per deploy, `shared/` for what outlives releases (storage, uploads),
 * `current -> releases/<id>` switched atomically, and the site's `.env` (written by provisioning)
 * linked into every release.
 */

const shown = (value: unknown) => JSON.stringify(value);

/**
 * One shell command line, run by `bash -c` as the site's user (build, migration) or by `/bin/sh -c`
 * in a systemd unit (workers, schedule). One line, so it stays one line in the unit and in logs.
 */
export const CommandLine = z
  .string()
  .min(1, { error: "is empty" })
  .max(1000)
  .regex(/^[^\n\r\0]*$/, { error: (issue) => `${shown(issue.input)} must be one line` })
  .regex(/\S/, { error: "is empty" });

const urlSchemes = ["https", "http", "ssh", "git", "file"];

/**
 * A repository any git on the host can clone: `https://`, `http://`, `ssh://`, `git://`,
 * `file:///`, or scp-like `git@host:owner/repo.git`. A password in the URL would sit in the deploy
 * config and the step's preview, so it is refused; private repositories use an SSH deploy key.
 */
export const GitRepository = z.string().superRefine((value, ctx) => {
  const fail = (rule: string) => ctx.addIssue({ code: "custom", message: `${shown(value)} ${rule}` });
  if (!/^[A-Za-z0-9._~:/?#@!$&()*+,;=%[\]-]+$/.test(value)) return fail("is not a git repository URL (no spaces, quotes or backslashes)");
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//.exec(value)?.[1];
  if (scheme === undefined) {
    if (!/^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]/.test(value)) return fail(`is not a git repository URL (${urlSchemes.join("://, ")}:// or user@host:path)`);
    return;
  }
  if (!urlSchemes.includes(scheme)) return fail(`is not a git repository URL (${urlSchemes.join("://, ")}:// or user@host:path)`);
  if (/^[a-z]+:\/\/[^/@]*:[^/@]*@/.test(value)) return fail("holds a password; use an SSH deploy key (ssh://…) or a URL without credentials");
});

/** A branch, tag or commit, as `git fetch <url> <ref>` takes it. */
export const GitRef = z
  .string()
  .regex(/^(?!-)(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9._/-]{1,255}(?<![./])$/, { error: (issue) => `${shown(issue.input)} is not a branch, tag or commit` });

/** An archive of the code: a path on the host or an http(s) URL; tar in any compression tar reads. */
export const ArchiveSource = z.string().superRefine((value, ctx) => {
  if (/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/[A-Za-z0-9._~/?=&%+-]*$/.test(value)) return;
  if (/^\/[A-Za-z0-9._/@+-]+$/.test(value) && !value.split("/").includes("..")) return;
  ctx.addIssue({ code: "custom", message: `${shown(value)} is not an archive path on the host or an http(s) URL` });
});

const releasePathRule = (value: string) =>
  /^[A-Za-z0-9._@+-]+(\/[A-Za-z0-9._@+-]+)*$/.test(value) && !value.split("/").some((segment) => segment === "." || segment === "..");

/** A path inside a release, such as `storage` or `public/uploads`. */
export const ReleasePath = z.string().refine(releasePathRule, {
  error: (issue) => `${shown(issue.input)} is not a path inside the release (like storage or public/uploads)`,
});

/** A systemd-style duration bounded for commands: `90s`, `15m`, `1h`. */
const CommandTimeout = z
  .string()
  .regex(/^[1-9]\d{0,3}[smh]$/, { error: (issue) => `${shown(issue.input)} is not a duration (a number and s, m or h, like 15m)` });

/** The id `megaweb-deploy` gives a release: 12 hex of the code's hash, 6 of the build recipe's. */
export const ReleaseId = z.string().regex(/^[0-9a-f]{12}-[0-9a-f]{6}$/, {
  error: (issue) => `${shown(issue.input)} is not a release id (like 3f2a9c81d0b4-7e21aa, as megaweb-deploy --list shows)`,
});

export const defaultBuild = "composer install --no-dev --optimize-autoloader --no-interaction";

export const SiteCode = z
  .object({
    /**
     * A git repository the host can reach; each deploy fetches `ref` (depth 1).
     * @example "https://git.example.com/shop.git"
     * @example "git@git.example.com:shop.git"
     */
    repository: GitRepository.optional(),
    /** Branch, tag or commit of `repository`. @default "main" */
    ref: GitRef.optional(),
    /**
     * Instead of a repository: a tar archive, a path on the host or an http(s) URL. The release id
     * comes from its SHA-256, so the same archive deploys nothing twice.
     * @example "https://releases.example.com/shop-1.4.2.tar.gz"
     */
    archive: ArchiveSource.optional(),
    /** Leading directories to drop when unpacking `archive` (1 for archives made from a directory). @default 0 */
    stripComponents: z.number().int().min(0).max(5).optional(),
    /** The release's directory nginx serves. @default "public" */
    publicDirectory: z
      .string()
      .refine((value) => value === "." || releasePathRule(value), {
        error: (issue) => `${shown(issue.input)} is not a directory inside the release (like public, or . for the release itself)`,
      })
      .default("public"),
    /**
     * Commands run in the new release as the site's user, in order; the first that fails stops
     * the deploy and the previous release keeps serving.
     * @default ["composer install --no-dev --optimize-autoloader --no-interaction"] when the release has a composer.json, else []
     * @example ["composer install --no-dev --optimize-autoloader", "php artisan config:cache"]
     */
    build: z.array(CommandLine).optional(),
    /**
     * Runs once per release, on one node (a lock in the site's Redis), after the build and before
     * the switch; a failure leaves the previous release serving.
     * @default undefined (no migration)
     * @example "php artisan migrate --force"
     */
    migrate: CommandLine.optional(),
    /**
     * What outlives releases, linked from `shared/` into each one. The first deploy seeds a
     * directory from the release's own copy. The site's `.env` is always linked.
     */
    shared: z
      .object({
        /** @default ["storage"] */
        directories: z.array(ReleasePath).default(["storage"]),
        /** @default [] */
        files: z.array(ReleasePath).default([]),
      })
      .strict()
      .default({ directories: ["storage"], files: [] }),
    /** Releases kept on the host, the live one included; rollback can go back this far without a rebuild. @default 5 */
    keepReleases: z.number().int().min(2).max(50).default(5),
    /**
     * Pins the live release: a kept release id (`megaweb-deploy <site> --list` prints them). Setting
     * it rolls back without building anything; removing it deploys `ref` again.
     * @default undefined (the newest build of ref)
     * @example "3f2a9c81d0b4-7e21aa"
     */
    release: ReleaseId.optional(),
    /** How long each build command and the migration may run. @default "15m" */
    timeout: CommandTimeout.default("15m"),
  })
  .strict()
  .superRefine((code, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (code.repository === undefined && code.archive === undefined) issue("repository", "is required: name the code with repository (git) or archive");
    if (code.repository !== undefined && code.archive !== undefined) issue("archive", "cannot be given with repository; name one source");
    if (code.repository === undefined && code.ref !== undefined) issue("ref", "applies only with repository");
    if (code.archive === undefined && code.stripComponents !== undefined) issue("stripComponents", "applies only with archive");
    code.shared.files.forEach((file, index) => {
      if (file === ".env") ctx.addIssue({ code: "custom", path: ["shared", "files", index], message: `".env" is always linked to the site's own .env` });
    });
    const shared = [...code.shared.directories, ...code.shared.files];
    shared.forEach((path, index) => {
      const clash = shared.find((other, otherIndex) => otherIndex !== index && (other === path || path.startsWith(`${other}/`)));
      if (clash === undefined) return;
      const [list, at] = index < code.shared.directories.length ? ["directories", index] : ["files", index - code.shared.directories.length];
      ctx.addIssue({ code: "custom", path: ["shared", list, at], message: `${shown(path)} lies in ${shown(clash)}, which is shared already` });
    });
  })
  .transform((code) => ({ ...code, ref: code.repository === undefined ? undefined : (code.ref ?? "main"), stripComponents: code.stripComponents ?? 0 }));
export type SiteCode = z.infer<typeof SiteCode>;
export type SiteCodeInput = z.input<typeof SiteCode>;

/** Names end up in unit names (`megaweb-worker-<user>-<name>@N.service`). */
const UnitPart = (what: string) =>
  z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}$/, { error: (issue) => `${shown(issue.input)} is not a ${what} name (a-z, 0-9 and -, at most 32, starting with a letter)` });

export const restartPolicies = ["always", "on-failure"] as const;

export const SiteWorker = z
  .object({
    /** @default "worker" */
    name: UnitPart("worker").default("worker"),
    /** @example "php artisan queue:work --sleep=3 --tries=3 --max-time=3600" */
    command: CommandLine,
    /** Processes (unit instances `@1`…`@N`) on each worker host. @default 1 */
    processes: z.number().int().min(1).max(32).default(1),
    /**
     * `always` also restarts a worker that exits cleanly (`queue:work --max-time` does, to bound
     * leaks), as Forge's supervisor does; `on-failure` only after a crash.
     * @default "always"
     */
    restart: z.enum(restartPolicies, { error: (issue) => `${shown(issue.input)} is not a restart policy (${restartPolicies.join(", ")})` }).default("always"),
    /** How long a stopping worker may take to finish its job (SIGTERM first, SIGKILL after). @default "60s" */
    stopTimeout: CommandTimeout.default("60s"),
  })
  .strict();
export type SiteWorker = z.infer<typeof SiteWorker>;

const cronMacros: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};
const monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const systemdDays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const cronFields = [
  { name: "minute", min: 0, max: 59, names: [] as string[] },
  { name: "hour", min: 0, max: 23, names: [] as string[] },
  { name: "day of month", min: 1, max: 31, names: [] as string[] },
  { name: "month", min: 1, max: 12, names: monthNames },
  { name: "day of week", min: 0, max: 7, names: dayNames },
] as const;

/**
 * A cron expression as systemd's `OnCalendar=`, or the rule it breaks. Cron runs a job whose day
 * of month and day of week are both restricted on either day, systemd only on days that are
 * both, so that combination is refused rather than silently changed.
 */
export function cronCalendar(cron: string): { calendar: string } | { error: string } {
  const expanded = cronMacros[cron.trim().toLowerCase()] ?? cron.trim();
  if (expanded.startsWith("@")) return { error: `${shown(cron)} is not a cron expression (${Object.keys(cronMacros).join(", ")} are the macros)` };
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) return { error: `${shown(cron)} is not a cron expression (five fields: minute hour day-of-month month day-of-week)` };
  const converted: string[] = [];
  for (const [index, field] of cronFields.entries()) {
    const result = cronField(parts[index]!.toLowerCase(), field);
    if (typeof result !== "string") return { error: `${shown(cron)}: ${result.error} in the ${field.name} field` };
    converted.push(result);
  }
  const [minute, hour, dayOfMonth, month, dayOfWeek] = converted as [string, string, string, string, string];
  if (dayOfMonth !== "*" && dayOfWeek !== "*") {
    return { error: `${shown(cron)} restricts both day of month and day of week; cron would run on either, systemd on both, so give one` };
  }
  const weekdays = dayOfWeek === "*" ? "" : `${dayOfWeek} `;
  return { calendar: `${weekdays}*-${month}-${dayOfMonth} ${hour}:${minute}:00` };
}

function cronField(text: string, field: (typeof cronFields)[number]): string | { error: string } {
  if (text === "*") return "*";
  const value = (token: string): number | undefined => {
    const named = (field.names as readonly string[]).indexOf(token);
    if (named >= 0) return field.name === "month" ? named + 1 : named;
    if (!/^\d{1,2}$/.test(token)) return undefined;
    const number = Number(token);
    return number >= field.min && number <= field.max ? number : undefined;
  };
  const isWeekday = field.name === "day of week";
  const show = (number: number) => (isWeekday ? systemdDays[number % 7]! : String(number).padStart(2, "0"));
  const items: string[] = [];
  for (const item of text.split(",")) {
    const match = /^(\*|[a-z0-9]+)(?:-([a-z0-9]+))?(?:\/(\d{1,2}))?$/.exec(item);
    if (match === null) return { error: `${shown(item)} is not a value, range or step` };
    const [, startText, endText, stepText] = match;
    const step = stepText === undefined ? undefined : Number(stepText);
    if (step !== undefined && step < 1) return { error: `${shown(item)} has a step of 0` };
    const start = startText === "*" ? field.min : value(startText!);
    const end = startText === "*" ? field.max : endText === undefined ? (step === undefined ? start : field.max) : value(endText);
    if (start === undefined || end === undefined) return { error: `${shown(item)} is out of range (${field.min}–${field.max})` };
    if (end < start) return { error: `${shown(item)} runs backwards` };
    if (isWeekday) {
      // systemd has no steps for weekdays: list the days.
      for (let day = start; day <= end; day += step ?? 1) items.push(show(day));
    } else if (step !== undefined) items.push(startText === "*" ? `${show(start)}/${step}` : `${show(start)}..${show(end)}/${step}`);
    else items.push(start === end ? show(start) : `${show(start)}..${show(end)}`);
  }
  return [...new Set(items)].join(",");
}

const CronExpression = z.string().superRefine((value, ctx) => {
  const result = cronCalendar(value);
  if ("error" in result) ctx.addIssue({ code: "custom", message: result.error });
});

export const ScheduledCommand = z
  .object({
    /** @default "task" */
    name: UnitPart("schedule").default("task"),
    /**
     * When, as cron has it (minute hour day-of-month month day-of-week, or @hourly, @daily…).
     * Runs never overlap: a run still going when the next is due makes that one wait.
     * @example "*\/5 * * * *"
     */
    cron: CronExpression,
    /** @example "php artisan app:prune-carts" */
    command: CommandLine,
    /** A run still going after this is stopped, so a hung run cannot hold back every later one. @default "1h" */
    timeout: CommandTimeout.default("1h"),
  })
  .strict();
export type ScheduledCommand = z.infer<typeof ScheduledCommand>;

/** `schedule: laravel` stands for this: Laravel's scheduler, every minute. */
export const laravelSchedule: ScheduledCommand = { name: "laravel", cron: "* * * * *", command: "php artisan schedule:run", timeout: "1h" };

export const SiteSchedule = z
  .union([z.literal("laravel"), z.array(ScheduledCommand)], {
    error: (issue) => (typeof issue.input === "string" ? `${shown(issue.input)} is not a schedule (laravel, or a list of { cron, command })` : undefined),
  })
  .transform((schedule) => (schedule === "laravel" ? [laravelSchedule] : schedule));
export type SiteSchedule = z.output<typeof SiteSchedule>;

/** The rules between a site's deploy settings and the rest of the site, as the site's refinement reports them. */
export function deployProblems(site: {
  kind: string;
  documentRoot?: string;
  code?: SiteCode;
  workers: readonly SiteWorker[];
  schedule: readonly ScheduledCommand[];
}): Problem[] {
  const problems: Problem[] = [];
  if (site.code !== undefined && site.kind === "proxy") problems.push({ path: ["code"], message: `applies only to php and static sites` });
  if (site.code !== undefined && site.documentRoot !== undefined) {
    problems.push({ path: ["documentRoot"], message: `cannot be set with code: the document root is current/<code.publicDirectory>` });
  }
  if (site.code === undefined) {
    if (site.workers.length > 0) problems.push({ path: ["workers"], message: "needs code: workers run the site's deployed release" });
    if (site.schedule.length > 0) problems.push({ path: ["schedule"], message: "needs code: scheduled commands run in the site's deployed release" });
  }
  const duplicates = (list: readonly { name: string }[], what: "workers" | "schedule") =>
    list.forEach((entry, index) => {
      const first = list.findIndex((other) => other.name === entry.name);
      if (first !== index) problems.push({ path: [what, index, "name"], message: `${shown(entry.name)} is used by ${what}[${first}]; give each its own name` });
    });
  duplicates(site.workers, "workers");
  duplicates(site.schedule, "schedule");
  return problems;
}
