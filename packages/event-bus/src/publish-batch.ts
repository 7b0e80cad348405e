import { createInbox, headers as natsHeaders, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { context, trace, type Span, type Tracer } from "@opentelemetry/api";
import type { Registry } from "prom-client";
import { SchemaInvalidError } from "./errors.js";
import { publishMetrics, type PublishMetrics } from "./metrics.js";
import {
  endPublishSpan,
  publishHeaders,
  recordPublish,
  schemaError,
  type EventPublisher,
  type PublishReceipt,
  type PublishRequest,
} from "./publisher.js";
import { defaultTracer, startPublishSpan } from "./tracing.js";

export interface BatchPublisherOptions {
  /** The connection `publisher` publishes on: replies come back on one inbox subscription of it. */
  nc: NatsConnection;
  /** The connection's NATS_INBOX_PREFIX, where its permissions let replies in; default `_INBOX`. */
  inboxPrefix?: string;
  /** Publishes again, with its retries and the same msg id, every event the fast path got no PubAck for. */
  publisher: EventPublisher;
  registry: Registry;
  /** Wait for a batch's PubAcks, in ms, before its stragglers go through `publisher`. Default 5 000. */
  ackTimeoutMs?: number;
  tracer?: Tracer;
}

type Reply = Msg | Error;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A PubAck, or the Error JetStream (or the server: 503 no responders) answered instead. */
function receiptOf(reply: Reply): PublishReceipt | Error {
  if (reply instanceof Error) return reply;
  if (reply.data.length === 0) return new Error(`no PubAck (status ${reply.headers?.code ?? "none"})`);
  const ack = JSON.parse(decoder.decode(reply.data)) as {
    stream?: string;
    seq?: number;
    duplicate?: boolean;
    error?: { description?: string };
  };
  if (ack.error || !ack.stream || ack.seq === undefined)
    return new Error(`JetStream refused the publish: ${ack.error?.description ?? "invalid PubAck"}`);
  return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true };
}

/**
 * Publishes many events at once and resolves when each has its PubAck (or its Error): the
 * batch's messages go out back to back, each with a reply subject under one inbox, and one timer
 * bounds the wait. `EventPublisher.publish` per event costs a request each (a timer, a promise
 * race, an error object), which was a fifth of normalize's CPU while it announced a backlog.
 * Same guarantees: `Nats-Msg-Id` on every message, the same metrics, a PRODUCER span each;
 * an event without a PubAck here is published again through `publisher` (same msg id, so
 * JetStream stores it once), and only its error after those retries is returned.
 */
export class BatchPublisher {
  readonly #o: BatchPublisherOptions;
  readonly #metrics: PublishMetrics;
  readonly #tracer: Tracer;
  readonly #prefix: string;
  readonly #waiting = new Map<string, (reply: Reply) => void>();
  #next = 0;
  #subscribed = false;

  constructor(options: BatchPublisherOptions) {
    this.#o = options;
    this.#metrics = publishMetrics(options.registry);
    this.#prefix = createInbox(options.inboxPrefix);
    this.#tracer = options.tracer ?? defaultTracer();
  }

  async publishAll<T>(requests: readonly PublishRequest<T>[]): Promise<(PublishReceipt | Error)[]> {
    this.#subscribe();
    const startedAt = performance.now();
    const spans = requests.map((r) => startPublishSpan(this.#tracer, r.subject, r.msgId));
    const replies = await this.#sendAll(requests, spans);
    return Promise.all(
      requests.map(async (request, i) => {
        const first = receiptOf(replies[i] as Reply);
        // The fallback publish counts itself; a schema error was counted when it kept the event back.
        if (!(first instanceof Error)) recordPublish(this.#metrics, request.subject, first, startedAt);
        const receipt =
          first instanceof Error && !(first instanceof SchemaInvalidError)
            ? await this.#o.publisher.publish(request).catch((e: Error) => e)
            : first;
        endPublishSpan(spans[i] as Span, receipt);
        return receipt;
      }),
    );
  }

  #subscribe(): void {
    if (this.#subscribed) return;
    this.#subscribed = true;
    this.#o.nc.subscribe(`${this.#prefix}.*`, {
      callback: (error, msg) => {
        if (error) return;
        const token = msg.subject.slice(this.#prefix.length + 1);
        this.#waiting.get(token)?.(msg);
        this.#waiting.delete(token);
      },
    });
  }

  /** Sends one message, its reply to go to `onReply`; returns its token, or the Error that kept it from going out. */
  #send<T>(request: PublishRequest<T>, span: Span, onReply: (reply: Reply) => void): string | Error {
    const invalid = schemaError(this.#metrics, request);
    if (invalid) return invalid;
    const token = String(++this.#next);
    try {
      const hdrs = publishHeaders(request.headers, trace.setSpan(context.active(), span)) ?? natsHeaders();
      hdrs.set("Nats-Msg-Id", request.msgId);
      this.#waiting.set(token, onReply);
      this.#o.nc.publish(request.subject, encoder.encode(JSON.stringify(request.event)), {
        reply: `${this.#prefix}.${token}`,
        headers: hdrs,
      });
      return token;
    } catch (error) {
      this.#waiting.delete(token);
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  /**
   * Sends the batch and waits until every message has its reply, or the batch's one timer fires:
   * the messages still without a reply then get a timeout Error.
   */
  async #sendAll<T>(requests: readonly PublishRequest<T>[], spans: readonly Span[]): Promise<Reply[]> {
    const replies = new Array<Reply>(requests.length);
    const tokens: string[] = [];
    let outstanding = 0;
    let done = () => {};
    const settled = new Promise<void>((resolve) => (done = resolve));
    for (const [i, request] of requests.entries()) {
      const sent = this.#send(request, spans[i] as Span, (reply) => {
        replies[i] = reply;
        if (--outstanding === 0) done();
      });
      if (sent instanceof Error) {
        replies[i] = sent;
        continue;
      }
      tokens.push(sent);
      outstanding++;
    }
    if (outstanding === 0) return replies;
    const ms = this.#o.ackTimeoutMs ?? 5_000;
    const timer = setTimeout(() => {
      for (const token of tokens) this.#waiting.get(token)?.(new Error(`no PubAck within ${ms} ms`));
      for (const token of tokens) this.#waiting.delete(token);
    }, ms);
    await settled;
    clearTimeout(timer);
    return replies;
  }
}
