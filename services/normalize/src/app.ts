import { STATUS_CODES } from "node:http";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { BindingProgress } from "@aa/event-bus";
import { createHttpServer, type Logger, type NatsLink } from "@aa/service-kit";
import type pg from "pg";
import type { Registry } from "prom-client";
import { databaseAnswers } from "./db.js";
import { ouraLinkRoutes, type OuraLinkDeps } from "./oura/link.js";

export interface NormalizeAppDeps {
  pool: pg.Pool;
  link: NatsLink;
  registry: Registry;
  logger: Logger;
  /** Bindings of every durable this process consumes. */
  consumers: () => BindingProgress[];
  /** `/auth/oura/*`; undefined (Oura not configured) answers 503. */
  oura?: OuraLinkDeps;
  /** Whose `X-Forwarded-For` to believe (TRUST_PROXY): the linking rate limit counts per client address. */
  trustProxy?: boolean | number | string[];
}

/**
 * healthy: database and NATS answer and every durable has a primary binding.
 * degraded: dependencies answer but a durable is drain-only or lost (new events would not be processed).
 */
function overallStatus(
  database: boolean,
  nats: boolean,
  consumers: BindingProgress[],
): "healthy" | "degraded" | "unhealthy" {
  if (!database || !nats) return "unhealthy";
  const byDurable = new Map<string, BindingProgress[]>();
  for (const c of consumers) byDurable.set(c.durable, [...(byDurable.get(c.durable) ?? []), c]);
  const working = [...byDurable.values()].every((list) => list.some((c) => c.role === "primary" && c.error === null));
  return working && consumers.length > 0 ? "healthy" : "degraded";
}

/**
 * A failure of ours (a database error, a token that does not decrypt) is logged with its detail and answered with a
 * fixed text and the request id to quote: `/auth/oura/*` is reached by anonymous browsers, which must not read
 * database or crypto messages. Client errors (4xx: bad JSON, rate limited) keep Fastify's shape and message.
 */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = error.statusCode ?? 500;
  if (status < 500) {
    return reply.code(status).send({ statusCode: status, error: STATUS_CODES[status], message: error.message });
  }
  request.log.error(
    { err: error },
    `[normalize] ${request.method} ${request.routeOptions.url ?? "(unmatched)"} failed`,
  );
  const advice = `retry, and if it keeps failing give the operator the id ${request.id}`;
  return reply
    .code(500)
    .send({ error: `Internal error: the request was not completed; ${advice}`, requestId: request.id });
}

/** The normalize HTTP surface: health, metrics and Oura account linking; consuming happens in main. */
export async function buildApp(deps: NormalizeAppDeps): Promise<FastifyInstance> {
  const app = createHttpServer({ logger: deps.logger, registry: deps.registry, trustProxy: deps.trustProxy });
  app.setErrorHandler(errorHandler);
  await app.register(ouraLinkRoutes(deps.oura));
  app.get("/health", async (_request, reply) => {
    const database = await databaseAnswers(deps.pool);
    const nats = deps.link.state();
    const consumers = deps.consumers();
    const status = overallStatus(database, nats === "connected", consumers);
    return reply.code(status === "healthy" ? 200 : 503).send({
      status,
      timestamp: new Date().toISOString(),
      services: { database: database ? "connected" : "disconnected", nats },
      consumers,
    });
  });
  return app;
}
