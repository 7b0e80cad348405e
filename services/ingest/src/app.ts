import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { EventPublisher } from "@aa/event-bus";
import { createHttpServer, type Logger, type NatsLink } from "@aa/service-kit";
import type { Registry } from "prom-client";
import { hrvRoutes } from "./routes/hrv.js";
import { sleepRoutes } from "./routes/sleep.js";
import { ouraWebhookRoutes } from "./routes/oura-webhook.js";
import type { OuraWebhookSettings } from "./oura.js";
import { MAX_BODY_DEPTH, nestedDeeperThan } from "./depth.js";

export interface IngestDeps {
  publisher: EventPublisher;
  link: NatsLink;
  registry: Registry;
  logger: Logger;
  bodyLimitBytes?: number;
  /** Body limit of the `/batch` routes (up to 1,000 readings). */
  batchBodyLimitBytes?: number;
  now?: () => Date;
  /** `/webhooks/oura` settings; undefined answers 503 (not configured). */
  oura?: OuraWebhookSettings;
  /** Test-only crash point (`ingest:after-puback-before-reply`): called after a single reading's PubAck, before the reply. */
  afterPubAck?: () => void;
}

/** Maps Fastify's own 4xx errors (bad JSON, wrong content type, too large) to `{error, details}`. */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = error.statusCode ?? 500;
  if (status >= 500) {
    request.log.error({ err: error }, "request failed");
    return reply.code(500).send({ error: "Internal error" });
  }
  return reply.code(status).send({ error: error.message, details: [{ field: "(body)", message: error.message }] });
}

/** The ingest HTTP app, not listening: `main.ts` wires and listens, tests inject. */
export async function buildApp(deps: IngestDeps): Promise<FastifyInstance> {
  const app = createHttpServer({ logger: deps.logger, registry: deps.registry, bodyLimitBytes: deps.bodyLimitBytes });
  app.setErrorHandler(errorHandler);
  app.addHook("preValidation", async (request, reply) => {
    if (nestedDeeperThan(request.body, MAX_BODY_DEPTH)) return reply.code(400).send({ error: `Request body nests deeper than ${MAX_BODY_DEPTH} levels` });
  });
  const now = deps.now ?? (() => new Date());
  const batchLimit = deps.batchBodyLimitBytes ?? 2_097_152;
  await app.register(hrvRoutes(deps.publisher, now, batchLimit, deps.afterPubAck));
  await app.register(sleepRoutes(deps.publisher, now, batchLimit, deps.afterPubAck));
  await app.register(ouraWebhookRoutes(deps.oura, deps.publisher, now));

  app.get("/health", async (_request, reply) => {
    const eventBus = deps.link.state();
    const healthy = eventBus === "connected";
    return reply.code(healthy ? 200 : 503).send({ status: healthy ? "healthy" : "unhealthy", service: "ingest", eventBus });
  });
  return app;
}
