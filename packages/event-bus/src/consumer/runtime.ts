import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { Validation } from "@aa/contracts";
import type { Logger } from "pino";
import type { Counter, Histogram, Registry } from "prom-client";
import { NonRetryableError, TransientError } from "../errors.js";
import { DlqReasons, publishToDlq } from "../dlq.js";
import { consumerMetrics, type ConsumerMetrics } from "../metrics.js";
import { diffConsumer, type CurrentTopology } from "../topology/diff.js";
import { isNotFound } from "../topology/apply.js";
import type { ConsumerSpec } from "../topology/spec.js";
import { coveringPattern } from "../subjects.js";
import { resolveBindings, type Binding } from "./binding.js";
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

export interface DurableConsumerOptions<T> {
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
  registry: Registry;
  /** The durable as the topology defines it. */
  spec: ConsumerSpec;
  candidates: readonly string[];
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
  /** How often pending counts are refreshed, in ms (default 5 000). */
  progressIntervalMs?: number;
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
  messages?: ConsumerMessages;
  loop?: Promise<void>;
  progress: BindingProgress;
}

const DEFAULT_RETRY_BUDGET_MS = 600_000;

/**
 * One durable pull consumer: binds per the runbook, then processes messages one at a
 * time per binding with `consume()` (heartbeats and pull refill by the client). Routing:
 * schema-invalid to the DLQ at once; non-retryable to the DLQ; anything else is nak'd
 * with a growing delay until the last delivery, then dead-lettered. A message is only
 * terminated after its DLQ copy is acknowledged.
 */
