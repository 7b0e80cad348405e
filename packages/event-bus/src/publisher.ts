import type { JetStreamClient } from "@nats-io/jetstream";
import {
  headers as natsHeaders,
  NoRespondersError,
  RequestError,
  TimeoutError,
  type MsgHdrs,
  type NatsConnection,
} from "@nats-io/nats-core";
import { topicOf, type Validation } from "@aa/contracts";
import { context, trace, type Context, type Span, type Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { PublishError, SchemaInvalidError } from "./errors.js";
import { publishMetrics, type PublishMetrics } from "./metrics.js";
import { PubAckInbox, type PublishReceipt } from "./pub-ack-inbox.js";
import { defaultTracer, injectTraceContext, markFailed, MessagingAttributes, startPublishSpan } from "./tracing.js";

export interface PublisherOptions {
  js: JetStreamClient;
  logger: Logger;
  registry: Registry;
  /**
   * Total time to keep retrying transient failures, in ms; must stay inside the 2-minute duplicate window.
   * Default 10 000.
   */
  retryBudgetMs?: number;
  /** Wait for one PubAck, in ms. Default 5 000. */
  ackTimeoutMs?: number;
  /**
   * Publishes awaiting their PubAck at once (default unbounded). Past it `publish` fails at
   * once with a PublishError (callers answer 503 + Retry-After) instead of queueing in memory.
   */
  maxInFlight?: number;
  /** PRODUCER span per publish, child of the active context; default the global API tracer (no-op without an SDK). */
  tracer?: Tracer;
  /**
   * The connection `js` publishes on: when given, each publish's first attempt is a plain publish whose PubAck comes
   * back on one inbox subscription (PubAckInbox), and only its retries are `js.publish` requests.
   */
  nc?: NatsConnection;
  /** The connection's NATS_INBOX_PREFIX, where its permissions let replies in; default `_INBOX`. */
  inboxPrefix?: string;
}

export type { PublishReceipt };

export interface PublishRequest<T> {
  subject: string;
  /** The stable event id, sent as `Nats-Msg-Id`. */
  msgId: string;
  event: T;
  validate?: (value: unknown) => Validation<unknown>;
  headers?: Record<string, string>;
}

const MAX_DUPLICATE_WINDOW_MS = 120_000;

/**
 * Errors where the same publish, retried with the same msg id, may succeed: no
 * responders (no stream owns the subject for a moment, as during a subject handoff;
 * the v3 client reports that as "jetstream is not enabled"), timeouts, reconnects.
 */
export function isTransientPublishError(error: unknown): boolean {
  if (error instanceof NoRespondersError || error instanceof TimeoutError) return true;
  if (error instanceof RequestError)
    return error.isNoResponders() || /timeout|reconnect|disconnect/i.test(error.message);
  if (!(error instanceof Error)) return false;
  if (error.name === "JetStreamNotEnabled") return true;
  if (error.cause !== undefined && isTransientPublishError(error.cause)) return true;
  return /no responders|timeout|reconnect|disconnect/i.test(error.message);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Publishes events to JetStream and resolves only after the PubAck: an event is
 * accepted once it is durable in a stream. Retries transient failures with capped
 * backoff, reusing the msg id so JetStream deduplicates a publish that did land.
 */
export class EventPublisher {
  readonly #js: JetStreamClient;
  readonly #logger: Logger;
  readonly #metrics: PublishMetrics;
  readonly #retryBudgetMs: number;
  readonly #ackTimeoutMs: number;
  readonly #maxInFlight: number;
  readonly #tracer: Tracer;
  readonly #inbox: PubAckInbox | undefined;
  #inFlight = 0;
  #turnEnd: Promise<void> | undefined;

  constructor(options: PublisherOptions) {
    this.#js = options.js;
    this.#logger = options.logger;
    this.#metrics = publishMetrics(options.registry);
    this.#retryBudgetMs = Math.min(options.retryBudgetMs ?? 10_000, MAX_DUPLICATE_WINDOW_MS);
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.#maxInFlight = options.maxInFlight ?? Number.POSITIVE_INFINITY;
    this.#tracer = options.tracer ?? defaultTracer();
    // The first attempt waits as long as a js.publish first attempt would: the ack timeout, within the retry budget.
    const firstWaitMs = Math.max(100, Math.min(this.#ackTimeoutMs, this.#retryBudgetMs));
    this.#inbox = options.nc === undefined ? undefined : new PubAckInbox(options.nc, firstWaitMs, options.inboxPrefix);
  }

  /**
   * Validates, publishes and awaits the PubAck, in a PRODUCER span whose W3C context travels in
   * the message headers (`traceparent`), so the consumer continues the trace.
   */
  publish<T>(request: PublishRequest<T>): Promise<PublishReceipt> {
    const span = startPublishSpan(this.#tracer, request.subject, request.msgId);
    return inSpanContext(span, async () => {
      try {
        const receipt = await this.#publish(request);
        endPublishSpan(span, receipt);
        return receipt;
      } catch (error) {
        endPublishSpan(span, error);
        throw error;
      }
    });
  }

  async #publish<T>(request: PublishRequest<T>): Promise<PublishReceipt> {
    const invalid = schemaError(this.#metrics, request);
    if (invalid) throw invalid;
    if (this.#inFlight >= this.#maxInFlight) {
      this.#metrics.published.inc({ topic: topicOf(request.subject), status: "error" });
      throw new PublishError(
        `${this.#inFlight} publishes already await their PubAck (limit ${this.#maxInFlight}): ` +
          `JetStream is falling behind`,
        request.subject,
      );
    }
    this.#inFlight++;
    const startedAt = performance.now();
    try {
      const receipt = await this.#publishWithRetry(request, new TextEncoder().encode(JSON.stringify(request.event)));
      recordPublish(this.#metrics, request.subject, receipt, startedAt);
      return receipt;
    } catch (error) {
      recordPublish(this.#metrics, request.subject, error, startedAt);
      throw error;
    } finally {
      this.#inFlight--;
    }
  }

  async #publishWithRetry(request: PublishRequest<unknown>, data: Uint8Array): Promise<PublishReceipt> {
    const deadline = Date.now() + this.#retryBudgetMs;
    // Injected inside the PRODUCER span: the consumer's span becomes its child.
    const hdrs = publishHeaders(request.headers);
    await this.#endOfTurn();
    for (let attempt = 1; ; attempt++) {
      try {
        if (attempt === 1 && this.#inbox) return await this.#inbox.publish(request.subject, data, request.msgId, hdrs);
        const ack = await this.#js.publish(request.subject, data, {
          msgID: request.msgId,
          timeout: Math.max(100, Math.min(this.#ackTimeoutMs, deadline - Date.now())),
          ...(hdrs ? { headers: hdrs } : {}),
        });
        return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
      } catch (error) {
        const backoffMs = Math.min(100 * 2 ** (attempt - 1), 2_000);
        if (!isTransientPublishError(error) || Date.now() + backoffMs >= deadline) {
          throw new PublishError(
            `JetStream did not acknowledge ${request.subject} (msg id ${request.msgId}) ` +
              `after ${attempt} attempt(s): ${(error as Error).message}`,
            request.subject,
            { cause: error },
          );
        }
        this.#logger.debug({ subject: request.subject, attempt, err: error }, "publish failed; retrying");
        await sleep(backoffMs);
      }
    }
  }

  /**
   * Resolves in this event-loop turn's check phase, once for every publish started in the turn.
   * nats.js writes its buffer to the socket one microtask after the first publish, so each HTTP
   * request (its own macrotask) cost a socket write; released together, the turn's publishes
   * share one write, which profiled at about a third of ingest's CPU.
   */
  #endOfTurn(): Promise<void> {
    this.#turnEnd ??= new Promise((resolve) =>
      setImmediate(() => {
        this.#turnEnd = undefined;
        resolve();
      }),
    );
    return this.#turnEnd;
  }
}

/**
 * A finished publish in the metrics: its status (success, duplicate; error for anything thrown) and,
 * stored or not, how long it waited since `startedAt` (a `performance.now()`). Both publishers count here.
 */
export function recordPublish(
  metrics: PublishMetrics,
  subject: string,
  outcome: PublishReceipt | unknown,
  startedAt: number,
): void {
  const topic = topicOf(subject);
  const status = isReceipt(outcome) ? (outcome.duplicate ? "duplicate" : "success") : "error";
  metrics.published.inc({ topic, status });
  metrics.duration.observe({ topic }, (performance.now() - startedAt) / 1000);
}

/** Ends a publish's PRODUCER span: where JetStream stored the event, or failed with the error's type. */
export function endPublishSpan(span: Span, outcome: PublishReceipt | unknown): void {
  if (isReceipt(outcome)) {
    const { stream, streamSequence, duplicate } = MessagingAttributes;
    span.setAttributes({ [stream]: outcome.stream, [streamSequence]: outcome.seq, [duplicate]: outcome.duplicate });
  } else {
    markFailed(span, outcome);
  }
  span.end();
}

const isReceipt = (outcome: unknown): outcome is PublishReceipt =>
  typeof outcome === "object" && outcome !== null && !(outcome instanceof Error) && "seq" in outcome;

/**
 * The request's headers plus the trace context of `from` (the active one by default); undefined
 * when there is neither (tracing off). Both publishers send these.
 */
export function publishHeaders(
  values: Record<string, string> | undefined,
  from: Context = context.active(),
): MsgHdrs | undefined {
  const h = natsHeaders();
  for (const [key, value] of Object.entries(values ?? {})) h.set(key, value);
  injectTraceContext(h, from);
  return h.keys().length > 0 ? h : undefined;
}

/** The request's validation: undefined when it passes (or has none), else its error, counted as `schema_invalid`. */
export function schemaError<T>(metrics: PublishMetrics, request: PublishRequest<T>): SchemaInvalidError | undefined {
  const result = request.validate?.(request.event);
  if (result === undefined || result.ok) return undefined;
  metrics.published.inc({ topic: topicOf(request.subject), status: "schema_invalid" });
  return new SchemaInvalidError(result.errors);
}

const inSpanContext = <T>(span: Span, work: () => Promise<T>): Promise<T> =>
  context.with(trace.setSpan(context.active(), span), work);
