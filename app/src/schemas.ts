import { z } from "zod";
import {
  DEFAULT_PAGE_SIZE,
  MAX_BATCH_SESSIONS,
  MAX_BULK_URLS,
  MAX_HEARTBEATS_PER_REQUEST,
  MAX_PAGE_SIZE,
  MAX_REPLICAS_PER_SESSION,
  MAX_SESSIONS,
} from "./limits";
import { replicaStatuses } from "./replica-lifecycle";

/** Request and query shapes of the API; the domain types are inferred from them. */

/** A missing field says so instead of naming the type it should have had. */
function expected(rule: string) {
  return (issue: { input?: unknown }) => (issue.input === undefined ? "is required" : rule);
}

export const sessionStatuses = ["pending", "active", "paused", "terminated", "failed"] as const;
export const rotations = ["round-robin", "sticky", "burst", "geo"] as const;

const webUrl = z
  .string({ error: expected("must be a string") })
  .max(2048, "must be at most 2048 characters")
  .refine((value) => {
    try {
      const parsed = new URL(value);
      return (parsed.protocol === "http:" || parsed.protocol === "https:") && parsed.hostname.length > 0;
    } catch {
      return false;
    }
  }, "must be an http(s) URL");

const name = z.string({ error: expected("must be a string") }).regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "must be 1-64 lowercase letters, digits, '.', '_' or '-'");

const country = z.string().regex(/^[A-Z]{2}$/, "must be an ISO 3166 two-letter code such as US");

const jsonObject = z.record(z.string(), z.unknown(), { error: expected("must be a JSON object") });

export const proxyRequirementsSchema = z.looseObject({
  country: country.optional(),
  region: name.optional(),
});

const replicaCount = z
  .number({ error: expected("must be a number") })
  .int("must be a whole number")
  .min(0, "must be 0 or more")
  .max(MAX_REPLICAS_PER_SESSION, `must be at most ${MAX_REPLICAS_PER_SESSION}`);

export const createSessionSchema = z.object({
  url: webUrl,
  target_replica_count: replicaCount.default(1),
  region: name.default("us-east"),
  proxy_pool_id: name.nullable().default(null),
  rendering_options: jsonObject.default({}),
  proxy_requirements: proxyRequirementsSchema.default({}),
});
export type SessionSpec = z.infer<typeof createSessionSchema>;

export const updateSessionSchema = z
  .object({
    url: webUrl,
    status: z.enum(sessionStatuses, { error: `must be one of ${sessionStatuses.join(", ")}` }),
    target_replica_count: replicaCount,
    region: name,
    proxy_pool_id: name.nullable(),
    rendering_options: jsonObject,
    proxy_requirements: proxyRequirementsSchema,
  })
  .partial()
  .refine((update) => Object.keys(update).length > 0, "must change at least one field");
export type SessionUpdate = z.infer<typeof updateSessionSchema>;

export const scaleSessionSchema = z.object({ target_replicas: replicaCount });

export const batchCreateSchema = z
  .array(z.unknown(), { error: expected("must be an array of session definitions") })
  .min(1, "must hold at least one session")
  .max(MAX_BATCH_SESSIONS, `must hold at most ${MAX_BATCH_SESSIONS} sessions`);

/** Each URL is checked on its own (bulkUrlSchema), so one bad URL fails alone instead of the whole request. */
export const bulkEmbedSchema = z.object({
  urls: z
    .array(z.unknown(), { error: expected("must be an array of URLs") })
    .min(1, "must hold at least one URL")
    .max(MAX_BULK_URLS, `must hold at most ${MAX_BULK_URLS} URLs`),
  bulkOptions: z
    .object({
      replicasPerUrl: replicaCount.min(1, "must be 1 or more").default(1),
      region: name.default("us-east"),
      proxyPoolId: name.nullable().default(null),
    })
    .prefault({}),
  proxyRequirements: proxyRequirementsSchema.default({}),
  renderingOptions: jsonObject.default({}),
});

export type BulkEmbedRequest = z.infer<typeof bulkEmbedSchema>;
export const bulkUrlSchema = webUrl;

export const scaleMillionSchema = z.object({
  targetSessions: z
    .number({ error: expected("must be a number") })
    .int("must be a whole number")
    .min(1, "must be 1 or more")
    .max(MAX_SESSIONS, `must be at most ${MAX_SESSIONS}`)
    .default(MAX_SESSIONS),
  replicasPerSession: replicaCount.min(1, "must be 1 or more").max(10, "must be at most 10").default(1),
  region: name.default("us-east"),
  proxyPoolId: name.nullable().default(null),
});
export type ScaleMillionRequest = z.infer<typeof scaleMillionSchema>;

