import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { dlqSubjectPrefix, Subjects, validateHrvNormalizedStored, validateHrvRawReceived, type HrvNormalizedStored, type HrvRawReceived, type Validation } from "@aa/contracts";
import { DurableConsumer, TransientError, type EventBusSettings, type EventPublisher, type MessageHandler } from "@aa/event-bus";
import type { Logger } from "@aa/service-kit";
import { consumerSpecs, otherModeStreams, streamCandidates } from "@aa/event-bus";
import type pg from "pg";
import type { Registry } from "prom-client";
import { normalizeHrv } from "./hrv.js";
import { writeHrv } from "./hrv-store.js";
import { hrvMetrics } from "./metrics.js";

export const HRV_DLQ_PREFIX = dlqSubjectPrefix("normalize", Subjects.hrvRawReceived.subject);

function decodeJson<T>(validate: (value: unknown) => Validation<T>) {
  return (data: Uint8Array): Validation<T> => {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(data));
    } catch (error) {
      return { ok: false, errors: [{ field: "(body)", message: `is not valid JSON: ${(error as Error).message}` }] };
    }
    return validate(value);
  };
}

/** Stores a reading, then announces it; a failed announcement is retried (the write is idempotent). */
export function hrvHandler(pool: pg.Pool, publisher: EventPublisher): MessageHandler<HrvRawReceived> {
  return {
    decode: decodeJson((value) => validateHrvRawReceived(value)),
    async handle(event) {
      const row = normalizeHrv(event);
      if ((await writeHrv(pool, row)) === "stale") return;
      const stored: HrvNormalizedStored = { eventId: row.eventId, userId: row.userId, date: row.date, rmssd: row.rmssd, lnRmssd: row.lnRmssd, capturedAt: row.capturedAt, storedAt: new Date().toISOString() };
      try {
        await publisher.publish({ subject: Subjects.hrvNormalizedStored.subject, msgId: `${row.eventId}:normalized-stored`, event: stored, validate: validateHrvNormalizedStored });
      } catch (error) {
        throw new TransientError(`stored, but ${Subjects.hrvNormalizedStored.subject} was not acknowledged`, { cause: error });
      }
    },
  };
}

export interface HrvConsumerDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  pool: pg.Pool;
  publisher: EventPublisher;
  logger: Logger;
  registry: Registry;
  settings: EventBusSettings;
  manageConsumer: boolean;
  retryBudgetMs: number;
}

export function hrvConsumer(deps: HrvConsumerDeps): DurableConsumer<HrvRawReceived> {
  const spec = consumerSpecs(deps.settings.names).find((c) => c.filterSubject === Subjects.hrvRawReceived.subject);
  if (!spec) throw new Error("topology has no HRV durable");
  const metrics = hrvMetrics(deps.registry);
  deps.logger.info(`[normalize-hrv] DLQ subject prefix: ${HRV_DLQ_PREFIX}`);
  return new DurableConsumer({
    js: deps.js,
    jsm: deps.jsm,
    logger: deps.logger,
    registry: deps.registry,
    spec,
    candidates: streamCandidates(deps.settings.mode, deps.settings.names),
    otherStreams: otherModeStreams(deps.settings.mode, deps.settings.names),
    label: "HRV",
    tag: "normalize",
    service: "normalize-service",
    dlqPrefix: HRV_DLQ_PREFIX,
    handler: hrvHandler(deps.pool, deps.publisher),
    results: metrics.messages,
    latency: metrics.latency,
    retryBudgetMs: deps.retryBudgetMs,
    manageConsumer: deps.manageConsumer,
  });
}
