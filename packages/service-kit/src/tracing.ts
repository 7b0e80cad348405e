import { diag, DiagLogLevel } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider, type SpanExporter } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { Logger } from "pino";
import { ConfigError } from "./config.js";
import { withoutPassword } from "./postgres.js";

export const OTLP_PROTOCOLS = ["http/protobuf", "http/json"] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** What the process edge decided from the standard `OTEL_*` variables. */
export interface TracingSettings {
  /** `OTEL_SDK_DISABLED=true`: no SDK at all; the API stays a no-op (no spans, no propagation, no ids in logs). */
  disabled: boolean;
  /** `OTEL_SERVICE_NAME`, else the service's default (`ingest-service`, `normalize-service`). */
  serviceName: string;
  /** The OTLP traces endpoint (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`); none: nothing is exported. */
  endpoint: string | undefined;
  /** `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`, default `http/protobuf` as the specification says. */
  protocol: OtlpProtocol;
}

const set = (value: string | undefined): string | undefined => (value === undefined || value.trim() === "" ? undefined : value.trim());

/**
 * Reads the `OTEL_*` variables this process decides on, reporting every problem at once. The SDK
 * reads the others itself (sampler, headers, timeouts, batch sizes, resource attributes).
 */
export function tracingSettings(env: Record<string, string | undefined>, defaultServiceName: string): TracingSettings {
  const problems: string[] = [];
  const protocolVar = set(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL";
  const protocol = set(env[protocolVar]) ?? "http/protobuf";
  if (!(OTLP_PROTOCOLS as readonly string[]).includes(protocol)) {
    problems.push(`${protocolVar} must be one of ${OTLP_PROTOCOLS.join(", ")} (grpc is not built in), got ${JSON.stringify(protocol)}`);
  }
  const exporter = set(env.OTEL_TRACES_EXPORTER) ?? "otlp";
  if (exporter !== "otlp" && exporter !== "none") problems.push(`OTEL_TRACES_EXPORTER must be otlp or none, got ${JSON.stringify(exporter)}`);
  if (problems.length > 0) throw new ConfigError(problems);
  const endpoint = set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ?? set(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  return {
    disabled: set(env.OTEL_SDK_DISABLED)?.toLowerCase() === "true",
    serviceName: set(env.OTEL_SERVICE_NAME) ?? defaultServiceName,
    endpoint: exporter === "none" ? undefined : endpoint,
    protocol: protocol as OtlpProtocol,
  };
}

/** The started SDK (or its absence). Libraries reach it through the global API (`trace.getTracer`). */
export interface Tracing {
  /** Exports what is buffered and stops; resolves also when the collector does not answer (bounded by OTEL_EXPORTER_OTLP_TIMEOUT). */
  shutdown(): Promise<void>;
}

function exporterFor(protocol: OtlpProtocol): SpanExporter {
  // Both read the endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*.
  return protocol === "http/json" ? new OtlpJsonExporter() : new OtlpProtobufExporter();
}

/** Sends the SDK's own complaints (an unreachable collector) to our log, not to the console. */
function routeDiagnostics(logger: Logger): void {
  const warn = (message: string) => logger.warn(`[tracing] ${message}`);
  diag.setLogger({ error: warn, warn, info: () => undefined, debug: () => undefined, verbose: () => undefined }, DiagLogLevel.WARN);
}

/**
 * Starts the tracing SDK, registered globally, so libraries (event bus, HTTP server) that use
 * `@opentelemetry/api` produce spans. Call once, first thing in `main`. Only the W3C trace context
 * is propagated (no baggage: clients' baggage would travel on in message headers unchecked).
 */
export function startTracing(settings: TracingSettings, logger: Logger): Tracing {
  const tag = `[${settings.serviceName}]`;
  if (settings.disabled) {
    logger.info(`${tag} Tracing off (OTEL_SDK_DISABLED=true)`);
    return { shutdown: async () => undefined };
  }
  routeDiagnostics(logger);
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName }))
    .merge(detectResources({ detectors: [envDetector] }));
  const spanProcessors = settings.endpoint === undefined ? [] : [new BatchSpanProcessor(exporterFor(settings.protocol))];
  const provider = new NodeTracerProvider({ resource, spanProcessors });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  logger.info(settings.endpoint === undefined
    ? `${tag} Tracing on: trace context propagated and trace ids logged; no OTLP endpoint set, so no span is exported`
    : `${tag} Tracing on: spans exported to ${withoutPassword(settings.endpoint)} (${settings.protocol})`);
  return { shutdown: () => provider.shutdown() };
}
