import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { Counter, Histogram, Registry } from "prom-client";
import { consumerMetrics, type ConsumerMetrics } from "../metrics.js";
import { diffConsumer, type CurrentTopology } from "../topology/diff.js";
import { ifExists, isNotFound } from "../topology/apply.js";
import type { ConsumerSpec } from "../topology/spec.js";
import { coveringPattern } from "../subjects.js";
import { resolveBindings, type Binding } from "./binding.js";
import { DlqReasons } from "../dlq.js";
import { MessageRouter, type MessageHandler, type MessageResult } from "./routing.js";

export type { DeliveryMeta, MessageHandler, MessageResult } from "./routing.js";

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

/** What health and metrics show for one binding. */
export interface BindingProgress {
  stream: string;
  durable: string;
  role: Binding["role"];
  pending: number | null;
  ackPending: number | null;
  lastAckAt: string | null;
  /** Set when the durable disappeared or could not be read. */
  error: string | null;
}

interface ActiveBinding extends Binding {
  messages: ConsumerMessages;
  loop: Promise<void>;
  progress: BindingProgress;
  released: boolean;
}

const DEFAULT_RETRY_BUDGET_MS = 600_000;
const RESULTS: readonly MessageResult[] = ["success", "schema_invalid", "retry", "dlq"];

/**
 * One durable pull consumer, bound wherever it must be consumed: the stream that owns
 * its subject (primary) and any stream that lost the subject but still holds messages
 * (drain-only). Bindings are re-checked periodically, so a subject handoff during a
 * migration is followed without a restart, and a drained binding is released.
 * Each binding processes messages one at a time with `consume()`.
 */
export class DurableConsumer<T> {
  readonly #o: DurableConsumerOptions<T>;
  readonly #metrics: ConsumerMetrics;
  readonly #router: MessageRouter<T>;
  readonly #silent: Logger;
  #bindings: ActiveBinding[] = [];
  #stopping = false;
  #reconciling = false;
  readonly #batchSize: number;
  readonly #concurrency: number;
  #timer: NodeJS.Timeout | undefined;
  #failed: ((error: Error) => void) | undefined;
  readonly #failure: Promise<never>;

  constructor(options: DurableConsumerOptions<T>) {
    this.#o = options;
    this.#batchSize = Math.max(1, options.batchSize ?? 500);
    this.#concurrency = Math.max(1, options.concurrency ?? 1);
    this.#metrics = consumerMetrics(options.registry);
    this.#silent = options.logger.child({}, { level: "silent" });
    this.#router = new MessageRouter({
      js: options.js,
      logger: options.logger,
      handler: options.handler,
      metrics: this.#metrics,
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
  }

  /**
   * Binds (logging the runbook's lines) and starts consuming; throws ConsumerBindingError when no stream has the
   * durable.
   */
  async start(): Promise<void> {
    if (this.#o.manageConsumer) await this.#ensureDurable();
    await this.#apply(await this.#resolve(this.#o.logger), true);
    await this.#refreshProgress();
    this.#timer = setInterval(() => void this.#reconcile(), this.#o.reconcileIntervalMs ?? 5_000);
    this.#timer.unref();
  }

  /** Stops pulling, finishes the message in hand, naks the buffered ones for prompt redelivery. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#router.stop();
    clearInterval(this.#timer);
    await Promise.all(this.#bindings.map((b) => this.#close(b)));
  }

  progress(): BindingProgress[] {
    return this.#bindings.map((b) => ({ ...b.progress }));
  }

  /** Rejects when a consume loop ends or fails although nobody asked it to. */
  get failure(): Promise<never> {
    return this.#failure;
  }

  #resolve(logger: Logger): Promise<Binding[]> {
    const { jsm, spec, candidates, otherStreams, label, tag } = this.#o;
    return resolveBindings({
      jsm,
      logger,
      candidates,
      otherStreams,
      durable: spec.durable,
      filterSubject: spec.filterSubject,
      label,
      tag,
    });
  }

