import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Binding } from "./binding.js";
import type { MessageRouter } from "./routing.js";

export interface ConsumeLoopOptions<T> {
  binding: Binding;
  messages: ConsumerMessages;
  router: MessageRouter<T>;
  logger: Logger;
  /** e.g. `[normalize] HRV`, the start of every line this loop logs. */
  prefix: string;
  /** Most messages handled in one batch. */
  batchSize: number;
  /** Batches processed at once. */
  concurrency: number;
  /** Called after a batch acked at least one message. */
  onAck: () => void;
}

const NOISY_STATUS = new Set(["heartbeats_missed", "consumer_not_found", "consumer_deleted", "stream_not_found"]);

/**
 * The consume loop of one binding: reads deliveries into a queue and processes whatever has
 * queued up, up to `batchSize` at a time: one message when traffic is light (low latency), full
 * batches under load or while draining a backlog (one transaction per batch). `done` settles when
 * the deliveries end: resolved after `close()`, rejected when they ended without it.
 */
export class ConsumeLoop<T> {
  readonly #o: ConsumeLoopOptions<T>;
  #closed = false;
  readonly done: Promise<void>;

  constructor(options: ConsumeLoopOptions<T>) {
    this.#o = options;
    this.done = this.#run();
    this.done.catch(() => undefined);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Stops pulling; the batches in hand finish, the queued ones are nak'd for prompt redelivery. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#o.messages.close();
    await this.done.catch(() => undefined);
  }

  async #run(): Promise<void> {
    const { messages, binding, batchSize, concurrency } = this.#o;
    void this.#watchStatus();
    const queue: JsMsg[] = [];
    let wake: (() => void) | undefined;
    let readerError: unknown;
    let ended = false;
    const reader = (async () => {
      try {
        for await (const msg of messages) {
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
      if (queue.length === 0 || running.size >= concurrency) {
        const idle = new Promise<void>((resolve) => (wake = resolve));
        await Promise.race([idle, ...running]);
        wake = undefined;
        continue;
      }
      const work = this.#process(queue.splice(0, batchSize)).finally(() => running.delete(work));
      running.add(work);
    }
    await reader;
    if (this.#closed) return;
    throw readerError instanceof Error
      ? readerError
      : new Error(`consume loop for ${binding.durable} on ${binding.stream} ended unexpectedly`);
  }

  async #process(batch: JsMsg[]): Promise<void> {
    if (this.#closed) {
      for (const msg of batch) msg.nak();
      return;
    }
    let acked: number;
    try {
      acked = await this.#o.router.routeBatch(this.#o.binding, batch);
    } catch (error) {
      // Routing handles failures itself; anything left is a bug: keep the messages for redelivery.
      this.#o.logger.error(
        { err: error, durable: this.#o.binding.durable },
        `${this.#o.prefix} batch failed unexpectedly; naking ${batch.length} message(s)`,
      );
      for (const msg of batch) msg.nak(1_000);
      return;
    }
    if (acked > 0) this.#o.onAck();
  }

  async #watchStatus(): Promise<void> {
    const { binding, logger, prefix } = this.#o;
    for await (const status of this.#o.messages.status()) {
      if (!NOISY_STATUS.has(status.type)) continue;
      logger.warn(
        { durable: binding.durable, stream: binding.stream, status: status.type },
        `${prefix} consumer status: ${status.type}`,
      );
    }
  }
}
