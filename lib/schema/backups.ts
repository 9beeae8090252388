import { z } from "zod";
import type { Problem } from "./errors";
import { AbsolutePath } from "./site";

/**
 * The `backups` section of a stack. restic on every host that holds data (site and app
 * databases, site files, Redis) backs it up on a systemd timer into that host's own encrypted
 * repository, on the stack's backup host over SFTP or in an S3-compatible bucket. Leave the
 * section out and nothing is backed up.
 *
 * The credentials are not here: the repository password is the secret `megaweb:backupPassword`
 * and a bucket's secret key is `megaweb:backupS3SecretKey` (see `backupSecretProblems`).
 */

const shown = (value: unknown) => JSON.stringify(value);

/**
 * A systemd calendar expression (`OnCalendar=`). The characters are checked here, the grammar by
 * systemd itself; what passes cannot break out of the timer's line.
 */
export const OnCalendar = z.string().regex(/^[A-Za-z0-9*:,./~ -]{1,64}$/, {
  error: (issue) => `${shown(issue.input)} is not a systemd calendar expression (like daily or *-*-* 03:15)`,
});

const keepCount = (what: string) =>
  z
    .number()
    .refine(Number.isInteger, { error: (issue) => `${shown(issue.input)} is not a whole number of ${what} snapshots`, abort: true })
    .min(0, { error: (issue) => `${shown(issue.input)} is negative` })
    .max(1000);

/** How many snapshots `restic forget` keeps: the newest ones, and the newest of each hour/day/week/month. */
export const Retention = z
  .object({
    /** The most recent snapshots whatever their time, so a manual backup before a risky change outlives the day's scheduled one. @default 0 */
    last: keepCount("last").default(0),
    /** @default 0 */
    hourly: keepCount("hourly").default(0),
    /** @default 7 */
    daily: keepCount("daily").default(7),
    /** @default 0 */
    weekly: keepCount("weekly").default(0),
    /** @default 0 */
    monthly: keepCount("monthly").default(0),
  })
  .strict()
  .refine((keep) => keep.last + keep.hourly + keep.daily + keep.weekly + keep.monthly > 0, {
    error: "keeps no snapshot at all; keep at least one last, hourly, daily, weekly or monthly snapshot",
  });
export type Retention = z.infer<typeof Retention>;

const hostPattern = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9a-fA-F:]+$/;

const SftpDestination = z
  .object({
    kind: z.literal("sftp"),
    /**
     * The SFTP server. Unset means the stack's `backup` role host.
     * @default the stack's backup host
     * @example "backup.example.com"
     */
    host: z
      .string()
      .regex(hostPattern, { error: (issue) => `${shown(issue.input)} is not a host name or address` })
      .optional(),
    /** @default 22 */
    port: z.number().int().min(1).max(65535).default(22),
    /** The account every host's backup key is let in as, for SFTP only. @default "megaweb-backup" */
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, { error: (issue) => `${shown(issue.input)} is not a Unix user name` })
      .default("megaweb-backup"),
    /** Each host's repository is `<path>/<host>`. @default "/srv/megaweb-backup" */
    path: AbsolutePath.default("/srv/megaweb-backup"),
    /**
     * The server's public host key, so the hosts trust it on first contact; the stack's own backup
     * host's key is read from it instead.
     * @example "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... root@backup"
     */
    hostKey: z
      .string()
      .regex(/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( [^\n]*)?$/, {
        error: (issue) => `${shown(issue.input)} is not an OpenSSH public host key`,
      })
      .optional(),
  })
  .strict()
  .superRefine((destination, ctx) => {
    if (destination.host !== undefined && destination.hostKey === undefined) {
      ctx.addIssue({ code: "custom", path: ["hostKey"], message: "is required with host (ssh-keyscan -t ed25519 <host> prints it)" });
    }
  });

const S3Destination = z
  .object({
    kind: z.literal("s3"),
    /**
     * The S3 endpoint: DigitalOcean Spaces is `https://<region>.digitaloceanspaces.com`.
     * @example "https://fra1.digitaloceanspaces.com"
     */
    endpoint: z
      .string()
      .regex(/^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/, { error: (issue) => `${shown(issue.input)} is not an https:// endpoint without a path` }),
    /** @example "example-backups" */
    bucket: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: (issue) => `${shown(issue.input)} is not a bucket name (3–63 of a-z, 0-9, . and -)` }),
    /** Each host's repository is `<prefix>/<host>` in the bucket. @default "megaweb" */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, { error: (issue) => `${shown(issue.input)} is not a key prefix (like megaweb/prod)` })
      .default("megaweb"),
    /** The access key's id; its secret is `megaweb:backupS3SecretKey`. */
    accessKeyId: z.string().regex(/^[A-Za-z0-9]{16,128}$/, { error: "is not an access key id (16–128 letters and digits)" }),
  })
  .strict();

export const BackupDestination = z.discriminatedUnion("kind", [SftpDestination, S3Destination], {
  error: (issue) => {
    const kind = (issue.input as { kind?: unknown } | undefined)?.kind;
    return kind === undefined ? "needs a kind (sftp, s3)" : `${shown(kind)} is not a backup destination kind (sftp, s3)`;
  },
});
export type BackupDestination = z.infer<typeof BackupDestination>;

export const Backups = z
  .object({
    /**
     * When the timer starts a backup, as systemd's `OnCalendar=`; missed runs (a host that was
     * off) are made up at boot.
     * @default "daily"
     * @example "*-*-* 03:15"
     */
    schedule: OnCalendar.default("daily"),
    /** @default { daily: 7 } */
    retention: Retention.default(Retention.parse({})),
    /**
     * Where each host's repository lives.
     * @example { kind: "sftp" }
     * @example { kind: "s3", endpoint: "https://fra1.digitaloceanspaces.com", bucket: "example-backups", accessKeyId: "DO00EXAMPLE..." }
     */
    destination: BackupDestination,
  })
  .strict();
export type Backups = z.infer<typeof Backups>;
export type BackupsInput = z.input<typeof Backups>;

/** The stack secrets backups read; never part of the schema's input, so never in a stack file in plain text. */
export const backupSecretKeys = { password: "megaweb:backupPassword", s3SecretKey: "megaweb:backupS3SecretKey" } as const;

/**
 * The repository password encrypts every snapshot: without it nothing can be restored, so it is
 * a stack secret kept apart from the servers, not derived from anything a host holds.
 */
export function backupSecretProblems(backups: Backups, secrets: { readonly password?: string; readonly s3SecretKey?: string }): Problem[] {
  const problems: Problem[] = [];
  const password = secrets.password ?? "";
  if (password === "") problems.push({ path: ["backupPassword"], message: "is required for backups (pulumi config set --secret megaweb:backupPassword)" });
  else if (password.length < 16) problems.push({ path: ["backupPassword"], message: "must be at least 16 characters" });
  else if (/[\r\n]/.test(password)) problems.push({ path: ["backupPassword"], message: "must be one line" });
  if (backups.destination.kind === "s3" && (secrets.s3SecretKey ?? "") === "") {
    problems.push({ path: ["backupS3SecretKey"], message: "is required for an s3 destination (pulumi config set --secret megaweb:backupS3SecretKey)" });
  }
  return problems;
}
