// What ingest decides about a reading request, as plain values: which event id, which batch items, what to publish
// and which HTTP answer a publish outcome gets. Routes turn a request into these inputs and send the answer back.
// Neither Fastify nor NATS is imported here (the publish request is only a type).

import { randomUUID } from "node:crypto";
import {
  EventId,
  compileValidator,
  readingKey,
  type FieldError,
  type ReadingKind,
  type Validation,
} from "@aa/contracts";
import type { PublishRequest } from "@aa/event-bus";

/** Seconds a client should wait before retrying when JetStream could not take the event. */
export const RETRY_AFTER_SECONDS = 5;

/** Most readings in one batch request. */
export const MAX_BATCH_ITEMS = 1_000;

/** One kind of reading accepted over HTTP and published as `<kind>.raw-received`. */
export interface ReadingRoute<R extends { eventId?: string }> {
  /**
   * The reading's kind: part of its identity, and the path segment `POST /ingest/<kind>` (and `/api/v1/ingest/<kind>`).
   */
  kind: ReadingKind;
  /** In log lines: `HRV`, `Sleep`. */
  label: string;
  /** In the 400 body: `Invalid <noun>`. */
  noun: string;
  subject: string;
  validateReading: (value: unknown, now: Date) => Validation<R>;
  /** Checks the event before it is published. */
  validateEvent: (value: unknown) => Validation<unknown>;
}

/** An HTTP answer: status, body, and the Retry-After seconds when the client should come back. */
export interface HttpAnswer {
  status: number;
  body: unknown;
  retryAfterSeconds?: number;
}

/** How a publish ended: JetStream stored it (perhaps as a duplicate of an earlier one), or did not take it. */
export type PublishOutcome = { accepted: true; duplicate: boolean } | { accepted: false };

/** A request's reading, valid and with its event id, or the 400 to answer instead. */
export type ReadingDecision<R> = { ok: true; reading: R; eventId: string } | { ok: false; answer: HttpAnswer };

const validateEventId = compileValidator(EventId);

type EventIdChoice = { ok: true; eventId: string } | { ok: false; message: string };

/** The event id: the body's `eventId`, else the `Idempotency-Key` header, else a new UUID. */
export function chooseEventId(bodyEventId: string | undefined, header: string | string[] | undefined): EventIdChoice {
  const key = Array.isArray(header) ? header[0] : header;
  if (key === undefined) return { ok: true, eventId: bodyEventId ?? randomUUID() };
  if (!validateEventId(key).ok)
    return {
      ok: false,
      message: `Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(key)}`,
    };
  if (bodyEventId !== undefined && bodyEventId !== key)
    return {
      ok: false,
      message: `Idempotency-Key ${JSON.stringify(key)} differs from body eventId ${JSON.stringify(bodyEventId)}`,
    };
  return { ok: true, eventId: key };
}

/** A single reading request: the body validated first, then the event id chosen. */
export function acceptReading<R extends { eventId?: string }>(
  route: ReadingRoute<R>,
  body: unknown,
  idempotencyKey: string | string[] | undefined,
  now: Date,
): ReadingDecision<R> {
  const reading = route.validateReading(body, now);
  if (!reading.ok)
    return { ok: false, answer: { status: 400, body: { error: `Invalid ${route.noun}`, details: reading.errors } } };
  const id = chooseEventId(reading.value.eventId, idempotencyKey);
  if (!id.ok) {
    const details = [{ field: "Idempotency-Key", message: id.message }];
    return { ok: false, answer: { status: 400, body: { error: "Invalid idempotency key", details } } };
  }
  return { ok: true, reading: reading.value, eventId: id.eventId };
}

/**
 * The publish of one accepted reading from `source` (the principal's, decided at authentication). Its `Nats-Msg-Id`
 * is the reading's key (kind, source, user, eventId), so a retry is a duplicate while the same eventId from another
 * tenant, user or kind is another reading; the client keeps seeing its own `eventId`.
 */
