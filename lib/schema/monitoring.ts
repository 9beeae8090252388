import { z } from "zod";
import { formatPath, type Problem } from "./errors";
import { SecretRef } from "./infrastructure";
import { Duration, durationSeconds } from "./site";

/**
 * Monitoring and alerting of a stack: Prometheus, Alertmanager and the exporters on every host.
 * Thresholds default to the MARG guide's (warn at CPU > 80 %, memory > 90 %, disk > 85 %);
 * the windows default to what a person on call wants (no page for a one-minute spike), and a
 * test shortens them to seconds through the same schema.
 */

const shown = (value: unknown) => JSON.stringify(value);

const percent = z
  .number({ error: (issue) => `must be a number of percent (got ${shown(issue.input)})` })
  .gt(0, { error: (issue) => `${String(issue.input)} is not a percentage above 0 and at most 100`, abort: true })
  .max(100, { error: (issue) => `${String(issue.input)} is not a percentage above 0 and at most 100`, abort: true });

/** A pair of levels; `warning` is met first, so it must be below `critical`. */
function rising(defaults: { warning: number; critical: number }, value: z.ZodNumber) {
  return z
    .object({ warning: value.default(defaults.warning), critical: value.default(defaults.critical) })
    .strict()
    .refine((level) => level.warning < level.critical, {
      error: (issue) => {
        const level = issue.input as { warning: number; critical: number };
        return `warning (${level.warning}) must be below critical (${level.critical})`;
      },
    })
    .prefault({});
}

export const Thresholds = z
  .object({
    /**
     * Busy share of all CPUs, averaged over `windows.rateWindow`.
     * @default { warning: 80, critical: 95 }
     */
    cpu: rising({ warning: 80, critical: 95 }, percent),
    /**
     * Share of memory not available to new programs (1 − MemAvailable / MemTotal).
     * @default { warning: 90, critical: 95 }
     */
    memory: rising({ warning: 90, critical: 95 }, percent),
    /**
     * Used share of each real filesystem, counting root's reserved blocks as used: what an
     * unprivileged program can still write is what runs out.
     * @default { warning: 85, critical: 95 }
     */
    disk: rising({ warning: 85, critical: 95 }, percent),
    /**
     * Share of a site's responses that are 5xx, over `windows.rateWindow`; sites with less than a
     * request a minute are left out, so one failed request of two is not an alert.
     * @default { warning: 5, critical: 20 }
     */
    errorRate: rising({ warning: 5, critical: 20 }, percent),
    /**
     * Seconds a MySQL or Redis replica may lag behind its primary.
     * @default { warning: 30, critical: 300 }
     */
    replicationLagSeconds: rising({ warning: 30, critical: 300 }, z.number().int().positive()),
    /**
     * Days before a served certificate expires. Let's Encrypt renews at 30 days left, so 14 means
     * renewal has failed for two weeks.
     * @default { warning: 14, critical: 3 }
     */
    certificateDays: z
      .object({ warning: z.number().int().positive().default(14), critical: z.number().int().positive().default(3) })
      .strict()
      .refine((days) => days.critical < days.warning, {
        error: (issue) => {
          const days = issue.input as { warning: number; critical: number };
          return `critical (${days.critical}) must be fewer days than warning (${days.warning})`;
        },
      })
      .prefault({}),
  })
  .strict()
  .prefault({});
export type Thresholds = z.infer<typeof Thresholds>;

export const Windows = z
  .object({
    /** How often every exporter is scraped. @default "30s" */
    scrapeInterval: Duration.default("30s"),
    /** How often the rules are evaluated. @default "30s" */
    evaluationInterval: Duration.default("30s"),
    /** The window rates are taken over (CPU, requests, 5xx). @default "5m" */
    rateWindow: Duration.default("5m"),
    /** How long CPU, memory or disk must stay past a threshold before it alerts. @default "10m" */
    resources: Duration.default("10m"),
    /** How long a service must stay down before it alerts. @default "1m" */
    services: Duration.default("1m"),
    /** How long replication must stay broken or behind before it alerts. @default "2m" */
    replication: Duration.default("2m"),
    /** How long a site's 5xx share must stay high before it alerts. @default "5m" */
    errors: Duration.default("5m"),
    /** How long a certificate must stay near expiry (a probe can fail once). @default "10m" */
    certificates: Duration.default("10m"),
  })
  .strict()
  .superRefine((windows, ctx) => {
    // rate() needs two samples inside its window, and a scrape can come late.
    if (durationSeconds(windows.rateWindow) < 2 * durationSeconds(windows.scrapeInterval)) {
      ctx.addIssue({
        code: "custom",
        path: ["rateWindow"],
        message: `${shown(windows.rateWindow)} must be at least twice scrapeInterval (${shown(windows.scrapeInterval)}), or rates have too few samples`,
      });
    }
  })
  .prefault({});
export type Windows = z.infer<typeof Windows>;

