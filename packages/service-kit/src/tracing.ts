import { context, diag, DiagLogLevel, propagation, trace } from "@opentelemetry/api";
import type { SpanExporter, TracerProvider } from "@opentelemetry/sdk-trace";
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
  /** `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`; none: nothing is exported. */
  endpoint: string | undefined;
  /**
   * `OTEL_TRACES_EXPORTER`: `otlp` (default) starts the SDK only with an endpoint, so a process with
   * nowhere to send spans pays nothing; `none` starts it without exporting (trace ids in logs, context
   * propagated, at the cost of making spans).
   */
  exporter: "otlp" | "none";
  /** `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`, default `http/protobuf` as the specification says. */
  protocol: OtlpProtocol;
  /** `OTEL_TRACES_SAMPLER` / `_ARG`: how a trace's root is sampled (see `samplerOf`). */
  sampler: SamplerSetting;
}

/** The root decision: keep every trace, none, or `ratio` of them (0 to 1) by trace id. */
export interface SamplerSetting {
  root: "always_on" | "always_off" | "traceidratio";
  ratio: number;
}

const SAMPLERS: Record<string, SamplerSetting["root"]> = {
  always_on: "always_on",
  parentbased_always_on: "always_on",
  always_off: "always_off",
  parentbased_always_off: "always_off",
  traceidratio: "traceidratio",
  parentbased_traceidratio: "traceidratio",
};

/** OTEL_TRACES_SAMPLER and _ARG, or the problem (added to `problems`). */
function samplerSetting(env: Record<string, string | undefined>, problems: string[]): SamplerSetting {
  const name = set(env.OTEL_TRACES_SAMPLER) ?? "parentbased_always_on";
  const root = SAMPLERS[name];
  if (root === undefined) {
    problems.push(
      `OTEL_TRACES_SAMPLER must be one of ${Object.keys(SAMPLERS).join(", ")}, got ${JSON.stringify(name)}`,
    );
  }
  const arg = set(env.OTEL_TRACES_SAMPLER_ARG);
  const ratio = arg === undefined ? 1 : Number(arg);
  if (root === "traceidratio" && !(ratio >= 0 && ratio <= 1)) {
    problems.push(`OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got ${JSON.stringify(arg)}`);
  }
  return { root: root ?? "always_on", ratio };
}

type TraceSdk = typeof import("@opentelemetry/sdk-trace");

/**
 * The sampler: a trace's root, and a span whose parent came from outside the process, are decided by
 * the root rule; only a parent in this process is followed. An HTTP client's `traceparent` is
 * unauthenticated: following its sampled flag (the SDK's parent-based default) let any client force
 * its requests into the traces, or out of them. Decided by trace id, a ratio keeps the same traces in
 * ingest and in normalize (which sees ingest's context in the message), so a kept trace stays whole.
 */
export function samplerOf(
  sdk: Pick<TraceSdk, "AlwaysOnSampler" | "AlwaysOffSampler" | "TraceIdRatioBasedSampler" | "ParentBasedSampler">,
  setting: SamplerSetting,
) {
  const root =
    setting.root === "always_on"
      ? new sdk.AlwaysOnSampler()
      : setting.root === "always_off"
        ? new sdk.AlwaysOffSampler()
        : new sdk.TraceIdRatioBasedSampler(setting.ratio);
  return new sdk.ParentBasedSampler({ root, remoteParentSampled: root, remoteParentNotSampled: root });
}

/** The trimmed value; empty counts as unset, as the specification says. */
const set = (value: string | undefined): string | undefined => value?.trim() || undefined;

/**
 * Reads the `OTEL_*` variables this process decides on, reporting every problem at once. The SDK
 * reads the others itself (headers, timeouts, batch sizes, resource attributes).
 */
