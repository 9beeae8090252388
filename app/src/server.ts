import { createHash, timingSafeEqual } from "node:crypto";
import cors from "@fastify/cors";
import rateLimit from "@fastify/rate-limit";
import fastifyStatic from "@fastify/static";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { z } from "zod";
import { version } from "../package.json";
import { assetDir } from "./assets";
import { embedBulk } from "./bulk-embed";
import { ApiError, notFound, parseInput } from "./errors";
import { listEvents } from "./events";
import { checkHealth } from "./health";
import { recordHeartbeats } from "./heartbeats";
import { hypergrid } from "./hypergrid";
import { globalMetrics, metricsHistory } from "./metrics";
import { addProxy, listPools, listProxies, upsertPool } from "./proxies";
import { enqueue, PRIORITY } from "./queue";
import { listReplicas } from "./replicas";
import { countSessions } from "./scale";
import {
  batchCreateSchema,
  bulkEmbedSchema,
  createProxySchema,
  createSessionSchema,
  heartbeatBatchSchema,
  hypergridQuery,
  listEventsQuery,
  listProxiesQuery,
  listReplicasQuery,
  listSessionsQuery,
  metricsHistoryQuery,
  scaleMillionSchema,
  scaleSessionSchema,
  updateSessionSchema,
  upsertPoolSchema,
  type SessionSpec,
} from "./schemas";
import { createSession, createSessionBatch, deleteSession, getSession, getSessions, listSessions, scaleSession, updateSession } from "./sessions";
import type { Services } from "./services";

const idParams = z.object({ id: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "must be a session id") });
const poolParams = z.object({ id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "must be a pool id") });
const jobParams = z.object({ id: z.string().regex(/^[0-9A-Za-z:_-]{1,64}$/, "must be a job id") });

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const HEARTBEAT_PATH = "/api/replicas/heartbeats";

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Lists stay arrays for the first edition's clients; the next page travels in headers. */
function sendPage(reply: FastifyReply, path: string, query: Record<string, unknown>, items: unknown[], nextCursor?: string) {
  if (nextCursor !== undefined) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && key !== "cursor") params.set(key, value instanceof Date ? value.toISOString() : String(value));
    }
    params.set("cursor", nextCursor);
    reply.header("X-Next-Cursor", nextCursor);
    reply.header("Link", `<${path}?${params.toString()}>; rel="next"`);
  }
  return items;
}

