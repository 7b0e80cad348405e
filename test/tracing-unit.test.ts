import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import {
  ConfigError,
  createHttpServer,
  createLogger,
  createMetricsRegistry,
  registerTracerProvider,
  tracingSettings,
} from "@aa/service-kit";

describe("tracing settings from the standard OTEL_* variables", () => {
  test("defaults: the service's own name, http/protobuf, no endpoint (so no SDK is started: nothing to pay)", () => {
    const expected = {
      disabled: false,
      serviceName: "ingest-service",
      endpoint: undefined,
      exporter: "otlp",
      protocol: "http/protobuf",
      sampler: { root: "always_on", ratio: 1 },
    };
    assert.deepEqual(tracingSettings({}, "ingest-service"), expected);
  });

  test("OTEL_SERVICE_NAME overrides the default; the traces endpoint and protocol win over the general ones", () => {
    const env = {
      OTEL_SERVICE_NAME: "ingest-eu",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://tempo:4318/v1/traces",
      OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
    };
    const expected = {
      disabled: false,
      serviceName: "ingest-eu",
      endpoint: "http://tempo:4318/v1/traces",
      exporter: "otlp",
      protocol: "http/json",
      sampler: { root: "always_on", ratio: 1 },
    };
    assert.deepEqual(tracingSettings(env, "ingest-service"), expected);
  });

  test("OTEL_SDK_DISABLED=true (any case) turns the SDK off; any other value leaves it on", () => {
    assert.equal(tracingSettings({ OTEL_SDK_DISABLED: "TRUE" }, "x").disabled, true);
    assert.equal(tracingSettings({ OTEL_SDK_DISABLED: "false" }, "x").disabled, false);
    assert.equal(
      tracingSettings({ OTEL_SDK_DISABLED: "1" }, "x").disabled,
      false,
      "the specification counts only 'true'",
    );
  });

  test("OTEL_TRACES_EXPORTER=none exports nothing even with an endpoint", () => {
    const settings = tracingSettings(
      { OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" },
      "x",
    );
    assert.deepEqual([settings.exporter, settings.endpoint], ["none", undefined]);
  });

  test("grpc or an unknown exporter is a startup error naming the variable and the value, every problem at once", () => {
    assert.throws(
      () => tracingSettings({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc", OTEL_TRACES_EXPORTER: "zipkin" }, "x"),
      (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(
          error.message,
          /OTEL_EXPORTER_OTLP_PROTOCOL must be one of http\/protobuf, http\/json \(grpc is not built in\), got "grpc"/,
        );
        assert.match(error.message, /OTEL_TRACES_EXPORTER must be otlp or none, got "zipkin"/);
        return true;
      },
    );
  });
});

describe("HTTP server span and log lines (service-kit, in process, SDK registered)", () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  let unregister = () => {};
  before(async () => {
    unregister = await registerTracerProvider(provider);
  });
  after(async () => {
    await provider.shutdown();
    unregister();
  });

  function server() {
    const lines: string[] = [];
    const logger = createLogger({ service: "test", destination: { write: (line: string) => void lines.push(line) } });
    const app = createHttpServer({ logger, registry: createMetricsRegistry() });
    // Logs after the body was parsed and after an await.
    app.post("/things/:id", async (request) => {
      await new Promise((resolve) => setImmediate(resolve));
      request.log.info("handled a thing");
      return { ok: true };
    });
    app.get("/health", async () => ({ status: "healthy" }));
    const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    return { app, records };
  }

  test("an incoming traceparent is the parent of the server span, named by route pattern; log lines carry its ids", async () => {
    exporter.reset();
    const { app, records } = server();
    const [traceId, callerSpanId] = [randomBytes(16).toString("hex"), randomBytes(8).toString("hex")];
    // Over a real socket, with a body in several chunks: the handler must still run in the request's context.
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    const response = await fetch(`${url}/things/user-42?code=secret`, {
      method: "POST",
      headers: { traceparent: `00-${traceId}-${callerSpanId}-01`, "content-type": "application/json" },
      body: JSON.stringify({ userId: "user-42", filler: "x".repeat(200_000) }),
    });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
    const [span] = exporter.getFinishedSpans();
    assert.ok(span);
    assert.deepEqual(
      [span.name, span.kind, span.spanContext().traceId, span.parentSpanContext?.spanId],
      ["POST /things/:id", SpanKind.SERVER, traceId, callerSpanId],
    );
    assert.deepEqual(span.attributes, {
      "http.request.method": "POST",
      "url.scheme": "http",
      "network.protocol.version": "1.1",
      "http.route": "/things/:id",
      "http.response.status_code": 200,
    });
    const handled = records().find((r) => r.msg === "handled a thing");
    assert.deepEqual(
      [handled?.trace_id, handled?.span_id],
      [traceId, span.spanContext().spanId],
      "the log line written after the body was parsed carries the request's ids",
    );
    await app.close();
  });

  test("without a traceparent a new trace starts; /health makes no span; a line outside any request has no trace ids", async () => {
    exporter.reset();
    const { app, records } = server();
    await app.inject({ method: "GET", url: "/health" });
    assert.equal(exporter.getFinishedSpans().length, 0, "probes are not traced");
    await app.inject({ method: "POST", url: "/things/1", payload: {} });
    const [span] = exporter.getFinishedSpans();
    assert.equal(span?.parentSpanContext, undefined);
    assert.equal(records().find((r) => r.msg === "handled a thing")?.trace_id, span?.spanContext().traceId);
    app.log.info("outside");
    assert.equal(records().find((r) => r.msg === "outside")?.trace_id, undefined);
    await app.close();
  });
});
