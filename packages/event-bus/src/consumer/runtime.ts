import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { Counter, Histogram, Registry } from "prom-client";
import { consumerMetrics } from "../metrics.js";
import type { ConsumerSpec } from "../topology/spec.js";
import { DurableBindings, type BindingProgress } from "./durable-bindings.js";
import { MessageRouter, type MessageHandler } from "./routing.js";

export type { DeliveryMeta, MessageHandler, MessageResult } from "./routing.js";
export type { BindingProgress } from "./durable-bindings.js";

export interface DurableConsumerOptions<T> {
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
  registry: Registry;
  /** The durable as the topology defines it. */
  spec: ConsumerSpec;
  /** Streams of this mode, in the order the runbook logs them. */
  candidates: readonly string[];
  /** The other mode's streams: bound when they own the subject or still hold messages (migrations). */
  otherStreams?: readonly string[];
  /** e.g. `HRV`, used in log lines. */
  label: string;
  /** Log prefix of binding lines, e.g. `normalize`. */
  tag: string;
  /** Service name in DLQ headers. */
  service: string;
  /** `dlq.normalize.hrv.raw-received`. */
  dlqPrefix: string;
  handler: MessageHandler<T>;
  /** Counter with labels result, subject, stream, durable. */
  results: Counter<"result" | "subject" | "stream" | "durable">;
  /** Publish-to-stored latency, labels stream and durable. */
  latency?: Histogram<"stream" | "durable">;
  /** Time over which a failing event is retried before it may be dead-lettered, in ms (default 10 min). */
  retryBudgetMs?: number;
  /** Create the durable when missing (FEATURE_SERVICE_MANAGES_CONSUMERS); never overwrites an existing config. */
  manageConsumer?: boolean;
  /** How often bindings and pending counts are re-checked, in ms (default 5 000). */
  reconcileIntervalMs?: number;
  /** Most messages handled in one batch (one transaction when the handler has handleBatch); default 500. */
  batchSize?: number;
  /** Test-only hook (fault suite crash point): called after the work committed, before each ack. */
  onBeforeAck?: () => void;
  /** Batches processed at once per binding; default 1. */
  concurrency?: number;
  /** CONSUMER spans per message or batch; default the global API tracer, a no-op without an SDK. */
  tracer?: Tracer;
}

const DEFAULT_RETRY_BUDGET_MS = 600_000;

/**
 * One durable pull consumer, bound wherever it must be consumed: the stream that owns
 * its subject (primary) and any stream that lost the subject but still holds messages
 * (drain-only). Bindings are re-checked periodically, so a subject handoff during a
 * migration is followed without a restart, and a drained binding is released.
 * Composed of the binding lifecycle (`DurableBindings`), a `ConsumeLoop` per binding and
 * the `MessageRouter` that handles, retries and dead-letters each message.
 */
export class DurableConsumer<T> {
  readonly #o: DurableConsumerOptions<T>;
  readonly #router: MessageRouter<T>;
  readonly #bindings: DurableBindings<T>;
  readonly #silent: Logger;
  #stopping = false;
  #reconciling = false;
  #timer: NodeJS.Timeout | undefined;
  #failed: ((error: Error) => void) | undefined;
  readonly #failure: Promise<never>;

  constructor(options: DurableConsumerOptions<T>) {
    this.#o = options;
    const metrics = consumerMetrics(options.registry);
    this.#silent = options.logger.child({}, { level: "silent" });
    this.#router = new MessageRouter({
      js: options.js,
      logger: options.logger,
      handler: options.handler,
      metrics,
      results: options.results,
      latency: options.latency,
      service: options.service,
      dlqPrefix: options.dlqPrefix,
      retryBudgetMs: options.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS,
      tag: `${options.tag}-${options.label.toLowerCase()}`,
      onBeforeAck: options.onBeforeAck,
      tracer: options.tracer,
    });
    this.#failure = new Promise<never>((_resolve, reject) => {
      this.#failed = reject;
    });
    this.#failure.catch(() => undefined);
    this.#bindings = new DurableBindings({
      ...options,
      metrics,
      router: this.#router,
      batchSize: Math.max(1, options.batchSize ?? 500),
      concurrency: Math.max(1, options.concurrency ?? 1),
      onLoopFailed: (error) => this.#failed?.(error),
    });
  }

  /**
   * Binds (logging the runbook's lines) and starts consuming; throws ConsumerBindingError when no stream has the
   * durable.
   */
  async start(): Promise<void> {
    if (this.#o.manageConsumer) await this.#bindings.ensureDurable();
    await this.#bindings.follow(await this.#bindings.resolve(this.#o.logger), true);
    await this.#bindings.refreshProgress();
    this.#timer = setInterval(() => void this.#reconcile(), this.#o.reconcileIntervalMs ?? 5_000);
    this.#timer.unref();
  }

  /** Stops pulling, finishes the message in hand, naks the buffered ones for prompt redelivery. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#router.stop();
    clearInterval(this.#timer);
    await this.#bindings.close();
  }

  progress(): BindingProgress[] {
    return this.#bindings.progress();
  }

  /** Rejects when a consume loop ends or fails although nobody asked it to. */
  get failure(): Promise<never> {
    return this.#failure;
  }

  /** Follows subject handoffs and refreshes pending counts; logs only what changed. */
  async #reconcile(): Promise<void> {
    if (this.#stopping || this.#reconciling) return;
    this.#reconciling = true;
    try {
      await this.#bindings.follow(await this.#bindings.resolve(this.#silent), false);
    } catch (error) {
      this.#o.logger.warn(
        { err: error },
        `[${this.#o.tag}] ${this.#o.label} binding check failed; keeping current bindings`,
      );
    } finally {
      this.#reconciling = false;
    }
    await this.#bindings.refreshProgress();
  }
}
