import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import underPressure from "@fastify/under-pressure";
import type { EventPublisher } from "@aa/event-bus";
import { createHttpServer, registerMetricsRoute, type Logger, type NatsLink } from "@aa/service-kit";
import type { Registry } from "prom-client";
import { readingRoutes } from "./routes/reading.js";
import { readingBatchRoutes } from "./routes/reading-batch.js";
import { ouraWebhookRoutes } from "./routes/oura-webhook.js";
import { RETRY_AFTER_SECONDS } from "./readings/core.js";
import { READING_ROUTES } from "./readings/kinds.js";
import type { OuraWebhookSettings } from "./oura.js";
import { MAX_BODY_DEPTH, nestedDeeperThan } from "./depth.js";
import type { Authenticators } from "./auth/authenticate.js";
import { guardIngestRoutes, rejectionCounter } from "./auth/guard.js";
import { admitByHeap } from "./limits/heap-admission.js";

export interface IngestDeps {
  publisher: EventPublisher;
  link: NatsLink;
  registry: Registry;
  logger: Logger;
  /** How `/ingest/*` authenticates; undefined: INGEST_AUTH_MODE=none (anonymous). */
  auth: Authenticators | undefined;
  /** Requests per credential per window; 0 turns the limit off. */
  rateLimit?: { max: number; windowMs: number };
  /** Shed load while the event loop lags more than this (ms); 0 turns it off. */
  maxEventLoopDelayMs?: number;
  /**
   * Heap `/ingest/*` requests may take the process to, in bytes, each request in flight counted at its estimated peak;
   * past it 503 + Retry-After. 0 or unset turns it off.
   */
  heapBudgetBytes?: number;
  maxHeaderBytes?: number;
  /** Time a client has to send its whole request (408 past it); service-kit's default when unset. */
  requestTimeoutMs?: number;
  trustProxy?: boolean | number | string[];
  /** false: /metrics is served by the admin listener (buildAdminApp), not here; /health is served by both. */
  adminRoutes?: boolean;
  /** ADMIN_PORT, named in the 404 of `/metrics` on this port. */
  adminPort?: number;
  bodyLimitBytes?: number;
  /** Body limit of the `/batch` routes (up to 1,000 readings). */
  batchBodyLimitBytes?: number;
  now?: () => Date;
  /** `/webhooks/oura` settings; undefined answers 503 (not configured). */
  oura?: OuraWebhookSettings;
  /**
   * Test-only crash point (`ingest:after-puback-before-reply`): called after a single reading's PubAck, before the
   * reply.
   */
  afterPubAck?: () => void;
}

/** Maps Fastify's own 4xx errors (bad JSON, wrong content type, too large, rate limited) to `{error, details}`. */
export function errorHandler(
  error: FastifyError & { details?: unknown },
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const status = error.statusCode ?? 500;
  if (status >= 500) {
    request.log.error({ err: error }, "request failed");
    return reply.code(500).send({ error: "Internal error" });
  }
  return reply
    .code(status)
    .send({ error: error.message, details: error.details ?? [{ field: "(body)", message: error.message }] });
}

const ADMIN_PATHS = new Set(["/health", "/metrics"]);