export async function buildServer(services: Services): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    logger: { level: config.MEGAWEB_LOG_LEVEL, redact: ["req.headers.authorization"] },
    // nginx in front keeps the access log; the app's journal keeps what went wrong.
    disableRequestLogging: true,
    trustProxy: config.MEGAWEB_TRUST_PROXY,
    bodyLimit: 5 * 1024 * 1024,
  });
  const expectedToken = digest(config.MEGAWEB_API_TOKEN);
  const runnerToken = config.MEGAWEB_RUNNER_TOKEN === undefined ? undefined : digest(config.MEGAWEB_RUNNER_TOKEN);

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error instanceof ApiError) {
      return reply.status(error.statusCode).send({ error: error.code, message: error.message, issues: error.issues });
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) request.log.error(error);
    return reply.status(status).send({
      error: status === 429 ? "rate_limited" : status >= 500 ? "internal_error" : "bad_request",
      message: status >= 500 ? "internal error" : error.message,
    });
  });
  app.setNotFoundHandler((request, reply) => reply.status(404).send({ error: "not_found", message: `${request.method} ${request.url} is not an endpoint` }));

  await app.register(cors, {
    origin: config.MEGAWEB_CORS_ORIGINS.includes("*") ? true : config.MEGAWEB_CORS_ORIGINS,
    methods: ["GET", "POST", "PUT", "DELETE"],
    allowedHeaders: ["Authorization", "Content-Type"],
    exposedHeaders: ["X-Next-Cursor", "Link"],
  });
  await app.register(rateLimit, {
    global: true,
    max: config.MEGAWEB_RATE_LIMIT_PER_MINUTE,
    timeWindow: 60_000,
    redis: services.redis,
    nameSpace: "megaweb:ratelimit:",
    // A Redis hiccup must not lock every client out of the API.
    skipOnError: true,
  });
  app.addHook("onRequest", async (request) => {
    if (!MUTATING.has(request.method) || !request.url.startsWith("/api/")) return;
    const header = request.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
    const presented = digest(token);
    if (token && timingSafeEqual(presented, expectedToken)) return;
    // The runner token opens the heartbeat endpoint and nothing else.
    if (token && runnerToken && request.url.split("?")[0] === HEARTBEAT_PATH && timingSafeEqual(presented, runnerToken)) return;
    throw new ApiError(401, "unauthorized", "Authorization: a valid 'Bearer <API token>' is required to change anything");
  });
  await app.register(fastifyStatic, { root: assetDir("public"), prefix: "/" });

  // Load balancers and the monitoring ask every few seconds from a few addresses; counted, they
  // would spend those clients' budget and a 429 would take a healthy node out of rotation.
  app.get("/api/health", { config: { rateLimit: false } }, async (_request, reply) => {
    const health = await checkHealth(services, version);
    return reply.status(health.status === "unhealthy" ? 503 : 200).send(health);
  });

  app.get("/api/sessions", async (request, reply) => {
    const query = parseInput(listSessionsQuery, request.query, "query");
    const page = await listSessions(services.db.reader(), query);
    return sendPage(reply, "/api/sessions", query, page.sessions, page.nextCursor);
  });
  app.post("/api/sessions", async (request, reply) => {
    const spec = parseInput(createSessionSchema, request.body);
    return reply.status(201).send(await createSession(services, spec));
  });
  app.post("/api/sessions/batch", async (request) => {
    const items = parseInput(batchCreateSchema, request.body);
    const valid: { index: number; spec: SessionSpec }[] = [];
    const failed: { index: number; error: string; issues: ApiError["issues"]; input: unknown }[] = [];
    items.forEach((item, index) => {
      try {
        valid.push({ index, spec: parseInput(createSessionSchema, item, `[${index}]`) });
      } catch (error) {
        const apiError = error as ApiError;
        failed.push({ index, error: apiError.message, issues: apiError.issues, input: item });
      }
    });
    const ids = valid.length
      ? await createSessionBatch(
          services,
          valid.map((entry) => entry.spec),
          "session.batch_created",
        )
      : [];
    // The primary, so the creator sees its own rows before the replicas do.
    return { created: await getSessions(services.db.primary, ids), failed };
  });
  app.post("/api/sessions/clear", async (_request, reply) => {
    const job = await enqueue(services.queue, "clear-sessions", {}, PRIORITY.bulk);
    return reply.status(202).send({ jobId: job.id, status: "queued", statusUrl: `/api/jobs/${job.id}` });
  });
  app.get("/api/sessions/:id", async (request) => {
    const { id } = parseInput(idParams, request.params, "params");
    return getSession(services.db.reader(), id);
  });
  app.put("/api/sessions/:id", async (request) => {
    const { id } = parseInput(idParams, request.params, "params");
    return updateSession(services, id, parseInput(updateSessionSchema, request.body));
  });
  app.delete("/api/sessions/:id", async (request) => {
    const { id } = parseInput(idParams, request.params, "params");
    await deleteSession(services, id);
    return { success: true, id };
  });
  app.post("/api/sessions/:id/scale", async (request) => {
    const { id } = parseInput(idParams, request.params, "params");
    const { target_replicas } = parseInput(scaleSessionSchema, request.body);
    return scaleSession(services, id, target_replicas);
  });

  app.post("/api/embed/bulk", async (request) => embedBulk(services, parseInput(bulkEmbedSchema, request.body)));
  app.post("/api/embed/scale-million", async (request, reply) => {
    const scale = parseInput(scaleMillionSchema, request.body ?? {});
    const job = await enqueue(services.queue, "scale-sessions", scale, PRIORITY.bulk);
    const currentSessions = await countSessions(services);
    return reply.status(202).send({
      jobId: job.id,
      status: "queued",
      statusUrl: `/api/jobs/${job.id}`,
      targetSessions: scale.targetSessions,
      currentSessions,
      targetReached: currentSessions >= scale.targetSessions,
    });
  });
  app.get("/api/jobs/:id", async (request) => {
    const { id } = parseInput(jobParams, request.params, "params");
    const job = await services.queue.getJob(id);
    if (!job) throw notFound("job", id);
    const progress = typeof job.progress === "object" ? job.progress : {};
    return {
      id: job.id,
      name: job.name,
      state: await job.getState(),
      ...progress,
      ...(job.returnvalue && typeof job.returnvalue === "object" ? job.returnvalue : {}),
      progress: job.progress,
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason ?? null,
      result: job.returnvalue ?? null,
    };
  });

  app.get("/api/metrics/global", async () => globalMetrics(services));
  app.get("/api/metrics/history", async (request) => metricsHistory(services.db.reader(), parseInput(metricsHistoryQuery, request.query, "query")));
  app.get("/api/hypergrid", async (request) => hypergrid(services, parseInput(hypergridQuery, request.query, "query")));
  app.get("/api/events", async (request, reply) => {
    const query = parseInput(listEventsQuery, request.query, "query");
    const page = await listEvents(services.db.reader(), query);
    return sendPage(reply, "/api/events", query, page.events, page.nextCursor);
  });

  app.get("/api/replicas", async (request, reply) => {
    const query = parseInput(listReplicasQuery, request.query, "query");
    const page = await listReplicas(services.db.reader(), services.redis, query);
    return sendPage(reply, "/api/replicas", query, page.replicas, page.nextCursor);
  });
  app.post(HEARTBEAT_PATH, async (request) => recordHeartbeats(services, parseInput(heartbeatBatchSchema, request.body).heartbeats));

  app.get("/api/proxies", async (request, reply) => {
    const query = parseInput(listProxiesQuery, request.query, "query");
    const page = await listProxies(services.db.reader(), query);
    return sendPage(reply, "/api/proxies", query, page.proxies, page.nextCursor);
  });
  app.post("/api/proxies", async (request, reply) => {
    const id = await addProxy(services, parseInput(createProxySchema, request.body));
    return reply.status(201).send({ success: true, id });
  });
  app.get("/api/proxy-pools", async () => listPools(services.db.reader()));
  app.put("/api/proxy-pools/:id", async (request) => {
    const { id } = parseInput(poolParams, request.params, "params");
    return upsertPool(services, { id, ...parseInput(upsertPoolSchema, request.body) });
  });

  return app;
}
