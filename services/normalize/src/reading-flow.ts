import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { dlqSubjectPrefix, readingKey, type ReadingKind, type Validation } from "@aa/contracts";
import {
  BatchPublisher,
  consumerSpecs,
  DurableConsumer,
  otherModeStreams,
  streamCandidates,
  TransientError,
  type EventBusSettings,
  type EventPublisher,
  type MessageHandler,
  type PublishRequest,
} from "@aa/event-bus";
import type { Logger, NatsLink } from "@aa/service-kit";
import type pg from "pg";
import type { Counter, Histogram, Registry } from "prom-client";
import { readingMetrics } from "./metrics.js";
import { identityOf, type ReadingKey, type WriteOutcome } from "./store.js";

/**
 * What one kind of reading brings (`readingFlow` builds it from the kind's declaration in `reading-kinds.ts`);
 * decoding, storing-then-announcing, routing and consumer wiring are shared, so every kind has the same guarantees.
 */
export interface ReadingFlow<E, R extends ReadingKey, S> {
  /** Part of each reading's identity (with source, user and eventId): `readingKey`. */
  kind: ReadingKind;
  /**
   * `HRV`, `Sleep`: the runbook's log lines. Lower-cased it names the metrics (`normalize_hrv_…`) and the
   * `[normalize-hrv]` prefix.
   */
  label: string;
  /** `athlete-ally.<kind>.raw-received`: the durable's filter subject. */
  rawSubject: string;
  /** `athlete-ally.<kind>.normalized-stored`: announced after the row is committed. */
  storedSubject: string;
  validateRaw: (value: unknown) => Validation<E>;
  /** Pure: the row to store. */
  toRow: (event: E) => R;
  /** Guarded, idempotent write; committed when it resolves. */
  write: (pool: pg.Pool, row: R) => Promise<WriteOutcome>;
  /** The same guard for many rows in one statement (one transaction); outcome per reading (`identityOf`). */
  writeBatch: (pool: pg.Pool, rows: readonly R[]) => Promise<Map<string, WriteOutcome>>;
  toStored: (row: R, storedAt: string) => S;
  validateStored: (value: unknown) => Validation<unknown>;
}

const utf8 = new TextDecoder();

/**
 * Parses JSON bytes and validates them; bad JSON is a field error of `(body)`, so it is dead-lettered like a schema
 * error.
 */
export function decodeJson<T>(validate: (value: unknown) => Validation<T>) {
  return (data: Uint8Array): Validation<T> => {
    let value: unknown;
    try {
      value = JSON.parse(utf8.decode(data));
    } catch (error) {
      return { ok: false, errors: [{ field: "(body)", message: `is not valid JSON: ${(error as Error).message}` }] };
    }
    return validate(value);
  };
}

/** The `normalized-stored` announcement of a committed row, with its deterministic msg id. */
function storedAnnouncement<E, R extends ReadingKey, S>(flow: ReadingFlow<E, R, S>, row: R): PublishRequest<S> {
  const key = readingKey({ kind: flow.kind, source: row.source, userId: row.userId, eventId: row.eventId });
  return {
    subject: flow.storedSubject,
    msgId: `${key}:normalized-stored`,
    event: flow.toStored(row, new Date().toISOString()),
    validate: flow.validateStored,
  };
}

const notAcknowledged = (flow: { storedSubject: string }, cause: unknown): TransientError =>
  new TransientError(`stored, but ${flow.storedSubject} was not acknowledged`, { cause });

/** Announces a committed row; a failed announcement is retried through redelivery (the write is idempotent). */
async function announceStored<E, R extends ReadingKey, S>(
  publisher: EventPublisher,
  flow: ReadingFlow<E, R, S>,
  row: R,
): Promise<void> {
  try {
    await publisher.publish(storedAnnouncement(flow, row));
  } catch (error) {
    throw notAcknowledged(flow, error);
  }
}

/** Where the announcements go: one at a time (`publisher`), and a batch's at once (`batch`). */
export interface Announcer {
  publisher: EventPublisher;
  batch: BatchPublisher;
}

/**
 * Announces a batch's committed rows (undefined: nothing to announce); resolves once each has its
 * PubAck or its error, so no message is acked before its announcement is stored.
 */
async function announceBatch<E, R extends ReadingKey, S>(
  batch: BatchPublisher,
  flow: ReadingFlow<E, R, S>,
  rows: readonly (R | undefined)[],
): Promise<(void | Error)[]> {
  const announced = rows.filter((row): row is R => row !== undefined);
  const receipts = await batch.publishAll(announced.map((row) => storedAnnouncement(flow, row)));
  let next = 0;
  return rows.map((row) => {
    if (!row) return undefined;
    const receipt = receipts[next++];
    return receipt instanceof Error ? notAcknowledged(flow, receipt) : undefined;
  });
}

/**
 * Stores a reading, then announces it; a stale replay changes nothing and announces nothing.
 * Without an announcer (ANNOUNCE_STORED=false) the row is stored and not announced.
 */