export function readingPublish<R extends { userId: string }>(
  route: ReadingRoute<R & { eventId?: string }>,
  reading: R,
  eventId: string,
  source: string,
  receivedAt: string,
): PublishRequest<unknown> {
  const event = { ...reading, eventId, receivedAt, source };
  return {
    subject: route.subject,
    msgId: readingKey({ kind: route.kind, source, userId: reading.userId, eventId }),
    event,
    validate: route.validateEvent,
  };
}

/** A single reading's answer: 202 once JetStream has it, 503 + Retry-After when it did not take it. */
export function readingAnswer(eventId: string, receivedAt: string, outcome: PublishOutcome): HttpAnswer {
  if (!outcome.accepted)
    return {
      status: 503,
      retryAfterSeconds: RETRY_AFTER_SECONDS,
      body: {
        error: "Event bus unavailable: the event was not accepted. Retry with the same eventId or Idempotency-Key.",
        eventId,
      },
    };
  const body = {
    status: "received",
    eventId,
    timestamp: receivedAt,
    ...(outcome.duplicate ? { duplicate: true } : {}),
  };
  return { status: 202, body };
}

/** The body must be `{"items": [reading, ...]}` with 1 to 1,000 readings; else what is wrong with it. */
export function batchItemsOf(body: unknown): { ok: true; items: unknown[] } | { ok: false; message: string } {
  const items = (body as { items?: unknown } | null)?.items;
  if (body === null || typeof body !== "object" || Array.isArray(body) || !Array.isArray(items))
    return { ok: false, message: 'must be an object {"items": [reading, ...]}' };
  if (Object.keys(body).length !== 1) return { ok: false, message: 'must have only the field "items"' };
  if (items.length === 0 || items.length > MAX_BATCH_ITEMS)
    return { ok: false, message: `items must hold 1 to ${MAX_BATCH_ITEMS} readings, got ${items.length}` };
  return { ok: true, items };
}

/** The 400 of a batch body that is not `{"items": [...]}` of the right size. */
export function invalidBatchAnswer(route: Pick<ReadingRoute<never>, "noun">, message: string): HttpAnswer {
  return { status: 400, body: { error: `Invalid ${route.noun} batch`, details: [{ field: "(body)", message }] } };
}

/** One item of a batch answer, by its index in `items`. */
export type ItemResult =
  | { index: number; status: "received"; eventId: string; duplicate?: true }
  | { index: number; status: "rejected"; errors: FieldError[] }
  | { index: number; status: "unavailable"; eventId: string };

/** A batch item: valid, with its own eventId or a new UUID (a batch has no Idempotency-Key), or its rejection. */
export function acceptBatchItem<R extends { eventId?: string }>(
  route: ReadingRoute<R>,
  item: unknown,
  index: number,
  now: Date,
): { ok: true; reading: R; eventId: string } | { ok: false; result: ItemResult } {
  const reading = route.validateReading(item, now);
  if (!reading.ok) return { ok: false, result: { index, status: "rejected", errors: reading.errors } };
  return { ok: true, reading: reading.value, eventId: reading.value.eventId ?? randomUUID() };
}

/** A published batch item's result; `duplicate` only appears when true. */
export function itemResult(index: number, eventId: string, outcome: PublishOutcome): ItemResult {
  if (!outcome.accepted) return { index, status: "unavailable", eventId };
  return outcome.duplicate
    ? { index, status: "received", eventId, duplicate: true }
    : { index, status: "received", eventId };
}

/**
 * A batch's answer: 202 all received, 207 some rejected, 503 + Retry-After when JetStream did not take some (the
 * client retries those with the same eventIds), with the counts and every item's result.
 */
export function batchAnswer(results: readonly ItemResult[], receivedAt: string): HttpAnswer {
  const count = (s: ItemResult["status"]) => results.filter((r) => r.status === s).length;
  const body = {
    received: count("received"),
    rejected: count("rejected"),
    unavailable: count("unavailable"),
    timestamp: receivedAt,
    results,
  };
  if (count("unavailable") > 0) return { status: 503, retryAfterSeconds: RETRY_AFTER_SECONDS, body };
  return { status: count("rejected") > 0 ? 207 : 202, body };
}
