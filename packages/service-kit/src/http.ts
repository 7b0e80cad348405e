import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Registry } from "prom-client";

export interface HttpServerOptions {
  logger: Logger;
  registry: Registry;
  bodyLimitBytes?: number;
}

/**
 * A Fastify instance with the conventions both services share: our pino logger, no
 * per-request info logs (hot path), and `GET /metrics` from the process's one registry.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 262_144,
  });
  app.get("/metrics", async (_request, reply) => {
    return reply.header("Content-Type", options.registry.contentType).send(await options.registry.metrics());
  });
  return app;
}
