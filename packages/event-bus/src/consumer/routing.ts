import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Validation } from "@aa/contracts";
import type { Logger } from "pino";
import type { Counter, Histogram } from "prom-client";
import { NonRetryableError, TransientError } from "../errors.js";
import { DlqReasons, publishToDlq } from "../dlq.js";
import type { ConsumerMetrics } from "../metrics.js";
import { retryDelayMs } from "./retry.js";

/** Where a message came from, for handlers that need it. */
export interface DeliveryMeta {
  stream: string;
  streamSequence: number;
  deliveryCount: number;
  subject: string;
}

export interface MessageHandler<T> {
  /** Parses and validates the payload; an invalid one goes to the DLQ at once. */
  decode(data: Uint8Array): Validation<T>;
  /** Does the work; resolves only when it is durable. Throw TransientError or NonRetryableError to steer routing. */
  handle(event: T, meta: DeliveryMeta): Promise<void>;
}

/** Result label of `<service>_<kind>_messages_total`. */
export type MessageResult = "success" | "schema_invalid" | "retry" | "dlq";

/** The binding a message was delivered on, as routing needs it. */
export interface RouteContext {
  stream: string;
  durable: string;
  maxDeliver: number;
}

export interface RouterOptions<T> {
  js: JetStreamClient;
  logger: Logger;
  handler: MessageHandler<T>;
  metrics: ConsumerMetrics;
  results: Counter<"result" | "subject" | "stream" | "durable">;
  latency?: Histogram<"stream" | "durable">;
  /** Service name in DLQ headers. */
  service: string;
  dlqPrefix: string;
  retryBudgetMs: number;
  /** Log prefix of routing lines, e.g. `normalize-hrv`. */
  tag: string;
}

/**
 * Decides what happens to one delivered message. Schema-invalid and non-retryable go
 * to the DLQ at once; anything else is nak'd with a growing delay until the last
 * delivery, then dead-lettered. A message is terminated only after its DLQ copy is
 * acknowledged; if the DLQ does not take it, it is nak'd and kept.
 * Returns true when the message was acknowledged as processed.
 */
export class MessageRouter<T> {
  constructor(private readonly o: RouterOptions<T>) {}

  async route(ctx: RouteContext, msg: JsMsg): Promise<boolean> {
    const decoded = this.o.handler.decode(msg.data);
    if (!decoded.ok) {
      const text = decoded.errors.map((e) => `${e.field} ${e.message}`).join("; ");
      await this.#deadLetter(ctx, msg, DlqReasons.schemaInvalid, text, "schema_invalid");
      return false;
    }
    try {
      await this.o.handler.handle(decoded.value, { stream: msg.info.stream, streamSequence: msg.info.streamSequence, deliveryCount: msg.info.deliveryCount, subject: msg.subject });
    } catch (error) {
      await this.#onFailure(ctx, msg, error);
      return false;
    }
    msg.ack();
    this.o.latency?.observe({ stream: ctx.stream, durable: ctx.durable }, Math.max(0, Date.now() - msg.info.timestampNanos / 1e6) / 1000);
    this.#count(ctx, msg, "success");
    return true;
  }

  async #onFailure(ctx: RouteContext, msg: JsMsg, error: unknown): Promise<void> {
    const text = error instanceof Error ? error.message : String(error);
    if (error instanceof NonRetryableError) {
      await this.#deadLetter(ctx, msg, error.reason, text, error.reason === DlqReasons.schemaInvalid ? "schema_invalid" : "dlq");
      return;
    }
    const { deliveryCount } = msg.info;
    if (ctx.maxDeliver > 0 && deliveryCount >= ctx.maxDeliver) {
      await this.#deadLetter(ctx, msg, DlqReasons.maxDeliver, text, "dlq");
      return;
    }
    const delayMs = retryDelayMs(deliveryCount, ctx.maxDeliver, this.o.retryBudgetMs);
    const level = error instanceof TransientError ? "warn" : "error";
    this.o.logger[level]({ durable: ctx.durable, stream: ctx.stream, seq: msg.info.streamSequence, deliveryCount, delayMs, err: error }, `[${this.o.tag}] processing failed; redelivery in ${delayMs} ms`);
    msg.nak(delayMs);
    this.#count(ctx, msg, "retry");
  }

  async #deadLetter(ctx: RouteContext, msg: JsMsg, reason: string, error: string, result: MessageResult): Promise<void> {
    try {
      await publishToDlq(this.o.js, { msg, prefix: this.o.dlqPrefix, reason, error, durable: ctx.durable, service: this.o.service });
    } catch (dlqError) {
      const delayMs = retryDelayMs(1, 0, 0);
      this.o.logger.error({ durable: ctx.durable, seq: msg.info.streamSequence, reason, err: dlqError }, `[${this.o.tag}] DLQ publish failed; message kept for redelivery in ${delayMs} ms`);
      msg.nak(delayMs);
      this.#count(ctx, msg, "retry");
      return;
    }
    // No reason text: nats-server 2.9 ignores "+TERM <reason>", leaving the message unacknowledged.
    msg.term();
    this.o.metrics.dlq.inc({ consumer: ctx.durable, reason });
    this.#count(ctx, msg, result);
    this.o.logger.warn({ durable: ctx.durable, stream: ctx.stream, seq: msg.info.streamSequence, reason, error }, `[${this.o.tag}] message dead-lettered (${reason})`);
  }

  #count(ctx: RouteContext, msg: JsMsg, result: MessageResult): void {
    this.o.results.inc({ result, subject: msg.subject, stream: ctx.stream, durable: ctx.durable });
  }
}