export function tracingSettings(env: Record<string, string | undefined>, defaultServiceName: string): TracingSettings {
  const problems: string[] = [];
  const tracesProtocol = set(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) !== undefined;
  const protocolVar = tracesProtocol ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL";
  const protocol = set(env[protocolVar]) ?? "http/protobuf";
  if (!(OTLP_PROTOCOLS as readonly string[]).includes(protocol)) {
    const allowed = OTLP_PROTOCOLS.join(", ");
    problems.push(`${protocolVar} must be one of ${allowed} (grpc is not built in), got ${JSON.stringify(protocol)}`);
  }
  const exporter = set(env.OTEL_TRACES_EXPORTER) ?? "otlp";
  if (exporter !== "otlp" && exporter !== "none") {
    problems.push(`OTEL_TRACES_EXPORTER must be otlp or none, got ${JSON.stringify(exporter)}`);
  }
  const sampler = samplerSetting(env, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const endpoint = set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ?? set(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  return {
    disabled: set(env.OTEL_SDK_DISABLED)?.toLowerCase() === "true",
    serviceName: set(env.OTEL_SERVICE_NAME) ?? defaultServiceName,
    endpoint: exporter === "none" ? undefined : endpoint,
    exporter: exporter as TracingSettings["exporter"],
    protocol: protocol as OtlpProtocol,
    sampler,
  };
}

/** The started SDK (or its absence). Libraries reach it through the global API (`trace.getTracer`). */
export interface Tracing {
  /** Exports what is buffered and stops; bounded by OTEL_EXPORTER_OTLP_TIMEOUT when the collector does not answer. */
  shutdown(): Promise<void>;
}

// The SDK and the exporters are loaded only when used: a process that exports nothing does not
// pay for loading the OTLP serializers (nor one with OTEL_SDK_DISABLED for the SDK).
async function exporterFor(protocol: OtlpProtocol): Promise<SpanExporter> {
  // Both read the endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*.
  if (protocol === "http/json")
    return new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter();
  return new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter();
}

/** Sends the SDK's own complaints (an unreachable collector) to our log, not to the console. */
function routeDiagnostics(logger: Logger): void {
  const warn = (message: string) => logger.warn(`[tracing] ${message}`);
  const quiet = () => undefined;
  diag.setLogger({ error: warn, warn, info: quiet, debug: quiet, verbose: quiet }, DiagLogLevel.WARN);
}

/**
 * Registers `provider` globally with the context manager that follows async calls (AsyncLocalStorage)
 * and the W3C trace context propagator only. The SDK's generic TracerProvider has no Node-specific
 * `register()`: this is what it did. Returns the undo, for tests.
 */
export async function registerTracerProvider(provider: TracerProvider): Promise<() => void> {
  const [{ AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }] = await Promise.all([
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/core"),
  ]);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return () => {
    trace.disable();
    propagation.disable();
    context.disable();
  };
}

/**
 * Starts the tracing SDK, registered globally, so libraries (event bus, HTTP server) that use
 * `@opentelemetry/api` produce spans. Call once, first thing in `main`. Only the W3C trace context
 * is propagated (no baggage: clients' baggage would travel on in message headers unchecked).
 */
export async function startTracing(settings: TracingSettings, logger: Logger): Promise<Tracing> {
  const tag = `[${settings.serviceName}]`;
  if (settings.disabled) {
    logger.info(`${tag} Tracing off (OTEL_SDK_DISABLED=true)`);
    return { shutdown: async () => undefined };
  }
  if (settings.exporter === "otlp" && settings.endpoint === undefined) {
    logger.info(
      `${tag} Tracing off: no OTLP endpoint set (OTEL_EXPORTER_OTLP_ENDPOINT); ` +
        "an incoming traceparent is not continued",
    );
    return { shutdown: async () => undefined };
  }
  routeDiagnostics(logger);
  const [resources, sdk] = await Promise.all([import("@opentelemetry/resources"), import("@opentelemetry/sdk-trace")]);
  const { defaultResource, detectResources, envDetector, resourceFromAttributes } = resources;
  const resource = defaultResource()
    .merge(resourceFromAttributes({ "service.name": settings.serviceName }))
    .merge(detectResources({ detectors: [envDetector] }));
  const exporter = settings.endpoint === undefined ? undefined : await exporterFor(settings.protocol);
  const spanProcessors = exporter === undefined ? [] : [new sdk.BatchSpanProcessor({ exporter })];
  const sampler = samplerOf(sdk, settings.sampler);
  const provider = new sdk.TracerProvider({ resource, spanProcessors, sampler });
  await registerTracerProvider(provider);
  logger.info(
    settings.endpoint === undefined
      ? `${tag} Tracing on without export (OTEL_TRACES_EXPORTER=none): trace context propagated and trace ids logged`
      : `${tag} Tracing on: spans exported to ${withoutPassword(settings.endpoint)} (${settings.protocol})`,
  );
  return { shutdown: () => provider.shutdown() };
}