/** Alertmanager's batching: how long it waits to group alerts, and how often it repeats one still firing. */
export const Notifications = z
  .object({
    /** Wait before the first notice of a new group, so alerts of one cause arrive together. @default "30s" */
    groupWait: Duration.default("30s"),
    /** Wait before telling a group's changes (new alerts, resolved ones). @default "5m" */
    groupInterval: Duration.default("5m"),
    /** Repeat an alert still firing this often. @default "4h" */
    repeatInterval: Duration.default("4h"),
  })
  .strict()
  .prefault({});
export type Notifications = z.infer<typeof Notifications>;

/** A value that must be a secret: a `secure:` reference in a stack file, the decrypted text in a Pulumi program. */
export const SecretText = z.union([SecretRef, z.string().min(1)]);
export type SecretText = z.infer<typeof SecretText>;

const emailAddress = z.email({ error: (issue) => `${shown(issue.input)} is not an e-mail address` });

/** `host:port`, as Alertmanager's `smarthost` wants it. */
const smarthostPattern = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;

export const EmailReceiver = z
  .object({
    /** @example ["ops@example.com"] */
    to: z.array(emailAddress).min(1, { error: "needs at least one address" }),
    /** @example "alerts@example.com" */
    from: emailAddress,
    /**
     * The SMTP relay, `host:port`. Port 587 speaks STARTTLS, which `requireTls` insists on.
     * @example "smtp.example.com:587"
     */
    smarthost: z.string().regex(smarthostPattern, { error: (issue) => `${shown(issue.input)} is not host:port (like smtp.example.com:587)` }),
    /** Relay login; the password must then be given too. */
    username: z.string().min(1).optional(),
    /** A secret: `pulumi config set --secret --path 'monitoring.receivers.email.password'`. Written to its own file, never into alertmanager.yml. */
    password: SecretText.optional(),
    /** Refuse to send over a relay that does not offer STARTTLS. @default true */
    requireTls: z.boolean().default(true),
  })
  .strict()
  .refine((email) => (email.username === undefined) === (email.password === undefined), {
    error: "username and password go together: a relay login needs both",
  });
export type EmailReceiver = z.infer<typeof EmailReceiver>;

export const WebhookReceiver = z
  .object({
    /**
     * Where Alertmanager POSTs its JSON. Credentials go in `bearerToken`, not in the URL, so the
     * URL can stay in plain config.
     * @example "https://hooks.example.com/megaweb"
     */
    url: z
      .url({ protocol: /^https?$/, error: (issue) => `${shown(issue.input)} is not an http or https URL` })
      .refine((url) => new URL(url).username === "" && new URL(url).password === "", {
        error: "must not hold a user or password; put the credential in bearerToken",
      }),
    /** Sent as `Authorization: Bearer …`; a secret, written to its own file. */
    bearerToken: SecretText.optional(),
  })
  .strict();
export type WebhookReceiver = z.infer<typeof WebhookReceiver>;

export const Receivers = z
  .object({
    email: EmailReceiver.optional(),
    webhooks: z.array(WebhookReceiver).default([]),
  })
  .strict()
  .prefault({});
export type Receivers = z.infer<typeof Receivers>;

/**
 * The `monitoring` key of a stack file. Everything has a default, so an absent key monitors with
 * the MARG thresholds and shows alerts in Alertmanager's UI; receivers make them reach people.
 * @example
 * monitoring:
 *   thresholds: { disk: { warning: 80 } }
 *   receivers:
 *     email: { to: [ops@example.com], from: alerts@example.com, smarthost: "smtp.example.com:587", username: alerts, password: { secure: v1:... } }
 *     webhooks: [{ url: https://hooks.example.com/megaweb }]
 */
export const Monitoring = z
  .object({
    /** @default true */
    enabled: z.boolean().default(true),
    thresholds: Thresholds,
    windows: Windows,
    notifications: Notifications,
    receivers: Receivers,
    /**
     * How long Prometheus keeps samples. The control panel charts the last 24 hours from the
     * recording rules; the rest is for looking back at an incident.
     * @default "15d"
     */
    retention: Duration.default("15d"),
  })
  .strict()
  .prefault({});
export type Monitoring = z.infer<typeof Monitoring>;
export type MonitoringInput = z.input<typeof Monitoring>;

/**
 * Receiver credentials that are not Pulumi secrets. A stack file holds a secret as
 * `{ secure: … }`, so there a plain string is plain text. The Pulumi program sees every value
 * decrypted and knows only whether some value under `megaweb:monitoring` was stored as a secret
 * (`keyIsSecret`), the finest grain Pulumi keeps; without that, the credentials are in the stack
 * file in the clear.
 */
export function plaintextReceiverCredentials(monitoring: Monitoring, keyIsSecret = false): Problem[] {
  if (keyIsSecret) return [];
  const { email, webhooks } = monitoring.receivers;
  const credentials: [Problem["path"], SecretText | undefined][] = [
    [["monitoring", "receivers", "email", "password"], email?.password],
    ...webhooks.map((webhook, index): [Problem["path"], SecretText | undefined] => [
      ["monitoring", "receivers", "webhooks", index, "bearerToken"],
      webhook.bearerToken,
    ]),
  ];
  return credentials
    .filter(([, value]) => typeof value === "string")
    .map(([path]) => ({ path, message: `is in plain text; store it with pulumi config set --secret --path '${formatPath(path)}'` }));
}
