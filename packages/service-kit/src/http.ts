import { trace, type Tracer } from "@opentelemetry/api";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { Counter, Histogram, type Registry } from "prom-client";
import { traceRequests, UNTRACED_ROUTES } from "./http-tracing.js";
import { lazyChildLogger } from "./lazy-child-logger.js";

export interface HttpServerOptions {
  logger: Logger;
  registry: Registry;
  bodyLimitBytes?: number;
  /** Largest request head (request line + headers), answered 431 past it; Node's default 16 KiB. */
  maxHeaderBytes?: number;
  /**
   * Time a client has to send its whole request (head and body), answered 408 past it; default
   * 30 s. Fastify's default (none) lets a client that trickles a body hold a connection forever.
   */
  requestTimeoutMs?: number;
  /** Whose `X-Forwarded-For` to believe (Fastify `trustProxy`); default: nobody's. */
  trustProxy?: boolean | number | string[];
  /** Serve `GET /metrics` here (default true); false when an admin listener serves it. */
  metricsRoute?: boolean;
  /** SERVER span per request; default the global API tracer, a no-op until an SDK is registered (startTracing). */
  tracer?: Tracer;
  /** Route patterns without spans; default `/health` and `/metrics`. */
  untracedRoutes?: readonly string[];
}

/** Returns the metric already registered under `name`, or registers a new one (apps built twice on one registry). */
export function metricOnce<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** The answers every route's `http_requests_total` series starts with (at 0); others appear when first sent. */
const PRE_INITIALISED_STATUS_CODES = ["200", "202", "400", "401", "403", "413", "429", "500", "503"] as const;

/**
 * Counts and times every response on `registry`. `route` is the matched route pattern
 * (`/ingest/hrv`), never the raw URL, and `(unmatched)` for 404s, so label values stay bounded.
 */
function instrumentRequests(app: FastifyInstance, registry: Registry): void {
  const requests = metricOnce(
    registry,
    "http_requests_total",
    () =>
      new Counter({
        name: "http_requests_total",
        help: "HTTP responses sent, by route pattern, method and status code",
        labelNames: ["route", "method", "status_code"] as const,
        registers: [registry],
      }),
  );
  const duration = metricOnce(
    registry,
    "http_request_duration_seconds",
    () =>
      new Histogram({
        name: "http_request_duration_seconds",
        help: "Time from request received to response sent, by route pattern and method",
        labelNames: ["route", "method"] as const,
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers: [registry],
      }),
  );
  // A series born at its first request is invisible to increase()/rate(): the first 400 or 500
  // of a process would never show. Every route starts with the usual answers at 0.
  app.addHook("onRoute", (route) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter(
      (m) => m !== "HEAD" && m !== "OPTIONS",
    );
    for (const method of methods)
      for (const code of PRE_INITIALISED_STATUS_CODES) requests.inc({ route: route.url, method, status_code: code }, 0);
  });
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "(unmatched)";
    requests.inc({ route, method: request.method, status_code: String(reply.statusCode) });
    duration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });
}

/** Past this declared size a rejected body is not worth reading: the connection is closed instead. */
const DRAIN_REJECTED_BODY_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Fastify answers a declared-too-large body with 413 and `Connection: close`, without reading
 * it. A client still uploading then meets a reset, which can destroy the 413 before the client
 * reads it (fetch reports only "fetch failed"). Up to a bound, keep the connection instead:
 * Node reads and discards the rest of the body, the client gets its 413, and can reuse the
 * connection.
 */
function answerOversizedBodiesCleanly(app: FastifyInstance): void {
  app.addHook("onSend", async (request, reply, payload) => {
    if (reply.statusCode !== 413 || reply.getHeader("connection") !== "close") return payload;
    const declared = Number(request.headers["content-length"]);
    if (Number.isSafeInteger(declared) && declared <= DRAIN_REJECTED_BODY_MAX_BYTES) reply.removeHeader("connection");
    return payload;
  });
}

/**
 * A Fastify instance with the conventions both services share: our pino logger, no
 * per-request info logs (hot path), HTTP request metrics, `GET /metrics` from the
 * process's one registry, and 413s a client can read.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    bodyLimit: options.bodyLimitBytes ?? 262_144,
    requestTimeout: requestTimeoutMs,
    http: {
      // Node enforces requestTimeout only while headersTimeout (default 60 s) is not longer.
      headersTimeout: Math.min(requestTimeoutMs, 60_000),
      // ... and looks for requests past it every connectionsCheckingInterval (default 30 s).
      connectionsCheckingInterval: Math.min(requestTimeoutMs, 1_000),
      ...(options.maxHeaderBytes === undefined ? {} : { maxHeaderSize: options.maxHeaderBytes }),
    },
    trustProxy: typeof options.trustProxy === "number" ? trustHops(options.trustProxy) : (options.trustProxy ?? false),
  });
  // First hook of all: every later hook, and every log line of the request, runs inside its span.
  traceRequests(app, options.tracer ?? trace.getTracer("@aa/service-kit"), options.untracedRoutes ?? UNTRACED_ROUTES);
  instrumentRequests(app, options.registry);
  answerOversizedBodiesCleanly(app);
  if (options.metricsRoute !== false) registerMetricsRoute(app, options.registry);
  return app;
}

/** A TRUST_PROXY value as `trustProxy`: `false`, `true`, a hop count, or comma-separated proxy IPs/CIDRs. */
export function parseTrustProxy(text: string): boolean | number | string[] {
  const raw = text.trim().toLowerCase();
  if (raw === "false") return false;
  if (raw === "true") return true;
  if (/^[0-9]+$/.test(raw)) return Number(raw);
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Trusts the nearest `hops` proxies (Fastify supports a count at runtime; its types only take a function). */
const trustHops = (hops: number) => (_address: string, hop: number) => hop < hops;

/** `GET /metrics`: the process's one registry in Prometheus text format. */
export function registerMetricsRoute(app: FastifyInstance, registry: Registry): void {
  app.get("/metrics", async (_request, reply) => {
    return reply.header("Content-Type", registry.contentType).send(await registry.metrics());
  });
}
