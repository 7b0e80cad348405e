import assert from "node:assert/strict";
import { test } from "node:test";
import { readingKey } from "@aa/contracts";
import {
  acceptBatchItem,
  acceptReading,
  batchAnswer,
  batchItemsOf,
  chooseEventId,
  invalidBatchAnswer,
  itemResult,
  MAX_BATCH_ITEMS,
  readingAnswer,
  readingPublish,
  RETRY_AFTER_SECONDS,
  type ItemResult,
} from "../../services/ingest/src/readings/core.js";
import { READING_ROUTES } from "../../services/ingest/src/readings/kinds.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const NOW = new Date("2026-03-10T08:00:00.000Z");
const RECEIVED_AT = "2026-03-10T08:00:01.000Z";
const hrv = READING_ROUTES.find((r) => r.kind === "hrv")!;
type Reading = { userId: string; eventId?: string };
/** An HRV reading, typed as the routes see every kind: a user id and perhaps an eventId, the rest the kind's own. */
const reading = (extra: Record<string, unknown> = {}): Reading => {
  const value = { userId: "u1", date: "2026-03-09", rmssd: 42, ...extra };
  return value;
};

test("the event id is the body's eventId, else the Idempotency-Key, else a new UUID", () => {
  assert.deepEqual(chooseEventId("body-id", undefined), { ok: true, eventId: "body-id" });
  assert.deepEqual(chooseEventId(undefined, "key-1"), { ok: true, eventId: "key-1" });
  assert.deepEqual(chooseEventId("same", "same"), { ok: true, eventId: "same" });
  assert.deepEqual(chooseEventId(undefined, ["first", "second"]), { ok: true, eventId: "first" });
  const fresh = chooseEventId(undefined, undefined);
  assert.ok(fresh.ok);
  assert.match(fresh.eventId, UUID);
  const again = chooseEventId(undefined, undefined);
  assert.ok(again.ok);
  assert.notEqual(again.eventId, fresh.eventId);
});

test("an Idempotency-Key of bad characters, or one that differs from the body's eventId, is refused naming both", () => {
  const bad = chooseEventId(undefined, "has space");
  assert.deepEqual(bad, {
    ok: false,
    message: 'Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -, got "has space"',
  });
  assert.equal(chooseEventId(undefined, "k".repeat(129)).ok, false);
  assert.deepEqual(chooseEventId("body-id", "key-1"), {
    ok: false,
    message: 'Idempotency-Key "key-1" differs from body eventId "body-id"',
  });
});

test("a single reading: an invalid body is a 400 naming the kind, checked before the Idempotency-Key", () => {
  const invalid = acceptReading(hrv, reading({ rmssd: -1 }), "has space", NOW);
  assert.ok(!invalid.ok);
  assert.equal(invalid.answer.status, 400);
  assert.equal((invalid.answer.body as { error: string }).error, "Invalid HRV reading");
  assert.equal(invalid.answer.retryAfterSeconds, undefined);

  const badKey = acceptReading(hrv, reading(), "has space", NOW);
  assert.ok(!badKey.ok);
  assert.deepEqual(badKey.answer, {
    status: 400,
    body: {
      error: "Invalid idempotency key",
      details: [
        {
          field: "Idempotency-Key",
          message: 'Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -, got "has space"',
        },
      ],
    },
  });

  const accepted = acceptReading(hrv, reading(), "key-1", NOW);
  assert.deepEqual(accepted, { ok: true, reading: reading(), eventId: "key-1" });
});

test("the publish carries the source, eventId and receivedAt, keyed by kind, source, user and eventId", () => {
  const publish = readingPublish(hrv, reading(), "e1", "key:abc", RECEIVED_AT);
  assert.equal(publish.subject, hrv.subject);
  assert.deepEqual(publish.event, { ...reading(), eventId: "e1", receivedAt: RECEIVED_AT, source: "key:abc" });
  assert.equal(publish.msgId, readingKey({ kind: "hrv", source: "key:abc", userId: "u1", eventId: "e1" }));
  assert.notEqual(readingPublish(hrv, reading(), "e1", "key:other", RECEIVED_AT).msgId, publish.msgId);
  assert.equal(publish.validate?.(publish.event).ok, true, "the event is a valid hrv.raw-received");
});

