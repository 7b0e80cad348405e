import {
  EventSources,
  readingKey,
  Subjects,
  validateHrvRawReceived,
  validateOuraWebhookReceived,
  validateSleepRawReceived,
  type OuraWebhookReceived,
  type ReadingKind,
} from "@aa/contracts";
import {
  DlqReasons,
  NonRetryableError,
  PublishError,
  RetryAfterError,
  TransientError,
  type DurableConsumer,
  type EventPublisher,
  type MessageHandler,
} from "@aa/event-bus";
import { DEFAULT_RETRY_AFTER_MS, getSleepDocument, OuraApiError, type OuraSleepDocument } from "@aa/oura";
import { Counter, type Registry } from "prom-client";
import type { OuraAccount, OuraAccountStore } from "./accounts.js";
import { ouraSleepEvents, type OuraSleepEvents } from "./mapping.js";
import type { OuraSettings } from "./settings.js";
import type { OuraTokenSource } from "./tokens.js";
import { decodeJson, normalizeConsumer, type ConsumerDeps } from "../reading-flow.js";

/** What the Oura handler needs besides the event bus. */
export interface OuraDeps {
  store: OuraAccountStore;
  tokens: OuraTokenSource;
  settings: Pick<OuraSettings, "http">;
}

/** Data types whose documents we fetch; other notifications are acknowledged as `ignored`. */
const HANDLED_DATA_TYPES: ReadonlySet<string> = new Set(["sleep"]);
/** Event types that can bring new data; `delete` is acknowledged as `ignored` (stored rows are kept). */
const HANDLED_EVENT_TYPES: ReadonlySet<string> = new Set(["create", "update"]);

/** An Oura API failure as the router understands it: retry, retry after a delay, or dead-letter with a reason. */
export function toRoutingError(error: unknown): unknown {
  if (!(error instanceof OuraApiError)) return error;
  const options = { cause: error };
  switch (error.failure) {
    case "unavailable":
      return new TransientError(error.message, options);
    case "rate_limited":
      return new RetryAfterError(error.message, error.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS, options);
    case "not_found":
      return new NonRetryableError(error.message, { ...options, reason: DlqReasons.notFound });
    case "unauthorized":
      return new NonRetryableError(error.message, { ...options, reason: DlqReasons.notLinked });
    default:
      return new NonRetryableError(error.message, options);
  }
}

async function linkedAccount(store: OuraAccountStore, ouraUserId: string): Promise<OuraAccount> {
  const account = await store.findByOuraUser(ouraUserId);
  if (!account)
    throw new NonRetryableError(`no Athlete Ally user has linked Oura user ${ouraUserId}`, {
      reason: DlqReasons.notLinked,
    });
  return account;
}

async function fetchSleep(deps: OuraDeps, account: OuraAccount, documentId: string): Promise<OuraSleepDocument> {
  try {
    return await deps.tokens.call(account, (token) => getSleepDocument(deps.settings.http, token, documentId));
  } catch (error) {
    throw toRoutingError(error);
  }
}

const msgIdOf = (kind: ReadingKind, event: { userId: string; eventId: string; source?: string }): string =>
  readingKey({ kind, source: event.source ?? EventSources.oura, userId: event.userId, eventId: event.eventId });

/** Publishes the sleep and HRV events on the core subjects (PubAck awaited); an unacknowledged publish is retried. */
async function publishEvents(publisher: EventPublisher, events: OuraSleepEvents): Promise<void> {
  const sends = [
    events.sleep && {
      subject: Subjects.sleepRawReceived.subject,
      msgId: msgIdOf("sleep", events.sleep),
      event: events.sleep,
      validate: validateSleepRawReceived,
    },
    events.hrv && {
      subject: Subjects.hrvRawReceived.subject,
      msgId: msgIdOf("hrv", events.hrv),
      event: events.hrv,
      validate: validateHrvRawReceived,
    },
  ];
  for (const send of sends) {
    if (!send) continue;
    await publisher.publish<unknown>(send).catch((error: unknown) => {
      throw error instanceof PublishError
        ? new TransientError(`${send.subject} was not acknowledged`, { cause: error })
        : error;
    });
  }
}

/**
 * `vendor.oura.webhook.received` → fetch the document from Oura with the user's token →
 * `athlete-ally.sleep.raw-received` and `athlete-ally.hrv.raw-received`, which the Sleep and
 * HRV durables store. Notifications for other data types, deletions and naps are `ignored`.
 */
export function ouraHandler(deps: OuraDeps, publisher: EventPublisher): MessageHandler<OuraWebhookReceived> {
  return {
    decode: decodeJson(validateOuraWebhookReceived),
    async handle(notification) {
      if (!HANDLED_DATA_TYPES.has(notification.dataType) || !HANDLED_EVENT_TYPES.has(notification.eventType))
        return "ignored";
      const account = await linkedAccount(deps.store, notification.ouraUserId);
      const document = await fetchSleep(deps, account, notification.objectId);
      const events = ouraSleepEvents(document, account.userId, notification);
      if (!events.sleep && !events.hrv) return "ignored";
      await publishEvents(publisher, events);
    },
  };
}

/** `normalize_oura_messages_total{result,subject,stream,durable}`. */
function ouraMessages(registry: Registry) {
  return new Counter({
    name: "normalize_oura_messages_total",
    help:
      "Oura webhook notifications handled, by result (success, ignored, schema_invalid, retry, dlq), " +
      "subject, stream and durable",
    labelNames: ["result", "subject", "stream", "durable"] as const,
    registers: [registry],
  });
}

/** The `normalize-oura` durable on the vendor stream (multi) or the legacy stream (single). */
export function ouraConsumer(deps: ConsumerDeps, oura: OuraDeps): DurableConsumer<OuraWebhookReceived> {
  const handler = ouraHandler(oura, deps.publisher);
  // One vendor HTTP call per message and a 15 s ack wait: keep only a few buffered.
  return normalizeConsumer(
    {
      label: "Oura",
      subject: Subjects.ouraWebhookReceived.subject,
      handler,
      results: ouraMessages(deps.registry),
      batchSize: 4,
    },
    deps,
  );
}
