import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import protobuf from "protobufjs";

/**
 * A real OTLP/HTTP traces endpoint for tests: `POST /v1/traces` in `http/json` or
 * `http/protobuf` (decoded with protobufjs against the subset of the OTLP schema below), the
 * spans kept in arrival order.
 */

/** One exported span, ids as lowercase hex ("" for no parent). */
export interface ReceivedSpan {
  service: string;
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  links: { traceId: string; spanId: string }[];
  events: string[];
  statusCode: number;
  /** How it arrived. */
  encoding: "json" | "protobuf";
}

export const SpanKinds = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

// Field numbers as in opentelemetry/proto/{collector/trace,trace,common,resource}/v1; unknown fields are skipped.
const OTLP_TRACE_SUBSET = `
syntax = "proto3";
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; repeated Event events = 11; repeated Link links = 13; Status status = 15;
}
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; }
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; } }
message ArrayValue { repeated AnyValue values = 1; }
`;

const requestType = protobuf.parse(OTLP_TRACE_SUBSET).root.lookupType("ExportTraceServiceRequest");

// The request as both encodings give it once decoded (camelCase keys; ids hex in JSON, bytes in protobuf).
interface OtlpValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpValue;
}
type OtlpId = string | Uint8Array | undefined;
interface OtlpSpan {
  traceId: OtlpId;
  spanId: OtlpId;
  parentSpanId?: OtlpId;
  name: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
  links?: { traceId: OtlpId; spanId: OtlpId }[];
  events?: { name: string }[];
  status?: { code?: number };
}
interface OtlpRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: { scope?: { name?: string }; spans?: OtlpSpan[] }[];
  }[];
}

const hex = (id: OtlpId): string =>
  id === undefined ? "" : typeof id === "string" ? id.toLowerCase() : Buffer.from(id).toString("hex");

function valueOf(value: OtlpValue | undefined): string | number | boolean {
  if (value?.stringValue !== undefined) return value.stringValue;
  if (value?.boolValue !== undefined) return value.boolValue;
  if (value?.intValue !== undefined) return Number(value.intValue);
  return value?.doubleValue ?? "";
}

const attributesOf = (list: OtlpKeyValue[] | undefined) =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]));

function spansOf(request: OtlpRequest, encoding: ReceivedSpan["encoding"]): ReceivedSpan[] {
  return (request.resourceSpans ?? []).flatMap((rs) => {
    const service = String(attributesOf(rs.resource?.attributes)["service.name"] ?? "");
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((s): ReceivedSpan => ({
        service,
        scope: ss.scope?.name ?? "",
        traceId: hex(s.traceId),
        spanId: hex(s.spanId),
        parentSpanId: hex(s.parentSpanId),
        name: s.name,
        kind: s.kind ?? 0,
        attributes: attributesOf(s.attributes),
        links: (s.links ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId) })),
        events: (s.events ?? []).map((e) => e.name),
        statusCode: s.status?.code ?? 0,
        encoding,
      })),
    );
  });
}

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return request.headers["content-encoding"] === "gzip" ? gunzipSync(body) : body;
}

export interface OtlpReceiver {
  /** Base URL to set as OTEL_EXPORTER_OTLP_ENDPOINT (the exporters append `/v1/traces`). */
  url: string;
  spans: ReceivedSpan[];
  /** Requests that could not be decoded (a test asserts there are none). */
  errors: string[];
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const errors: string[] = [];
  const server: Server = createServer((request, response) => {
    void (async () => {
      const body = await bodyOf(request);
      const type = request.headers["content-type"] ?? "";
      if (request.method !== "POST" || request.url !== "/v1/traces") {
        response.writeHead(404).end();
        return;
      }
      try {
        const json = type.startsWith("application/json");
        const decoded = json
          ? (JSON.parse(body.toString("utf8")) as OtlpRequest)
          : (requestType.toObject(requestType.decode(body), { longs: String }) as OtlpRequest);
        spans.push(...spansOf(decoded, json ? "json" : "protobuf"));
        response
          .writeHead(200, { "content-type": json ? "application/json" : "application/x-protobuf" })
          .end(json ? "{}" : undefined);
      } catch (error) {
        errors.push(`${type}: ${(error as Error).message}`);
        response.writeHead(400).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    errors,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
