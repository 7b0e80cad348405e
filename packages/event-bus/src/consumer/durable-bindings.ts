import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Counter, Histogram } from "prom-client";
import { DlqReasons } from "../dlq.js";
import type { ConsumerMetrics } from "../metrics.js";
import { coveringPattern } from "../subjects.js";
import { applyPlan, ifExists, isNotFound } from "../topology/apply.js";
import { diffConsumer, type CurrentTopology } from "../topology/diff.js";
import type { ConsumerSpec } from "../topology/spec.js";
import { resolveBindings, type Binding } from "./binding.js";
import { ConsumeLoop } from "./consume-loop.js";
import type { MessageResult, MessageRouter } from "./routing.js";

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

export interface DurableBindingsOptions<T> {
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
  spec: ConsumerSpec;
  candidates: readonly string[];
  otherStreams?: readonly string[];
  label: string;
  tag: string;
  metrics: ConsumerMetrics;
  results: Counter<"result" | "subject" | "stream" | "durable">;
  latency?: Histogram<"stream" | "durable">;
  router: MessageRouter<T>;
  batchSize: number;
  concurrency: number;
  /** Called when a consume loop ends although nobody closed it. */
  onLoopFailed: (error: Error) => void;
}

interface Active<T> {
  binding: Binding;
  loop: ConsumeLoop<T>;
  progress: BindingProgress;
}

const RESULTS: readonly MessageResult[] = ["success", "schema_invalid", "retry", "dlq"];

/**
 * The binding lifecycle of one durable: ensure it exists (through the shared applier), verify
 * where it must be consumed, open a consume loop per binding, follow role changes and release
 * drained bindings, and keep each binding's progress and `event_bus_consumer_bound` current.
 */
export class DurableBindings<T> {
  readonly #o: DurableBindingsOptions<T>;
  #active: Active<T>[] = [];

  constructor(options: DurableBindingsOptions<T>) {
    this.#o = options;
  }