  async #apply(found: Binding[], initial: boolean): Promise<void> {
    for (const binding of found) {
      const active = this.#bindings.find((b) => b.stream === binding.stream);
      if (!active) await this.#bind(binding, initial);
      else if (active.role !== binding.role) this.#setRole(active, binding.role);
    }
    for (const active of this.#bindings) {
      if (!active.released && !found.some((b) => b.stream === active.stream)) await this.#release(active);
    }
    this.#bindings = this.#bindings.filter((b) => !b.released);
  }

  async #bind(binding: Binding, initial: boolean): Promise<void> {
    const { js, label, tag, logger } = this.#o;
    const consumer = await js.consumers.get(binding.stream, binding.durable);
    // One batch more than can be in flight, so the next one is already here when one is done.
    const messages = await consumer.consume({ max_messages: Math.max(8, this.#batchSize * (this.#concurrency + 1)) });
    const progress: BindingProgress = {
      stream: binding.stream,
      durable: binding.durable,
      role: binding.role,
      pending: binding.pending,
      ackPending: null,
      lastAckAt: null,
      error: null,
    };
    const active: ActiveBinding = { ...binding, messages, progress, released: false, loop: Promise.resolve() };
    active.loop = this.#run(active);
    this.#bindings.push(active);
    this.#metrics.bound.set({ durable: binding.durable, stream: binding.stream, role: binding.role }, 1);
    this.#zeroCounters(binding);
    const suffix = binding.role === "drain_only" ? ` (drain-only on ${binding.stream})` : "";
    logger.info(
      `[${tag}] ${label} durable pull consumer bound: ${binding.durable}, subject: ${binding.filterSubject}${suffix}`,
    );
    if (!initial) {
      const why =
        binding.role === "primary"
          ? `it owns ${binding.filterSubject} now`
          : "it lost the subject but still holds messages";
      logger.warn(
        `[${tag}] ${label} consumer ${binding.durable} followed a subject handoff: ` +
          `bound on ${binding.stream} (${binding.role}), because ${why}`,
      );
    }
  }

  /** A series born at 1 is invisible to rate()/increase(): the first DLQ of a process would never alert. */
  #zeroCounters(binding: Binding): void {
    for (const reason of Object.values(DlqReasons)) this.#metrics.dlq.inc({ consumer: binding.durable, reason }, 0);
    this.#o.latency?.zero({ stream: binding.stream, durable: binding.durable });
    // Results are labelled with the message's subject, known in advance only for a literal filter.
    if (/[*>]/.test(binding.filterSubject)) return;
    for (const result of RESULTS)
      this.#o.results.inc(
        { result, subject: binding.filterSubject, stream: binding.stream, durable: binding.durable },
        0,
      );
  }

  #setRole(active: ActiveBinding, role: Binding["role"]): void {
    this.#metrics.bound.remove({ durable: active.durable, stream: active.stream, role: active.role });
    this.#metrics.bound.set({ durable: active.durable, stream: active.stream, role }, 1);
    this.#o.logger.warn(
      `[${this.#o.tag}] ${this.#o.label} consumer ${active.durable} on ${active.stream} is now ` +
        (role === "primary"
          ? "primary (the stream owns its subject again)"
          : "drain-only (the stream no longer owns its subject)"),
    );
    active.role = role;
    active.progress.role = role;
  }

  async #release(active: ActiveBinding): Promise<void> {
    active.released = true;
    await this.#close(active);
    this.#metrics.bound.remove({ durable: active.durable, stream: active.stream, role: active.role });
    // A stale pending count would keep "processing stopped" firing for a stream no longer consumed.
    for (const gauge of [this.#metrics.pending, this.#metrics.ackPending, this.#metrics.lastAck])
      gauge.remove({ durable: active.durable, stream: active.stream });
    this.#o.logger.info(
      `[${this.#o.tag}] ${this.#o.label} consumer ${active.durable} on ${active.stream} ` +
        `drained (or gone); binding released`,
    );
  }

  async #close(active: ActiveBinding): Promise<void> {
    active.released = true;
    await active.messages.close();
    await active.loop.catch(() => undefined);
  }

  /**
   * Reads deliveries into a queue and processes whatever has queued up, up to
   * `batchSize` at a time: one message when traffic is light (low latency), full batches
   * under load or while draining a backlog (one transaction per batch).
   */
  async #run(binding: ActiveBinding): Promise<void> {
    void this.#watchStatus(binding);
    const queue: JsMsg[] = [];
    let wake: (() => void) | undefined;
    let readerError: unknown;
    let ended = false;
    const reader = (async () => {
      try {
        for await (const msg of binding.messages) {
          queue.push(msg);
          wake?.();
        }
      } catch (error) {
        readerError = error;
      } finally {
        ended = true;
        wake?.();
      }
    })();
    // Up to `concurrency` batches in flight; the row guard keeps the newest reading whatever the order.
    const running = new Set<Promise<void>>();
    while (!ended || queue.length > 0 || running.size > 0) {
      if (queue.length === 0 || running.size >= this.#concurrency) {
        const idle = new Promise<void>((resolve) => (wake = resolve));
        await Promise.race([idle, ...running]);
        wake = undefined;
        continue;
      }
      const work = this.#process(binding, queue.splice(0, this.#batchSize)).finally(() => running.delete(work));
      running.add(work);
    }
    await reader;
    if (binding.released) return;
    this.#failed?.(
      readerError instanceof Error
        ? readerError
        : new Error(`consume loop for ${binding.durable} on ${binding.stream} ended unexpectedly`),
    );
  }

  async #process(binding: ActiveBinding, batch: JsMsg[]): Promise<void> {
    if (binding.released) {
      for (const msg of batch) msg.nak();
      return;
    }
    let acked: number;
    try {
      acked = await this.#router.routeBatch(binding, batch);
    } catch (error) {
      // Routing handles failures itself; anything left is a bug: keep the messages for redelivery.
      this.#o.logger.error(
        { err: error, durable: binding.durable },
        `[${this.#o.tag}] ${this.#o.label} batch failed unexpectedly; naking ${batch.length} message(s)`,
      );
      for (const msg of batch) msg.nak(1_000);
      return;
    }
    if (acked > 0) {
      binding.progress.lastAckAt = new Date().toISOString();
      this.#metrics.lastAck.set({ durable: binding.durable, stream: binding.stream }, Date.now() / 1000);
    }
  }

  async #watchStatus(binding: ActiveBinding): Promise<void> {
    const noisy = new Set(["heartbeats_missed", "consumer_not_found", "consumer_deleted", "stream_not_found"]);
    for await (const status of binding.messages.status()) {
      if (noisy.has(status.type)) {
        this.#o.logger.warn(
          { durable: binding.durable, stream: binding.stream, status: status.type },
          `[${this.#o.tag}] ${this.#o.label} consumer status: ${status.type}`,
        );
      }
    }
  }

  /** Follows subject handoffs and refreshes pending counts; logs only what changed. */
  async #reconcile(): Promise<void> {
    if (this.#stopping || this.#reconciling) return;
    this.#reconciling = true;
    try {
      await this.#apply(await this.#resolve(this.#silent), false);
    } catch (error) {
      this.#o.logger.warn(
        { err: error },
        `[${this.#o.tag}] ${this.#o.label} binding check failed; keeping current bindings`,
      );
    } finally {
      this.#reconciling = false;
    }
    await this.#refreshProgress();
  }

  async #refreshProgress(): Promise<void> {
    for (const binding of this.#bindings) {
      try {
        const info = await this.#o.jsm.consumers.info(binding.stream, binding.durable);
        binding.progress.pending = info.num_pending;
        binding.progress.ackPending = info.num_ack_pending;
        binding.progress.error = null;
        this.#metrics.pending.set({ durable: binding.durable, stream: binding.stream }, info.num_pending);
        this.#metrics.ackPending.set({ durable: binding.durable, stream: binding.stream }, info.num_ack_pending);
      } catch (error) {
        binding.progress.error = isNotFound(error)
          ? `durable ${binding.durable} no longer exists on ${binding.stream}`
          : (error as Error).message;
      }
    }
  }

  /** Creates the durable on the first candidate stream that owns its subject; logs drift, never overwrites. */
  async #ensureDurable(): Promise<void> {
    const { jsm, spec, logger, tag, label } = this.#o;
    for (const stream of this.#o.candidates) {
      const info = await ifExists(jsm.streams.info(stream));
      if (!info || coveringPattern(info.config.subjects ?? [], spec.filterSubject) === undefined) continue;
      const existing = await ifExists(jsm.consumers.info(stream, spec.durable));
      const current: CurrentTopology = {
        streams: [info.config],
        consumers: new Map([[stream, existing ? [existing.config] : []]]),
      };
      const change = diffConsumer(spec, stream, current);
      if (change.kind === "create") {
        await jsm.consumers.add(stream, change.config);
        logger.info(
          `[${tag}] Created ${label} consumer ${spec.durable} on ${stream} (FEATURE_SERVICE_MANAGES_CONSUMERS=true)`,
        );
      } else if (change.kind !== "none") {
        logger.warn(
          { drift: change.fields },
          `[${tag}] ${label} consumer ${spec.durable} on ${stream} differs from the spec; left as ops configured it`,
        );
      }
      return;
    }
  }
}
