import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { e2eSingle, type PhaseContext, type ThroughputResult } from "./e2e.js";
import type { Cleanup } from "./env.js";
import type { ServiceRunner } from "./services.js";

/** The three ways tracing can run, with the env each service gets. */
export const TRACING_MODES = ["off", "no endpoint", "exporting"] as const;
export type TracingMode = (typeof TRACING_MODES)[number];

export interface TracingResult {
  mode: TracingMode;
  single: ThroughputResult;
  /** OTLP requests and bytes the sink received (0 unless exporting). */
  exportRequests: number;
  exportBytes: number;
}

/**
 * An OTLP/HTTP endpoint that reads and discards what it gets, answering success: the cost
 * measured is the services' (spans, serialization, sending), not a collector's.
 */
async function startSink(cleanup: Cleanup): Promise<{ url: string; requests: number; bytes: number }> {
  const sink = { url: "", requests: 0, bytes: 0 };
  const server = createServer((request, response) => {
    request.on("data", (chunk: Buffer) => (sink.bytes += chunk.length));
    request.on("end", () => {
      sink.requests++;
      response.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.add("close the OTLP sink", () => new Promise<void>((resolve) => server.close(() => resolve())));
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return sink;
}

function envOf(mode: TracingMode, sinkUrl: string): Record<string, string> {
  if (mode === "off") return { OTEL_SDK_DISABLED: "true" };
  if (mode === "no endpoint") return {};
  return { OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl, OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" };
}

/** Single-event POSTs at saturation once per tracing mode, both services restarted in that mode. */
export async function e2eTracing(
  ctx: PhaseContext,
  runner: ServiceRunner,
  cleanup: Cleanup,
  ingestEnv: Record<string, string>,
): Promise<TracingResult[]> {
  const sink = await startSink(cleanup);
  const results: TracingResult[] = [];
  for (const [i, mode] of TRACING_MODES.entries()) {
    const env = envOf(mode, sink.url);
    const normalize = await runner.start("normalize", env, `tracing-${mode.replace(" ", "-")}`);
    const ingest = await runner.start("ingest", { ...ingestEnv, ...env }, `tracing-${mode.replace(" ", "-")}`);
    const [requests, bytes] = [sink.requests, sink.bytes];
    const single = await e2eSingle({ ...ctx, ingestUrl: ingest.url }, `tracing${i}`);
    await runner.stop(ingest);
    await runner.stop(normalize);
    results.push({ mode, single, exportRequests: sink.requests - requests, exportBytes: sink.bytes - bytes });
  }
  return results;
}