/** The ingest HTTP app, not listening: `main.ts` wires and listens, tests inject. */
export async function buildApp(deps: IngestDeps): Promise<FastifyInstance> {
  const adminRoutes = deps.adminRoutes !== false;
  const app = createHttpServer({
    logger: deps.logger,
    registry: deps.registry,
    bodyLimitBytes: deps.bodyLimitBytes,
    maxHeaderBytes: deps.maxHeaderBytes,
    requestTimeoutMs: deps.requestTimeoutMs,
    trustProxy: deps.trustProxy,
    metricsRoute: adminRoutes,
  });
  app.setErrorHandler(errorHandler);
  app.decorateRequest("principal", null as never);
  const rejected = rejectionCounter(deps.registry);
  if ((deps.maxEventLoopDelayMs ?? 0) > 0) {
    // Health and metrics keep answering under load: an overloaded pod is not a dead one.
    const shed = (request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => {
      if (ADMIN_PATHS.has(request.routeOptions.url ?? "")) return undefined;
      rejected("overloaded");
      reply.code(503).header("Retry-After", String(RETRY_AFTER_SECONDS));
      return {
        error: `Overloaded (${type} ${Math.round(Number(value))} ms): the request was not accepted. Retry later.`,
      };
    };
    // under-pressure sends a handler's non-null return value as the body (undefined: carry on); its types only say
    // void.
    await app.register(underPressure, {
      maxEventLoopDelay: deps.maxEventLoopDelayMs,
      pressureHandler: shed as unknown as (...args: Parameters<typeof shed>) => void,
    });
  }
  app.addHook("preValidation", async (request, reply) => {
    if (nestedDeeperThan(request.body, MAX_BODY_DEPTH))
      return reply.code(400).send({ error: `Request body nests deeper than ${MAX_BODY_DEPTH} levels` });
  });
  const now = deps.now ?? (() => new Date());
  const batchLimit = deps.batchBodyLimitBytes ?? 2_097_152;
  await app.register(async (ingest) => {
    await guardIngestRoutes(ingest, {
      auth: deps.auth,
      rateLimitMax: deps.rateLimit?.max ?? 0,
      rateLimitWindowMs: deps.rateLimit?.windowMs ?? 1_000,
      rejected,
    });
    // After the guard's onRequest: a stranger gets its 401 whatever the heap, and holds no reservation.
    const budgetBytes = deps.heapBudgetBytes ?? 0;
    if (budgetBytes > 0) admitByHeap(ingest, { budgetBytes, rejected, registry: deps.registry });
    for (const route of READING_ROUTES) {
      await ingest.register(readingRoutes(route, deps.publisher, now, deps.afterPubAck));
      await ingest.register(readingBatchRoutes(route, deps.publisher, now, batchLimit));
    }
  });
  // Oura proves itself with the webhook signature, not with our credentials.
  await app.register(ouraWebhookRoutes(deps.oura, deps.publisher, now));
  // /health stays on the client port too: the runbook curls it there, and it tells nothing secret.
  registerHealthRoute(app, deps.link);
  if (!adminRoutes) registerMetricsMovedRoute(app, deps.adminPort);
  return app;
}

/** /health and /metrics alone, for ADMIN_PORT: reachable by probes and Prometheus, not by clients. */
export function buildAdminApp(deps: Pick<IngestDeps, "link" | "registry" | "logger">): FastifyInstance {
  const app = createHttpServer({ logger: deps.logger, registry: deps.registry, metricsRoute: false });
  registerMetricsRoute(app, deps.registry);
  registerHealthRoute(app, deps.link);
  return app;
}

/** With ADMIN_PORT, `/metrics` on the client port says where it went instead of a bare 404. */
function registerMetricsMovedRoute(app: FastifyInstance, adminPort: number | undefined): void {
  const where = adminPort === undefined ? "the admin port (ADMIN_PORT)" : `port ${adminPort} (ADMIN_PORT)`;
  app.get("/metrics", async (request, reply) => {
    const host = (request.headers.host ?? "<ingest host>").replace(/:\d+$/, "");
    return reply.code(404).send({
      error:
        `/metrics is served on ${where}, not on this port: curl ` +
        `http://${host}:${adminPort ?? "<ADMIN_PORT>"}/metrics`,
    });
  });
}

function registerHealthRoute(app: FastifyInstance, link: NatsLink): void {
  app.get("/health", async (_request, reply) => {
    const eventBus = link.state();
    const healthy = eventBus === "connected";
    return reply
      .code(healthy ? 200 : 503)
      .send({ status: healthy ? "healthy" : "unhealthy", service: "ingest", eventBus });
  });
}
