import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from "@opentelemetry/api";
import type { JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/nats-core";

/**
 * Tracing of the event bus through `@opentelemetry/api` only: without an SDK registered at the
 * process edge every call here is a no-op, and nothing is injected into message headers.
 * Attributes name subjects, streams, durables and msg ids, never a user id or a payload value.
 */

/** The tracer the event bus uses when none is passed: the global one (a no-op until an SDK is registered). */
export const defaultTracer = (): Tracer => trace.getTracer("@aa/event-bus");

/** Messaging semantic-convention attribute names (and our `messaging.nats.*` ones) the bus sets. */
export const MessagingAttributes = {
  system: "messaging.system",
  operationName: "messaging.operation.name",
  operationType: "messaging.operation.type",
  destination: "messaging.destination.name",
  consumerGroup: "messaging.consumer.group.name",
  messageId: "messaging.message.id",
  bodySize: "messaging.message.body.size",
  batchCount: "messaging.batch.message_count",
  stream: "messaging.nats.stream",
  streamSequence: "messaging.nats.stream_sequence",
  deliveryCount: "messaging.nats.delivery_count",
  duplicate: "messaging.nats.duplicate",
  result: "messaging.nats.result",
  errorType: "error.type",
} as const;

const A = MessagingAttributes;

const headerSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

const headerGetter: TextMapGetter<MsgHdrs | undefined> = {
  get: (carrier, key) => carrier?.get(key) || undefined,
  keys: (carrier) => carrier?.keys() ?? [],
};

/** Writes the active (or given) context's `traceparent` / `tracestate` into NATS headers. */
export function injectTraceContext(headers: MsgHdrs, from: Context = context.active()): void {
  propagation.inject(from, headers, headerSetter);
}

/** The W3C context a message carries (ROOT when it carries none, or tracing is off). */
export function extractTraceContext(headers: MsgHdrs | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, headers, headerGetter);
}

/** `error.type` and an ERROR status; never the message text, which can quote a payload. */
export function markFailed(span: Span, error: unknown): void {
  const type = error instanceof Error ? error.name : typeof error;
  span.setAttribute(A.errorType, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/** Runs `work` as the active span `span`, ending it afterwards and marking a throw as failed. */
export async function inSpan<T>(span: Span, parent: Context, work: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(parent, span), work);
  } catch (error) {
    markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

const NATS_SEND: Attributes = { [A.system]: "nats", [A.operationName]: "publish", [A.operationType]: "send" };
const NATS_PROCESS: Attributes = { [A.system]: "nats", [A.operationName]: "process", [A.operationType]: "process" };
const msgIdOf = (msg: JsMsg): string => msg.headers?.get("Nats-Msg-Id") ?? "";

/** The PRODUCER span of one JetStream publish, child of the active context. */
export function startPublishSpan(tracer: Tracer, subject: string, msgId: string): Span {
  return tracer.startSpan(`publish ${subject}`, {
    kind: SpanKind.PRODUCER,
    attributes: { ...NATS_SEND, [A.destination]: subject, [A.messageId]: msgId },
  });
}

/** Where a message was delivered, as the consumer spans describe it. */
export interface DeliveryTarget {
  stream: string;
  durable: string;
}

function deliveryAttributes(target: DeliveryTarget, msg: JsMsg): Attributes {
  return {
    ...NATS_PROCESS,
    [A.destination]: msg.subject,
    [A.stream]: target.stream,
    [A.consumerGroup]: target.durable,
    [A.deliveryCount]: msg.info.deliveryCount,
    [A.streamSequence]: msg.info.streamSequence,
    [A.messageId]: msgIdOf(msg),
  };
}

/**
 * Runs `work` in a CONSUMER span that continues the trace the message carries (child of its
 * PRODUCER span); a span active here (a batch) becomes a link, so the two stay connected.
 */
export function processMessage<T>(
  tracer: Tracer,
  target: DeliveryTarget,
  msg: JsMsg,
  work: () => Promise<T>,
): Promise<T> {
  const parent = extractTraceContext(msg.headers);
  const around = trace.getSpanContext(context.active());
  const links: Link[] = around ? [{ context: around }] : [];
  const attributes = deliveryAttributes(target, msg);
  const span = tracer.startSpan(`process ${msg.subject}`, { kind: SpanKind.CONSUMER, attributes, links }, parent);
  return inSpan(span, parent, work);
}

/**
 * Runs `work` in one CONSUMER span for a batch, a new trace with a link to each message's
 * context (a batch has many parents: semantic conventions model that with links).
 */
export function processBatch<T>(
  tracer: Tracer,
  target: DeliveryTarget,
  msgs: readonly JsMsg[],
  work: () => Promise<T>,
): Promise<T> {
  const links: Link[] = [];
  for (const msg of msgs) {
    const origin = trace.getSpanContext(extractTraceContext(msg.headers));
    const attributes = { [A.messageId]: msgIdOf(msg), [A.deliveryCount]: msg.info.deliveryCount };
    if (origin) links.push({ context: origin, attributes });
  }
  const subject = msgs[0]?.subject ?? "";
  const attributes: Attributes = {
    ...NATS_PROCESS,
    [A.destination]: subject,
    [A.stream]: target.stream,
    [A.consumerGroup]: target.durable,
    [A.batchCount]: msgs.length,
  };
  const span = tracer.startSpan(`process ${subject}`, { kind: SpanKind.CONSUMER, attributes, links }, ROOT_CONTEXT);
  return inSpan(span, ROOT_CONTEXT, work);
}

/** Notes a message's outcome on the active span: an event per message that did not succeed. */
export function recordOutcome(result: string, msg: JsMsg): void {
  const span = result === "success" ? undefined : trace.getActiveSpan();
  if (!span) return;
  span.addEvent(result, { [A.streamSequence]: msg.info.streamSequence, [A.deliveryCount]: msg.info.deliveryCount });
  if (result === "dlq" || result === "schema_invalid") {
    span.setStatus({ code: SpanStatusCode.ERROR, message: `dead-lettered (${result})` });
  }
}