test("a single reading's answer: 202 received (duplicate only when true), 503 with Retry-After when not taken", () => {
  assert.deepEqual(readingAnswer("e1", RECEIVED_AT, { accepted: true, duplicate: false }), {
    status: 202,
    body: { status: "received", eventId: "e1", timestamp: RECEIVED_AT },
  });
  assert.deepEqual(readingAnswer("e1", RECEIVED_AT, { accepted: true, duplicate: true }), {
    status: 202,
    body: { status: "received", eventId: "e1", timestamp: RECEIVED_AT, duplicate: true },
  });
  assert.deepEqual(readingAnswer("e1", RECEIVED_AT, { accepted: false }), {
    status: 503,
    retryAfterSeconds: RETRY_AFTER_SECONDS,
    body: {
      error: "Event bus unavailable: the event was not accepted. Retry with the same eventId or Idempotency-Key.",
      eventId: "e1",
    },
  });
  assert.equal(RETRY_AFTER_SECONDS, 5);
});

test("a batch body is exactly {items: [...]} with 1 to 1,000 readings", () => {
  const wrongShape = 'must be an object {"items": [reading, ...]}';
  for (const body of [null, "x", [reading()], {}, { items: "x" }])
    assert.deepEqual(batchItemsOf(body), { ok: false, message: wrongShape }, JSON.stringify(body));
  assert.deepEqual(batchItemsOf({ items: [reading()], extra: 1 }), {
    ok: false,
    message: 'must have only the field "items"',
  });
  assert.deepEqual(batchItemsOf({ items: [] }), { ok: false, message: "items must hold 1 to 1000 readings, got 0" });
  const tooMany = Array.from({ length: MAX_BATCH_ITEMS + 1 }, () => reading());
  assert.deepEqual(batchItemsOf({ items: tooMany }), {
    ok: false,
    message: "items must hold 1 to 1000 readings, got 1001",
  });
  assert.deepEqual(batchItemsOf({ items: tooMany.slice(1) }), { ok: true, items: tooMany.slice(1) });
  assert.deepEqual(invalidBatchAnswer(hrv, "why"), {
    status: 400,
    body: { error: "Invalid HRV reading batch", details: [{ field: "(body)", message: "why" }] },
  });
});

test("a batch item keeps its own eventId, gets a new UUID without one (no Idempotency-Key), or is rejected", () => {
  assert.deepEqual(acceptBatchItem(hrv, reading({ eventId: "own" }), 0, NOW), {
    ok: true,
    reading: reading({ eventId: "own" }),
    eventId: "own",
  });
  const fresh = acceptBatchItem(hrv, reading(), 1, NOW);
  assert.ok(fresh.ok);
  assert.match(fresh.eventId, UUID);
  const rejected = acceptBatchItem(hrv, reading({ rmssd: 0 }), 2, NOW);
  assert.ok(!rejected.ok);
  assert.equal(rejected.result.index, 2);
  assert.equal(rejected.result.status, "rejected");
  assert.deepEqual(itemResult(3, "e3", { accepted: true, duplicate: false }), {
    index: 3,
    status: "received",
    eventId: "e3",
  });
  assert.deepEqual(itemResult(4, "e4", { accepted: true, duplicate: true }), {
    index: 4,
    status: "received",
    eventId: "e4",
    duplicate: true,
  });
  assert.deepEqual(itemResult(5, "e5", { accepted: false }), { index: 5, status: "unavailable", eventId: "e5" });
});

test("a batch's status: 202 all received, 207 some rejected, 503 + Retry-After when any was not taken", () => {
  const received: ItemResult = { index: 0, status: "received", eventId: "a" };
  const rejected: ItemResult = { index: 1, status: "rejected", errors: [{ field: "rmssd", message: "bad" }] };
  const unavailable: ItemResult = { index: 2, status: "unavailable", eventId: "c" };
  const all = batchAnswer([received], RECEIVED_AT);
  assert.deepEqual(all, {
    status: 202,
    body: { received: 1, rejected: 0, unavailable: 0, timestamp: RECEIVED_AT, results: [received] },
  });
  assert.equal(batchAnswer([received, rejected], RECEIVED_AT).status, 207);
  assert.equal(batchAnswer([rejected], RECEIVED_AT).status, 207);
  const down = batchAnswer([received, rejected, unavailable], RECEIVED_AT);
  assert.equal(down.status, 503);
  assert.equal(down.retryAfterSeconds, RETRY_AFTER_SECONDS);
  assert.deepEqual(down.body, {
    received: 1,
    rejected: 1,
    unavailable: 1,
    timestamp: RECEIVED_AT,
    results: [received, rejected, unavailable],
  });
  assert.equal(batchAnswer([received, rejected], RECEIVED_AT).retryAfterSeconds, undefined);
});

test("every reading kind has its own path segment and raw-received subject", () => {
  assert.deepEqual(
    READING_ROUTES.map((r) => [r.kind, r.label, r.noun]),
    [
      ["hrv", "HRV", "HRV reading"],
      ["sleep", "Sleep", "sleep reading"],
    ],
  );
  assert.equal(new Set(READING_ROUTES.map((r) => r.subject)).size, READING_ROUTES.length);
});
