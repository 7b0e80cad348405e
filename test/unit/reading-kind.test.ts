import assert from "node:assert/strict";
import { test } from "node:test";
import { Type } from "@sinclair/typebox";
import {
  readingKind,
  ReadingKinds,
  Subjects,
  topicOf,
  type HrvRawReceived,
  type NormalizedStoredOf,
  type RawReceivedOf,
} from "@aa/contracts";

// The contract every kind gets from `readingKind`: shown on a kind that does not exist, then on the real ones.
const steps = readingKind("steps", { values: { count: Type.Integer({ minimum: 0 }) } });
const NOW = new Date("2026-12-05T10:00:00.000Z");
const base = { userId: "u1", date: "2026-12-05", count: 8000 };
const envelope = { ...base, eventId: "e-1", receivedAt: "2026-12-05T09:00:00Z" };

const fieldsOf = (result: { ok: boolean; errors?: { field: string }[] }) => (result.errors ?? []).map((e) => e.field);

test("a new kind gets its subjects and metric topics from its name", () => {
  assert.deepEqual(steps.subjects, {
    rawReceived: { subject: "athlete-ally.steps.raw-received", topic: "steps_raw_received" },
    normalizedStored: { subject: "athlete-ally.steps.normalized-stored", topic: "steps_normalized_stored" },
  });
});

test("a client's reading: its values plus userId, date and optional capturedAt, eventId and raw; nothing else", () => {
  assert.equal(steps.validateReading(base, NOW).ok, true);
  const full = { ...base, capturedAt: "2026-12-05T07:00:00Z", eventId: "c-1", raw: { device: "watch" } };
  assert.equal(steps.validateReading(full, NOW).ok, true);
  assert.deepEqual(fieldsOf(steps.validateReading({ date: "2026-12-05" }, NOW)), ["userId", "count"]);
  assert.deepEqual(fieldsOf(steps.validateReading({ ...base, count: -1 }, NOW)), ["count"]);
});

test("a client cannot set what ingest adds: source and receivedAt are unknown fields of a reading", () => {
  const result = steps.validateReading({ ...base, source: "vendor:oura", receivedAt: NOW.toISOString() }, NOW);
  assert.deepEqual(fieldsOf(result), ["source", "receivedAt"]);
});

test("the raw-received envelope requires eventId and receivedAt; source is optional (events from before it)", () => {
  assert.equal(steps.validateRawReceived(envelope, NOW).ok, true);
  assert.equal(steps.validateRawReceived({ ...envelope, source: "tenant:acme" }, NOW).ok, true);
  assert.deepEqual(fieldsOf(steps.validateRawReceived(base, NOW)), ["eventId", "receivedAt"]);
  assert.deepEqual(fieldsOf(steps.validateRawReceived({ ...envelope, extra: 1 }, NOW)), ["extra"]);
});

test("the envelope's fields come in one order for every kind: head, values, then ingest's tail", () => {
  assert.deepEqual(Object.keys(steps.rawReceivedSchema.properties), [
    "userId",
    "date",
    "count",
    "capturedAt",
    "eventId",
    "raw",
    "receivedAt",
    "source",
  ]);
  assert.deepEqual(Object.keys(ReadingKinds.sleep.rawReceivedSchema.properties), [
    "userId",
    "date",
    "durationMinutes",
    "qualityScore",
    "capturedAt",
    "eventId",
    "raw",
    "receivedAt",
    "source",
  ]);
});

test("the announcement: eventId, userId, date, the stored values (derived ones too), capturedAt and storedAt", () => {
  const stored = { eventId: "e-1", userId: "u1", date: "2026-12-05", capturedAt: NOW.toISOString() };
  const hrv = { ...stored, rmssd: 55, lnRmssd: Math.log(55), storedAt: NOW.toISOString() };
  assert.equal(ReadingKinds.hrv.validateNormalizedStored(hrv).ok, true);
  const { lnRmssd: _derived, ...withoutDerived } = hrv;
  assert.deepEqual(fieldsOf(ReadingKinds.hrv.validateNormalizedStored(withoutDerived)), ["lnRmssd"]);
  assert.equal(steps.validateNormalizedStored({ ...stored, count: 8000, storedAt: NOW.toISOString() }).ok, true);
});

test("a kind's name is lower-case letters and digits: it becomes a subject token, a label and a key", () => {
  for (const bad of ["Steps", "blood-pressure", "a.b", "", "1x"]) {
    assert.throws(() => readingKind(bad, { values: {} }), /lower-case letters and digits/, bad);
  }
});

test("the subject catalogue holds every kind's two subjects, under the names other packages use", () => {
  for (const { kind, subjects } of Object.values(ReadingKinds)) {
    assert.equal(Subjects[`${kind}RawReceived`], subjects.rawReceived);
    assert.equal(Subjects[`${kind}NormalizedStored`], subjects.normalizedStored);
    assert.equal(topicOf(subjects.rawReceived.subject), `${kind}_raw_received`);
  }
  assert.equal(Subjects.hrvRawReceived.subject, "athlete-ally.hrv.raw-received");
  assert.equal(Subjects.sleepNormalizedStored.topic, "sleep_normalized_stored");
});

test("types follow the schema: the envelope's eventId is required, a stored value's type is the schema's", () => {
  const event: RawReceivedOf<typeof steps> = envelope;
  // @ts-expect-error eventId is required in the raw-received envelope
  const withoutId: HrvRawReceived = { userId: "u1", date: "2026-12-05", rmssd: 55, receivedAt: "2026-12-05T09:00:00Z" };
  // @ts-expect-error count is a number
  const wrongType: Partial<NormalizedStoredOf<typeof steps>> = { count: "8000" };
  assert.ok(event && withoutId && wrongType);
});
