import type { NatsConnection } from "@nats-io/nats-core";
import { context, trace, type Span, type Tracer } from "@opentelemetry/api";
import type { Registry } from "prom-client";
import { SchemaInvalidError } from "./errors.js";
import { publishMetrics, type PublishMetrics } from "./metrics.js";
import { PubAckInbox, type PublishReceipt } from "./pub-ack-inbox.js";
import {
  endPublishSpan,
  publishHeaders,
  recordPublish,
  schemaError,
  type EventPublisher,
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

const encoder = new TextEncoder();

/**
 * Publishes many events at once and resolves when each has its PubAck (or its Error): the batch's messages go out back
 * to back through one PubAckInbox, without a request each (js.publish's request machinery was a fifth of normalize's
 * CPU while it announced a backlog). Same guarantees: `Nats-Msg-Id` on every message, the same metrics, a PRODUCER span
 * each; an event without a PubAck here is published again through `publisher` (same msg id, so JetStream stores it
 * once), and only its error after those retries is returned.
 */
export class BatchPublisher {
  readonly #o: BatchPublisherOptions;
  readonly #metrics: PublishMetrics;
  readonly #tracer: Tracer;
  readonly #inbox: PubAckInbox;

  constructor(options: BatchPublisherOptions) {
    this.#o = options;
    this.#metrics = publishMetrics(options.registry);
    this.#inbox = new PubAckInbox(options.nc, options.ackTimeoutMs ?? 5_000, options.inboxPrefix);
    this.#tracer = options.tracer ?? defaultTracer();
  }

  async publishAll<T>(requests: readonly PublishRequest<T>[]): Promise<(PublishReceipt | Error)[]> {
    const startedAt = performance.now();
    const spans = requests.map((r) => startPublishSpan(this.#tracer, r.subject, r.msgId));
    const replies = await this.#sendAll(requests, spans);
    return Promise.all(
      requests.map(async (request, i) => {
        const first = replies[i] as PublishReceipt | Error;
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

  /** Sends the batch and waits until every message has its receipt or the Error in its place (a timeout at most). */
  async #sendAll<T>(
    requests: readonly PublishRequest<T>[],
    spans: readonly Span[],
  ): Promise<(PublishReceipt | Error)[]> {
    const replies = new Array<PublishReceipt | Error>(requests.length);
    let outstanding = 0;
    let done = () => {};
    const settled = new Promise<void>((resolve) => (done = resolve));
    for (const [i, request] of requests.entries()) {
      const invalid = schemaError(this.#metrics, request);
      if (invalid) {
        replies[i] = invalid;
        continue;
      }
      const headers = publishHeaders(request.headers, trace.setSpan(context.active(), spans[i] as Span));
      const data = encoder.encode(JSON.stringify(request.event));
      outstanding++;
      const failed = this.#inbox.send(request.subject, data, request.msgId, headers, (reply) => {
        replies[i] = reply;
        if (--outstanding === 0) done();
      });
      if (failed) {
        replies[i] = failed;
        outstanding--;
      }
    }
    if (outstanding > 0) await settled;
    return replies;
  }
}
