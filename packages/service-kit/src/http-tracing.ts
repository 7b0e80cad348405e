import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Attributes, Span, Tracer } from "@opentelemetry/api";
import type { FastifyInstance, FastifyRequest } from "fastify";

/** Routes that get no span by default: probes and scrapes every few seconds would drown the traces. */
export const UNTRACED_ROUTES: readonly string[] = ["/health", "/metrics"];

/**
 * One SERVER span per request, child of an incoming W3C `traceparent` (honoured as the caller's
 * context), named by the route pattern, never the raw URL: a query string can hold an OAuth code,
 * and no user id or payload becomes an attribute. Hand-written on Fastify hooks rather than
 * instrumentation-http or @fastify/otel: no module patching (which ESM makes fragile) and one span
 * per request instead of one per hook.
 */
export function traceRequests(
  app: FastifyInstance,
  tracer: Tracer,
  untraced: readonly string[] = UNTRACED_ROUTES,
): void {
  const skip = new Set(untraced);
  const traces = new WeakMap<FastifyRequest, Span>();
  app.addHook("onRequest", (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && skip.has(route)) return done();
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const attributes: Attributes = {
      "http.request.method": request.method,
      "url.scheme": request.protocol,
      "network.protocol.version": request.raw.httpVersion,
      ...(route === undefined ? {} : { "http.route": route }),
    };
    const name = route === undefined ? request.method : `${request.method} ${route}`;
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    const active = trace.setSpan(parent, span);
    traces.set(request, span);
    // Every later hook and the handler continue from here, so they (and their log lines) run inside the span.
    context.with(active, done);
  });
  app.addHook("onResponse", (request, reply, done) => {
    const span = traces.get(request);
    if (span) {
      span.setAttribute("http.response.status_code", reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      traces.delete(request);
    }
    done();
  });
  app.addHook("onRequestAbort", (request, done) => {
    const span = traces.get(request);
    if (span) {
      span.setAttribute("error.type", "aborted");
      span.setStatus({ code: SpanStatusCode.ERROR, message: "client aborted" });
      span.end();
      traces.delete(request);
    }
    done();
  });
}