  get #prefix(): string {
    return `[${this.#o.tag}] ${this.#o.label}`;
  }

  progress(): BindingProgress[] {
    return this.#active.map((a) => ({ ...a.progress }));
  }

  /**
   * FEATURE_SERVICE_MANAGES_CONSUMERS: creates the durable through `applyPlan` on the first candidate
   * stream that owns its subject; an existing durable keeps what ops configured, its drift is logged.
   */
  async ensureDurable(): Promise<void> {
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
        const [outcome] = await applyPlan(jsm, { streams: [], consumers: [change] });
        if (outcome?.result === "failed") throw outcome.error;
        logger.info(
          `[${tag}] Created ${label} consumer ${spec.durable} on ${stream} (FEATURE_SERVICE_MANAGES_CONSUMERS=true)`,
        );
      } else if (change.kind !== "none") {
        logger.warn(
          { drift: change.fields },
          `${this.#prefix} consumer ${spec.durable} on ${stream} differs from the spec; left as ops configured it`,
        );
      }
      return;
    }
  }

  /** Where the durable must be consumed now (the runbook's lines go to `logger`); throws ConsumerBindingError. */
  resolve(logger: Logger): Promise<Binding[]> {
    const { jsm, spec, candidates, otherStreams, label, tag } = this.#o;
    const { durable, filterSubject } = spec;
    return resolveBindings({ jsm, logger, candidates, otherStreams, durable, filterSubject, label, tag });
  }

  /** Binds what is new, updates changed roles, releases bindings no longer found. */
  async follow(found: Binding[], initial: boolean): Promise<void> {
    for (const binding of found) {
      const active = this.#active.find((a) => a.binding.stream === binding.stream);
      if (!active) await this.#bind(binding, initial);
      else if (active.binding.role !== binding.role) this.#setRole(active, binding.role);
    }
    for (const active of [...this.#active]) {
      if (!found.some((b) => b.stream === active.binding.stream)) await this.#release(active);
    }
  }

  /** Closes every consume loop (the batches in hand finish). */
  async close(): Promise<void> {
    await Promise.all(this.#active.map((a) => a.loop.close()));
  }

  async #bind(binding: Binding, initial: boolean): Promise<void> {
    const { js, label, tag, logger, batchSize, concurrency } = this.#o;
    const consumer = await js.consumers.get(binding.stream, binding.durable);
    // One batch more than can be in flight, so the next one is already here when one is done.
    const messages = await consumer.consume({ max_messages: Math.max(8, batchSize * (concurrency + 1)) });
    const progress: BindingProgress = {
      stream: binding.stream,
      durable: binding.durable,
      role: binding.role,
      pending: binding.pending,
      ackPending: null,
      lastAckAt: null,
      error: null,
    };
    const onAck = (): void => {
      progress.lastAckAt = new Date().toISOString();
      this.#o.metrics.lastAck.set({ durable: binding.durable, stream: binding.stream }, Date.now() / 1000);
    };
    const { router } = this.#o;
    const loop = new ConsumeLoop({
      binding,
      messages,
      router,
      logger,
      prefix: this.#prefix,
      batchSize,
      concurrency,
      onAck,
    });
    loop.done.catch((error: unknown) => this.#o.onLoopFailed(error as Error));
    this.#active.push({ binding, loop, progress });
    this.#o.metrics.bound.set({ durable: binding.durable, stream: binding.stream, role: binding.role }, 1);
    this.#zeroCounters(binding);
    const suffix = binding.role === "drain_only" ? ` (drain-only on ${binding.stream})` : "";
    logger.info(
      `[${tag}] ${label} durable pull consumer bound: ${binding.durable}, subject: ${binding.filterSubject}${suffix}`,
    );
    if (initial) return;
    const why =
      binding.role === "primary"
        ? `it owns ${binding.filterSubject} now`
        : "it lost the subject but still holds messages";
    logger.warn(
      `${this.#prefix} consumer ${binding.durable} followed a subject handoff: ` +
        `bound on ${binding.stream} (${binding.role}), because ${why}`,
    );
  }

  /** A series born at 1 is invisible to rate()/increase(): the first DLQ of a process would never alert. */
  #zeroCounters(binding: Binding): void {
    for (const reason of Object.values(DlqReasons)) this.#o.metrics.dlq.inc({ consumer: binding.durable, reason }, 0);
    this.#o.latency?.zero({ stream: binding.stream, durable: binding.durable });
    // Results are labelled with the message's subject, known in advance only for a literal filter.
    if (/[*>]/.test(binding.filterSubject)) return;
    const { filterSubject: subject, stream, durable } = binding;
    for (const result of RESULTS) this.#o.results.inc({ result, subject, stream, durable }, 0);
  }

  #setRole(active: Active<T>, role: Binding["role"]): void {
    const { durable, stream } = active.binding;
    this.#o.metrics.bound.remove({ durable, stream, role: active.binding.role });
    this.#o.metrics.bound.set({ durable, stream, role }, 1);
    this.#o.logger.warn(
      `${this.#prefix} consumer ${durable} on ${stream} is now ` +
        (role === "primary"
          ? "primary (the stream owns its subject again)"
          : "drain-only (the stream no longer owns its subject)"),
    );
    active.binding.role = role;
    active.progress.role = role;
  }

  async #release(active: Active<T>): Promise<void> {
    this.#active = this.#active.filter((a) => a !== active);
    await active.loop.close();
    const { durable, stream, role } = active.binding;
    this.#o.metrics.bound.remove({ durable, stream, role });
    // A stale pending count would keep "processing stopped" firing for a stream no longer consumed.
    for (const gauge of [this.#o.metrics.pending, this.#o.metrics.ackPending, this.#o.metrics.lastAck])
      gauge.remove({ durable, stream });
    this.#o.logger.info(`${this.#prefix} consumer ${durable} on ${stream} drained (or gone); binding released`);
  }

  /** Reads each binding's pending counts into its progress and the gauges. */
  async refreshProgress(): Promise<void> {
    for (const { binding, progress } of this.#active) {
      const { durable, stream } = binding;
      try {
        const info = await this.#o.jsm.consumers.info(stream, durable);
        progress.pending = info.num_pending;
        progress.ackPending = info.num_ack_pending;
        progress.error = null;
        this.#o.metrics.pending.set({ durable, stream }, info.num_pending);
        this.#o.metrics.ackPending.set({ durable, stream }, info.num_ack_pending);
      } catch (error) {
        progress.error = isNotFound(error)
          ? `durable ${durable} no longer exists on ${stream}`
          : (error as Error).message;
      }
    }
  }
}
