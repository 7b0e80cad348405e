import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Validation } from "@aa/contracts";
import type { Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { Counter, Histogram } from "prom-client";
import { NonRetryableError, RetryAfterError, TransientError } from "../errors.js";
import { DlqHeaders, DlqReasons, publishToDlq } from "../dlq.js";
import type { ConsumerMetrics } from "../metrics.js";
import { retryDelayMs } from "./retry.js";
import { defaultTracer, processBatch, processMessage, recordOutcome } from "../tracing.js";

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
  /**
   * Does the work; resolves only when it is durable. Throw TransientError (RetryAfterError for a
   * delay the dependency asked for) or NonRetryableError to steer routing. Resolving `"ignored"`
   * acknowledges a message deliberately not processed (counted as `ignored`, not `success`).
   */
  handle(event: T, meta: DeliveryMeta): Promise<void | "ignored">;
  /**
   * Optional: does the work for several decoded events at once (one transaction), resolving
   * with one outcome per event: undefined (done), "ignored", or the Error of that event.
   * Throwing fails the whole batch: a TransientError naks every message; any other error
   * makes the router retry the messages one by one, so one bad row cannot fail its neighbours.
   */
  handleBatch?(events: T[], metas: DeliveryMeta[]): Promise<(void | "ignored" | Error)[]>;
}

type BatchHandler<T> = NonNullable<MessageHandler<T>["handleBatch"]>;

const errorText = (errors: readonly { field: string; message: string }[]): string =>
  errors.map((e) => `${e.field} ${e.message}`).join("; ");

/** Result label of `<service>_<kind>_messages_total`. */
export type MessageResult = "success" | "schema_invalid" | "retry" | "dlq" | "ignored";

const metaOf = (msg: JsMsg): DeliveryMeta => ({
  stream: msg.info.stream,
  streamSequence: msg.info.streamSequence,
  deliveryCount: msg.info.deliveryCount,
  subject: msg.subject,
});

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
  /** Test-only hook (fault suite crash point): called after the work committed, before each ack. */
  onBeforeAck?: () => void;
  /** CONSUMER spans per message (and per batch); default the global API tracer, a no-op without an SDK. */
  tracer?: Tracer;
}

/**
 * Decides what happens to one delivered message. Schema-invalid and non-retryable go
 * to the DLQ at once; anything else is nak'd with a growing delay until the last
 * delivery, then dead-lettered. A message is terminated only after its DLQ copy is
 * acknowledged; if the DLQ does not take it, it is nak'd and kept.
 * Returns true when the message was acknowledged as processed.
 */
export class MessageRouter<T> {
  /** Until when a dependency is known to be down: buffered messages are nak'd without a doomed attempt. */
  #backoffUntil = 0;
  #stopping = false;
  readonly #tracer: Tracer;

  constructor(private readonly o: RouterOptions<T>) {
    this.#tracer = o.tracer ?? defaultTracer();
  }

  /** Ends any in-process DLQ retry so shutdown is not held up. */
  stop(): void {
    this.#stopping = true;
  }