const replicaId = z
  .string({ error: expected("must be a string") })
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "must be a replica id");
export const reportedStatuses = ["starting", "running", "stopped", "failed"] as const;

export const heartbeatSchema = z.object({
  replica_id: replicaId,
  status: z.enum(reportedStatuses, { error: `must be one of ${reportedStatuses.join(", ")}` }),
  /** Why a replica stopped or failed, in the runner's words. */
  reason: z.string().max(255, "must be at most 255 characters").optional(),
  /** How the replica's last request through its proxy went. */
  last_request: z
    .object({
      proxy_outcome: z.enum(["ok", "proxy_error", "target_error"], { error: expected("must be ok, proxy_error or target_error") }),
      latency_ms: z
        .number({ error: expected("must be a number") })
        .min(0, "must be 0 or more")
        .max(600_000, "must be at most 600000")
        .optional(),
    })
    .optional(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

export const heartbeatBatchSchema = z.object({
  heartbeats: z
    .array(heartbeatSchema, { error: expected("must be an array of heartbeats") })
    .min(1, "must hold at least one heartbeat")
    .max(MAX_HEARTBEATS_PER_REQUEST, `must hold at most ${MAX_HEARTBEATS_PER_REQUEST} heartbeats`),
});

const latitude = z
  .number({ error: expected("must be a number") })
  .min(-90, "must be -90 or more")
  .max(90, "must be 90 or less");
const longitude = z
  .number({ error: expected("must be a number") })
  .min(-180, "must be -180 or more")
  .max(180, "must be 180 or less");

export const createProxySchema = z.object({
  pool_id: name.default("global-pool"),
  host: z.string().regex(/^[A-Za-z0-9.-]{1,253}$|^\[?[0-9a-fA-F:]+\]?$/, "must be a host name or IP address"),
  port: z
    .number({ error: expected("must be a number") })
    .int("must be a whole number")
    .min(1, "must be 1 or more")
    .max(65535, "must be at most 65535"),
  protocol: z.enum(["http", "https", "socks5"], { error: expected("must be http, https or socks5") }).default("http"),
  country: country.nullable().default(null),
  region: name.nullable().default(null),
  city: z.string().max(128).nullable().default(null),
  latitude: latitude.nullable().default(null),
  longitude: longitude.nullable().default(null),
  coordinates: z.object({ latitude, longitude }).optional(),
});
export type ProxySpec = z.infer<typeof createProxySchema>;

export const upsertPoolSchema = z.object({
  region: name.default("global"),
  rotation: z.enum(rotations, { error: `must be one of ${rotations.join(", ")}` }).default("round-robin"),
});

const pageSize = z.coerce
  .number()
  .int("must be a whole number")
  .min(1, "must be 1 or more")
  .max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`)
  .default(DEFAULT_PAGE_SIZE);

export const listSessionsQuery = z.object({
  status: z.enum(sessionStatuses, { error: `must be one of ${sessionStatuses.join(", ")}` }).optional(),
  region: name.optional(),
  proxy_pool_id: name.optional(),
  cursor: z
    .string()
    .regex(/^[0-9a-f-]{36}$/, "must be a cursor from X-Next-Cursor")
    .optional(),
  limit: pageSize,
});

const since = z
  .string()
  .refine((value) => !Number.isNaN(Date.parse(value)), "must be an ISO 8601 date or time")
  .transform((value) => new Date(value));

export const listEventsQuery = z.object({
  aggregate_id: z.string().max(64).optional(),
  event_type: z.string().max(64).optional(),
  since: since.optional(),
  cursor: z.coerce.number().int().min(0, "must be a cursor from X-Next-Cursor").optional(),
  order: z.enum(["asc", "desc"], { error: expected("must be asc or desc") }).default("asc"),
  limit: pageSize,
});

export const listProxiesQuery = z.object({
  pool_id: name.optional(),
  cursor: z
    .string()
    .regex(/^[0-9a-f-]{36}$/, "must be a cursor from X-Next-Cursor")
    .optional(),
  limit: pageSize,
});

export const listReplicasQuery = z.object({
  session_id: replicaId.optional(),
  status: z.enum(replicaStatuses, { error: `must be one of ${replicaStatuses.join(", ")}` }).optional(),
  proxy_id: replicaId.optional(),
  cursor: z
    .string()
    .regex(/^[0-9a-f-]{36}$/, "must be a cursor from X-Next-Cursor")
    .optional(),
  limit: pageSize,
});

export const hypergridQuery = z.object({
  cursor: z.coerce.number().int().min(0, "must be a tile number from next_cursor").optional(),
  limit: pageSize,
});

export const metricsHistoryQuery = z.object({
  name: z.string().regex(/^[a-z_]{1,64}$/, "must be a metric name such as active_sessions"),
  since: since.optional(),
  limit: pageSize,
});