export class DurableConsumer<T> {
  readonly #o: DurableConsumerOptions<T>;
  readonly #metrics: ConsumerMetrics;
  #bindings: ActiveBinding[] = [];
  #stopping = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: DurableConsumerOptions<T>) {
    this.#o = options;
    this.#metrics = consumerMetrics(options.registry);
  }

  /** Binds and starts consuming; throws ConsumerBindingError when no candidate has the durable. */
  async start(): Promise<void> {
    const { spec, label, tag, logger } = this.#o;
    if (this.#o.manageConsumer) await this.#ensureDurable();
    const bindings = await resolveBindings({ jsm: this.#o.jsm, logger, candidates: this.#o.candidates, durable: spec.durable, filterSubject: spec.filterSubject, label, tag });
    for (const binding of bindings) {
      const active: ActiveBinding = { ...binding, progress: { stream: binding.stream, durable: binding.durable, role: binding.role, pending: null, ackPending: null, lastAckAt: null, error: null } };
      this.#bindings.push(active);
      this.#metrics.bound.set({ durable: binding.durable, stream: binding.stream, role: binding.role }, 1);
      const consumer = await this.#o.js.consumers.get(binding.stream, binding.durable);
      active.messages = await consumer.consume({ max_messages: 64 });
      active.loop = this.#run(active);
      logger.info(`[${tag}] ${label} durable pull consumer bound: ${binding.durable}, subject: ${binding.filterSubject}` + (binding.role === "drain_only" ? ` (drain-only on ${binding.stream})` : ""));
    }
    await this.#refreshProgress();
    this.#timer = setInterval(() => void this.#refreshProgress(), this.#o.progressIntervalMs ?? 5_000);
    this.#timer.unref();
  }

  /** Stops pulling, finishes the message in hand, returns the buffered ones for redelivery. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    await Promise.all(this.#bindings.map(async (b) => {
      await b.messages?.close();
      await b.loop;
    }));
  }

  progress(): BindingProgress[] {
    return this.#bindings.map((b) => ({ ...b.progress }));
  }

  /** A consume loop that ended although nobody asked it to (its promise rejects). */
  get done(): Promise<void[]> {
    return Promise.all(this.#bindings.map((b) => b.loop ?? Promise.resolve()));
  }

  async #run(binding: ActiveBinding): Promise<void> {
    const messages = binding.messages;
    if (!messages) return;
    void this.#watchStatus(binding, messages);
    for await (const msg of messages) {
      if (this.#stopping) {
        msg.nak();
        continue;
      }
      await this.#process(binding, msg);
    }
    if (!this.#stopping) throw new Error(`consume loop for ${binding.durable} on ${binding.stream} ended unexpectedly`);
  }

  async #watchStatus(binding: ActiveBinding, messages: ConsumerMessages): Promise<void> {
    for await (const status of messages.status()) {
      if (status.type === "heartbeats_missed" || status.type === "consumer_not_found" || status.type === "consumer_deleted" || status.type === "stream_not_found") {
        this.#o.logger.warn({ durable: binding.durable, stream: binding.stream, status: status.type }, `[${this.#o.tag}] ${this.#o.label} consumer status: ${status.type}`);
      }
    }
  }

  async #process(binding: ActiveBinding, msg: JsMsg): Promise<void> {
    const decoded = this.#o.handler.decode(msg.data);
    if (!decoded.ok) {
      const text = decoded.errors.map((e) => `${e.field} ${e.message}`).join("; ");
      await this.#deadLetter(binding, msg, DlqReasons.schemaInvalid, text, "schema_invalid");
      return;
    }
    try {
      await this.#o.handler.handle(decoded.value, { stream: msg.info.stream, streamSequence: msg.info.streamSequence, deliveryCount: msg.info.deliveryCount, subject: msg.subject });
    } catch (error) {
      await this.#onFailure(binding, msg, error);
      return;
    }
    msg.ack();
    this.#o.latency?.observe({ stream: binding.stream, durable: binding.durable }, Math.max(0, Date.now() - msg.info.timestampNanos / 1e6) / 1000);
    this.#count(binding, msg, "success");
    binding.progress.lastAckAt = new Date().toISOString();
    this.#metrics.lastAck.set({ durable: binding.durable, stream: binding.stream }, Date.now() / 1000);
  }

  async #onFailure(binding: ActiveBinding, msg: JsMsg, error: unknown): Promise<void> {
    const text = error instanceof Error ? error.message : String(error);
    if (error instanceof NonRetryableError) {
      await this.#deadLetter(binding, msg, error.reason, text, error.reason === DlqReasons.schemaInvalid ? "schema_invalid" : "dlq");
      return;
    }
    const { deliveryCount } = msg.info;
    if (binding.maxDeliver > 0 && deliveryCount >= binding.maxDeliver) {
      await this.#deadLetter(binding, msg, DlqReasons.maxDeliver, text, "dlq");
      return;
    }
    const delayMs = retryDelayMs(deliveryCount, binding.maxDeliver, this.#o.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS);
    const level = error instanceof TransientError ? "warn" : "error";
    this.#o.logger[level]({ durable: binding.durable, seq: msg.info.streamSequence, deliveryCount, delayMs, err: error }, `[${this.#o.tag}-${this.#o.label.toLowerCase()}] processing failed; redelivery in ${delayMs} ms`);
    msg.nak(delayMs);
    this.#count(binding, msg, "retry");
  }

  async #deadLetter(binding: ActiveBinding, msg: JsMsg, reason: string, error: string, result: MessageResult): Promise<void> {
    try {
      await publishToDlq(this.#o.js, { msg, prefix: this.#o.dlqPrefix, reason, error, durable: binding.durable, service: this.#o.service });
    } catch (dlqError) {
      // The DLQ did not take it: keep the message, never drop it.
      const delayMs = retryDelayMs(1, 0, 0);
      this.#o.logger.error({ durable: binding.durable, seq: msg.info.streamSequence, reason, err: dlqError }, `[${this.#o.tag}-${this.#o.label.toLowerCase()}] DLQ publish failed; message kept for redelivery`);
      msg.nak(delayMs);
      this.#count(binding, msg, "retry");
      return;
    }
    // No reason text: nats-server 2.9 ignores "+TERM <reason>", leaving the message unacknowledged.
    msg.term();
    this.#metrics.dlq.inc({ consumer: binding.durable, reason });
    this.#count(binding, msg, result);
    this.#o.logger.warn({ durable: binding.durable, seq: msg.info.streamSequence, reason, error }, `[${this.#o.tag}-${this.#o.label.toLowerCase()}] message dead-lettered (${reason})`);
  }

  #count(binding: ActiveBinding, msg: JsMsg, result: MessageResult): void {
    this.#o.results.inc({ result, subject: msg.subject, stream: binding.stream, durable: binding.durable });
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
        binding.progress.error = isNotFound(error) ? `durable ${binding.durable} no longer exists on ${binding.stream}` : (error as Error).message;
      }
    }
  }

  /** Creates the durable on the first candidate stream that owns its subject; logs drift, never overwrites. */
  async #ensureDurable(): Promise<void> {
    const { jsm, spec, logger, tag, label } = this.#o;
    for (const stream of this.#o.candidates) {
      const info = await jsm.streams.info(stream).catch((error: unknown) => (isNotFound(error) ? undefined : Promise.reject(error)));
      if (!info || coveringPattern(info.config.subjects ?? [], spec.filterSubject) === undefined) continue;
      const existing = await jsm.consumers.info(stream, spec.durable).catch((error: unknown) => (isNotFound(error) ? undefined : Promise.reject(error)));
      const current: CurrentTopology = { streams: [info.config], consumers: new Map([[stream, existing ? [existing.config] : []]]) };
      const change = diffConsumer(spec, stream, current);
      if (change.kind === "create") {
        await jsm.consumers.add(stream, change.config);
        logger.info(`[${tag}] Created ${label} consumer ${spec.durable} on ${stream} (FEATURE_SERVICE_MANAGES_CONSUMERS=true)`);
      } else if (change.kind !== "none") {
        logger.warn({ drift: change.fields }, `[${tag}] ${label} consumer ${spec.durable} on ${stream} differs from the spec; left as ops configured it`);
      }
      return;
    }
  }
}
