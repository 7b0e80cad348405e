import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from "@opentelemetry/api";
import type { FastifyInstance, FastifyRequest } from "fastify";

/** Routes that get no span by default: probes and scrapes every few seconds would drown the traces. */
export const UNTRACED_ROUTES: readonly string[] = ["/health", "/metrics"];

interface RequestTrace {
  span: Span;
  context: Context;
}

/**
 * One SERVER span per request, child of an incoming W3C `traceparent` (honoured as the caller's
 * context), named by the route pattern, never the raw URL: a query string can hold an OAuth code,
 * and no user id or payload becomes an attribute. Hand-written on Fastify hooks rather than
 * instrumentation-http or @fastify/otel: no module patching (which ESM makes fragile) and one span
 * per request instead of one per hook.
 */
export function traceRequests(app: FastifyInstance, tracer: Tracer, untraced: readonly string[] = UNTRACED_ROUTES): void {
  const skip = new Set(untraced);
  const traces = new WeakMap<FastifyRequest, RequestTrace>();
  app.addHook("onRequest", (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && skip.has(route)) return done();
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = tracer.startSpan(route === undefined ? request.method : `${request.method} ${route}`, {
      kind: SpanKind.SERVER,
      attributes: { "http.request.method": request.method, "url.scheme": request.protocol, "network.protocol.version": request.raw.httpVersion, ...(route === undefined ? {} : { "http.route": route }) },
    }, parent);
    const active = trace.setSpan(parent, span);
    traces.set(request, { span, context: active });
    context.with(active, done);
  });
  // The body arrives on the socket's async context: enter the request's again once it is parsed.
  app.addHook("preValidation", (request, _reply, done) => {
    const found = traces.get(request);
    return found ? context.with(found.context, done) : done();
  });
  app.addHook("onResponse", (request, reply, done) => {
    const found = traces.get(request);
    if (found) {
      found.span.setAttribute("http.response.status_code", reply.statusCode);
      if (reply.statusCode >= 500) found.span.setStatus({ code: SpanStatusCode.ERROR });
      found.span.end();
      traces.delete(request);
    }
    done();
  });
  app.addHook("onRequestAbort", (request, done) => {
    const found = traces.get(request);
    if (found) {
      found.span.setAttribute("error.type", "aborted");
      found.span.setStatus({ code: SpanStatusCode.ERROR, message: "client aborted" });
      found.span.end();
      traces.delete(request);
    }
    done();
  });
}
