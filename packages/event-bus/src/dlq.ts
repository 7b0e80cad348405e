import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { context, trace, type Tracer } from "@opentelemetry/api";
import { defaultTracer, injectTraceContext, markFailed, startPublishSpan } from "./tracing.js";

/** Why a message was dead-lettered: the `X-Dlq-Reason` header and `dlq_messages_total{reason}`. */
export const DlqReasons = {
  schemaInvalid: "schema_invalid",
  maxDeliver: "max_deliver",
  nonRetryable: "non_retryable",
  notFound: "not_found",
  /** A vendor notification for a user who has no linked account (or whose link was revoked). */
  notLinked: "not_linked",
} as const;
export type DlqReason = (typeof DlqReasons)[keyof typeof DlqReasons];

/** Headers every DLQ copy carries; the payload bytes are the original, untouched. */
export const DlqHeaders = {
  reason: "X-Dlq-Reason",
  error: "X-Dlq-Error",
  originalSubject: "X-Dlq-Original-Subject",
  originalStream: "X-Dlq-Original-Stream",
  originalSequence: "X-Dlq-Original-Sequence",
  originalMsgId: "X-Dlq-Original-Msg-Id",
  durable: "X-Dlq-Durable",
  deliveryCount: "X-Dlq-Delivery-Count",
  /** When this (last) failure was dead-lettered. */
  failedAt: "X-Dlq-Failed-At",
  /**
   * When the original was stored in its stream (`info.timestampNanos`). JetStream keeps no
   * per-message failure history, so the first failure time is not known: it lies between this
   * time and `X-Dlq-Failed-At` (with a delivery count of 1 it is `X-Dlq-Failed-At`). See docs/dlq.md.
   */
  originalPublishedAt: "X-Dlq-Original-Published-At",
  service: "X-Dlq-Service",
  /** On a message `aa-ops dlq replay` republished: the DLQ sequence it came from (copied into a new DLQ entry). */
  replayedFrom: "X-Dlq-Replayed-From",
} as const;

const MAX_ERROR_TEXT = 1_000;
/** W3C trace context headers (a DLQ copy and a replay keep them). */
export const TRACE_HEADERS = ["traceparent", "tracestate"] as const;

/** `<prefix>.schema-invalid`, `<prefix>.max-deliver`, ... */
export function dlqSubject(prefix: string, reason: string): string {
  return `${prefix}.${reason.replaceAll("_", "-")}`;
}

export interface DeadLetterInput {
  msg: JsMsg;
  prefix: string;
  reason: string;
  error: string;
  durable: string;
  service: string;
  /** PRODUCER span of the copy, child of the active (consumer) span; default the global API tracer. */
  tracer?: Tracer;
}

/**
 * Copies a message to the DLQ and waits for the PubAck. The msg id is derived from the
 * original stream position, so a repeated attempt (after a lost term) is stored once.
 * Throws when the DLQ did not take it: the caller must then nak, never term. The copy carries
 * the trace context (`traceparent`) of its PRODUCER span, so a replay continues the trace.
 */
export async function publishToDlq(js: JetStreamClient, input: DeadLetterInput, timeoutMs = 5_000): Promise<void> {
  const subject = dlqSubject(input.prefix, input.reason);
  const msgId = `dlq:${input.msg.info.stream}:${input.msg.info.streamSequence}`;
  const span = startPublishSpan(input.tracer ?? defaultTracer(), subject, msgId);
  try {
    await context.with(trace.setSpan(context.active(), span), () => sendCopy(js, input, subject, msgId, timeoutMs));
  } catch (error) {
    markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

async function sendCopy(
  js: JetStreamClient,
  input: DeadLetterInput,
  subject: string,
  msgId: string,
  timeoutMs: number,
): Promise<void> {
  const { msg } = input;
  const h = natsHeaders();
  h.set(DlqHeaders.reason, input.reason);
  h.set(DlqHeaders.error, input.error.replace(/\s+/g, " ").slice(0, MAX_ERROR_TEXT));
  h.set(DlqHeaders.originalSubject, msg.subject);
  h.set(DlqHeaders.originalStream, msg.info.stream);
  h.set(DlqHeaders.originalSequence, String(msg.info.streamSequence));
  h.set(DlqHeaders.originalMsgId, msg.headers?.get("Nats-Msg-Id") ?? "");
  h.set(DlqHeaders.durable, input.durable);
  h.set(DlqHeaders.deliveryCount, String(msg.info.deliveryCount));
  h.set(DlqHeaders.failedAt, new Date().toISOString());
  h.set(DlqHeaders.originalPublishedAt, new Date(Math.floor(msg.info.timestampNanos / 1e6)).toISOString());
  h.set(DlqHeaders.service, input.service);
  const replayedFrom = msg.headers?.get(DlqHeaders.replayedFrom);
  if (replayedFrom) h.set(DlqHeaders.replayedFrom, replayedFrom);
  injectTraceContext(h);
  // Tracing off here: still pass on the context the message came with, so the trace is not cut.
  for (const key of TRACE_HEADERS) {
    const value = msg.headers?.get(key);
    if (value && !h.has(key)) h.set(key, value);
  }
  await js.publish(subject, msg.data, {
    msgID: msgId,
    headers: h,
    timeout: timeoutMs,
  });
}