  /**
   * Routes a batch of delivered messages; returns how many were acknowledged as processed.
   * Invalid payloads are dead-lettered one by one; the valid ones go through `handleBatch`
   * when the handler has it.
   */
  async routeBatch(ctx: RouteContext, msgs: readonly JsMsg[]): Promise<number> {
    if (!this.o.handler.handleBatch || msgs.length === 1 || Date.now() < this.#backoffUntil)
      return this.#routeEach(ctx, msgs);
    const handleBatch = this.o.handler.handleBatch.bind(this.o.handler);
    return processBatch(this.#tracer, ctx, msgs, () => this.#routeTogether(ctx, msgs, handleBatch));
  }

  /** A message of a batch that did not succeed gets a span of its own, in its own trace (the DLQ copy carries it). */
  #alone(ctx: RouteContext, msg: JsMsg, work: () => Promise<void>): Promise<void> {
    return processMessage(this.#tracer, ctx, msg, work);
  }

  async #routeTogether(ctx: RouteContext, msgs: readonly JsMsg[], handleBatch: BatchHandler<T>): Promise<number> {
    const valid: { msg: JsMsg; event: T }[] = [];
    for (const msg of msgs) {
      const decoded = this.o.handler.decode(msg.data);
      if (decoded.ok) valid.push({ msg, event: decoded.value });
      else
        await this.#alone(ctx, msg, () =>
          this.#deadLetter(ctx, msg, DlqReasons.schemaInvalid, errorText(decoded.errors), "schema_invalid"),
        );
    }
    if (valid.length === 0) return 0;
    let outcomes: (void | "ignored" | Error)[];
    try {
      outcomes = await handleBatch(
        valid.map((v) => v.event),
        valid.map((v) => metaOf(v.msg)),
      );
    } catch (error) {
      if (!(error instanceof TransientError))
        return this.#routeEach(
          ctx,
          valid.map((v) => v.msg),
        );
      for (const [i, { msg }] of valid.entries()) await this.#onFailure(ctx, msg, error, i > 0);
      return 0;
    }
    let acked = 0;
    for (const [i, { msg }] of valid.entries()) {
      const outcome = outcomes[i];
      if (outcome instanceof Error) await this.#alone(ctx, msg, () => this.#onFailure(ctx, msg, outcome));
      else acked += this.#done(ctx, msg, outcome) ? 1 : 0;
    }
    return acked;
  }

  async #routeEach(ctx: RouteContext, msgs: readonly JsMsg[]): Promise<number> {
    let acked = 0;
    for (const msg of msgs) acked += (await this.route(ctx, msg)) ? 1 : 0;
    return acked;
  }

  /** Routes one message in a CONSUMER span that continues the trace it carries. */
  route(ctx: RouteContext, msg: JsMsg): Promise<boolean> {
    return processMessage(this.#tracer, ctx, msg, () => this.#route(ctx, msg));
  }

  async #route(ctx: RouteContext, msg: JsMsg): Promise<boolean> {
    // After a transient failure, each buffered message would wait out its own timeout
    // and could pass the ack wait (redelivered without our delay, burning deliveries).
    if (Date.now() < this.#backoffUntil && !this.#isLastDelivery(ctx, msg)) {
      this.#retryLater(ctx, msg);
      return false;
    }
    const decoded = this.o.handler.decode(msg.data);
    if (!decoded.ok) {
      const text = decoded.errors.map((e) => `${e.field} ${e.message}`).join("; ");
      await this.#deadLetter(ctx, msg, DlqReasons.schemaInvalid, text, "schema_invalid");
      return false;
    }
    let outcome: void | "ignored";
    try {
      outcome = await this.o.handler.handle(decoded.value, metaOf(msg));
    } catch (error) {
      await this.#onFailure(ctx, msg, error);
      return false;
    }
    return this.#done(ctx, msg, outcome);
  }

  /** Acknowledges a processed message (only after its work is durable) and records it. */
  #done(ctx: RouteContext, msg: JsMsg, outcome: void | "ignored"): boolean {
    this.o.onBeforeAck?.();
    msg.ack();
    if (outcome !== "ignored")
      this.o.latency?.observe(
        { stream: ctx.stream, durable: ctx.durable },
        Math.max(0, Date.now() - msg.info.timestampNanos / 1e6) / 1000,
      );
    this.#count(ctx, msg, outcome === "ignored" ? "ignored" : "success");
    return true;
  }

  /** `quiet`: one log line per batch is enough when a whole batch failed for the same reason. */
  async #onFailure(ctx: RouteContext, msg: JsMsg, error: unknown, quiet = false): Promise<void> {
    const text = error instanceof Error ? error.message : String(error);
    if (error instanceof NonRetryableError) {
      await this.#deadLetter(
        ctx,
        msg,
        error.reason,
        text,
        error.reason === DlqReasons.schemaInvalid ? "schema_invalid" : "dlq",
      );
      return;
    }
    if (this.#isLastDelivery(ctx, msg)) {
      await this.#deadLetter(ctx, msg, DlqReasons.maxDeliver, text, "dlq");
      return;
    }
    const delayMs = this.#retryLater(ctx, msg, error instanceof RetryAfterError ? error.delayMs : undefined);
    if (error instanceof TransientError) this.#backoffUntil = Date.now() + Math.min(delayMs, 30_000);
    const level = quiet ? "debug" : error instanceof TransientError ? "warn" : "error";
    this.o.logger[level](
      {
        durable: ctx.durable,
        stream: ctx.stream,
        seq: msg.info.streamSequence,
        deliveryCount: msg.info.deliveryCount,
        delayMs,
        err: error,
      },
      `[${this.o.tag}] processing failed; redelivery in ${delayMs} ms`,
    );
  }

  #isLastDelivery(ctx: RouteContext, msg: JsMsg): boolean {
    return ctx.maxDeliver > 0 && msg.info.deliveryCount >= ctx.maxDeliver;
  }

  /** Naks with the delay for this delivery (or the one a dependency asked for); returns the delay. */
  #retryLater(ctx: RouteContext, msg: JsMsg, requestedMs?: number): number {
    const delayMs = requestedMs ?? retryDelayMs(msg.info.deliveryCount, ctx.maxDeliver, this.o.retryBudgetMs);
    msg.nak(delayMs);
    this.#count(ctx, msg, "retry");
    return delayMs;
  }

  async #deadLetter(
    ctx: RouteContext,
    msg: JsMsg,
    reason: string,
    error: string,
    result: MessageResult,
  ): Promise<void> {
    if (!(await this.#copyToDlq(ctx, msg, reason, error))) return;
    // No reason text: nats-server 2.9 ignores "+TERM <reason>", leaving the message unacknowledged.
    msg.term();
    this.o.metrics.dlq.inc({ consumer: ctx.durable, reason });
    this.#count(ctx, msg, result);
    // Not the error text: validation messages quote the payload (user ids included);
    // the DLQ copy keeps it in X-Dlq-Error.
    this.o.logger.warn(
      { durable: ctx.durable, stream: ctx.stream, seq: msg.info.streamSequence, reason },
      `[${this.o.tag}] message dead-lettered (${reason})`,
    );
  }

  /**
   * Publishes the DLQ copy. When the DLQ does not take it the message is kept: nak'd
   * for redelivery, or, on its last delivery (JetStream would not redeliver it), held
   * here and retried while the ack wait is extended, until the DLQ answers or shutdown.
   */
  async #copyToDlq(ctx: RouteContext, msg: JsMsg, reason: string, error: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { dlqPrefix: prefix, service } = this.o;
        await publishToDlq(this.o.js, {
          msg,
          prefix,
          reason,
          error,
          durable: ctx.durable,
          service,
          tracer: this.#tracer,
        });
        return true;
      } catch (dlqError) {
        const last = this.#isLastDelivery(ctx, msg);
        const log = {
          durable: ctx.durable,
          stream: ctx.stream,
          seq: msg.info.streamSequence,
          reason,
          attempt,
          err: dlqError,
        };
        if (!last) {
          this.o.logger.error(log, `[${this.o.tag}] DLQ publish failed; message kept for redelivery`);
          msg.nak(retryDelayMs(1, 0, 0));
          this.#count(ctx, msg, "retry");
          return false;
        }
        if (this.#stopping) {
          this.o.logger.error(
            log,
            `[${this.o.tag}] DLQ unavailable at shutdown for a message on its last delivery; ` +
              `it stays in ${ctx.stream} at sequence ${msg.info.streamSequence} (not redelivered: max deliver reached)`,
          );
          return false;
        }
        this.o.logger.error(
          log,
          `[${this.o.tag}] DLQ publish failed on the last delivery; holding the message and retrying`,
        );
        msg.working();
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000 * 2 ** (attempt - 1), 10_000)));
      }
    }
  }

  #count(ctx: RouteContext, msg: JsMsg, result: MessageResult): void {
    this.o.results.inc({ result, subject: msg.subject, stream: ctx.stream, durable: ctx.durable });
    recordOutcome(result, msg);
    // A replay's outcome is known only here, where the consumer finishes it (a CLI has no scrape endpoint).
    if (result !== "retry" && msg.headers?.has(DlqHeaders.replayedFrom)) this.o.metrics.replayed.inc({ result });
  }
}