export function readingHandler<E, R extends ReadingKey, S>(
  flow: ReadingFlow<E, R, S>,
  pool: pg.Pool,
  announcer: Announcer | undefined,
  beforeWrite?: () => void,
): MessageHandler<E> {
  return {
    decode: decodeJson((value) => flow.validateRaw(value)),
    async handle(event) {
      const row = flow.toRow(event);
      beforeWrite?.(); // test-only crash point: the write (its own transaction) not yet sent
      if ((await flow.write(pool, row)) === "stale" || !announcer) return;
      await announceStored(announcer.publisher, flow, row);
    },
    // One transaction for the batch, then the announcements pipelined; a failed announcement
    // fails only its own message (redelivered; the write is idempotent).
    async handleBatch(events) {
      const rows = events.map((event) => flow.toRow(event));
      beforeWrite?.();
      const outcomes = await flow.writeBatch(pool, rows);
      if (!announcer) return rows.map(() => undefined);
      return announceBatch(
        announcer.batch,
        flow,
        rows.map((row) => (outcomes.get(identityOf(row)) === "stale" ? undefined : row)),
      );
    },
  };
}

export interface ConsumerDeps {
  /** The connection under `js` and `publisher`: a batch's announcements get their PubAcks on one inbox of it. */
  nc: NatsLink["nc"];
  /** NATS_INBOX_PREFIX of that connection (undefined: `_INBOX`). */
  inboxPrefix: string | undefined;
  js: JetStreamClient;
  jsm: JetStreamManager;
  pool: pg.Pool;
  publisher: EventPublisher;
  logger: Logger;
  registry: Registry;
  settings: EventBusSettings;
  manageConsumer: boolean;
  retryBudgetMs: number;
  /** Messages per batch (one transaction) for the reading consumers: CONSUMER_BATCH_SIZE. */
  batchSize: number;
  /** Test-only crash point (`normalize:after-commit-before-ack`), from AA_CRASH_POINT. */
  onBeforeAck?: () => void;
  /** Test-only crash point (`normalize:before-commit`): called before a reading write is sent. */
  beforeWrite?: () => void;
  /** Batches in flight per binding: CONSUMER_CONCURRENCY. */
  concurrency: number;
  /** ANNOUNCE_STORED: publish `<kind>.normalized-stored` after each committed row. */
  announceStored: boolean;
}

/** One normalize durable: the topology's consumer on `subject`, with its handler and metrics. */
export interface DurableSetup<T> {
  /** `HRV`, `Sleep`, `Oura`: log lines; lower-cased, the `[normalize-<kind>]` prefix. */
  label: string;
  /** The durable's filter subject; it also decides the candidate streams (core or vendor). */
  subject: string;
  handler: MessageHandler<T>;
  results: Counter<"result" | "subject" | "stream" | "durable">;
  latency?: Histogram<"stream" | "durable">;
  /** Most messages handled at once; defaults to the deps' batch size. */
  batchSize?: number;
}

/** Binds the topology's durable on `setup.subject`, dead-lettering under `dlq.normalize.<subject>`. */
export function normalizeConsumer<T>(setup: DurableSetup<T>, deps: ConsumerDeps): DurableConsumer<T> {
  const spec = consumerSpecs(deps.settings.names).find((c) => c.filterSubject === setup.subject);
  if (!spec) throw new Error(`topology has no ${setup.label} durable`);
  const dlqPrefix = dlqSubjectPrefix("normalize", setup.subject);
  deps.logger.info(`[normalize-${setup.label.toLowerCase()}] DLQ subject prefix: ${dlqPrefix}`);
  return new DurableConsumer({
    js: deps.js,
    jsm: deps.jsm,
    logger: deps.logger,
    registry: deps.registry,
    spec,
    candidates: streamCandidates(deps.settings.mode, deps.settings.names, setup.subject),
    otherStreams: otherModeStreams(deps.settings.mode, deps.settings.names),
    label: setup.label,
    tag: "normalize",
    service: "normalize-service",
    dlqPrefix,
    handler: setup.handler,
    results: setup.results,
    latency: setup.latency,
    retryBudgetMs: deps.retryBudgetMs,
    manageConsumer: deps.manageConsumer,
    batchSize: setup.batchSize ?? deps.batchSize,
    onBeforeAck: deps.onBeforeAck,
    concurrency: setup.batchSize === undefined ? deps.concurrency : 1,
  });
}

/** The deps' publisher, and a batch publisher on its connection (one per consumer: its own reply inbox). */
function announcer(deps: ConsumerDeps): Announcer {
  const { nc, inboxPrefix, publisher, registry } = deps;
  return { publisher, batch: new BatchPublisher({ nc, inboxPrefix, publisher, registry }) };
}

/** The flow's durable (the topology's consumer on its raw subject), with its metrics and DLQ prefix. */
export function readingConsumer<E, R extends ReadingKey, S>(
  flow: ReadingFlow<E, R, S>,
  deps: ConsumerDeps,
): DurableConsumer<E> {
  const metrics = readingMetrics(deps.registry, flow.label.toLowerCase(), flow.label);
  const handler = readingHandler(flow, deps.pool, deps.announceStored ? announcer(deps) : undefined, deps.beforeWrite);
  return normalizeConsumer(
    { label: flow.label, subject: flow.rawSubject, handler, results: metrics.messages, latency: metrics.latency },
    deps,
  );
}

interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Starts every consumer, also after one failed to bind, so the error names each missing
 * durable. If any failed, stops the others and throws: normalize never runs with a
 * durable silently left unconsumed.
 */
export async function startConsumers(consumers: readonly Startable[]): Promise<void> {
  const failures: unknown[] = [];
  for (const consumer of consumers) {
    await consumer.start().catch((error: unknown) => failures.push(error));
  }
  if (failures.length === 0) return;
  await Promise.all(consumers.map((c) => c.stop()));
  throw failures.length === 1 ? failures[0] : new AggregateError(failures, failures.map(messageOf).join("\n"));
}
