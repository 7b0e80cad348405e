import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import {
  EventSources,
  validateHrvRawReceived,
  validateSleepRawReceived,
  type OuraWebhookReceived,
} from "@aa/contracts";
import type { OuraSleepDocument } from "@aa/oura";
import { isMappedSleep, ouraEventId, ouraSleepEvents } from "../../services/normalize/src/oura/mapping.js";

const doc = (over: Partial<OuraSleepDocument> = {}): OuraSleepDocument => ({
  id: "doc-1",
  day: "2026-01-02",
  bedtime_start: "2026-01-01T23:10:00+01:00",
  bedtime_end: "2026-01-02T07:00:00+01:00",
  type: "long_sleep",
  total_sleep_duration: 27_000,
  average_hrv: 48,
  score: 81,
  ...over,
});

const notification = (over: Partial<OuraWebhookReceived> = {}): OuraWebhookReceived => ({
  notificationId: "n-1",
  eventType: "update",
  dataType: "sleep",
  objectId: "doc-1",
  eventTime: "2026-01-02T09:30:00+02:00",
  ouraUserId: "oura-user-1",
  receivedAt: "2026-01-02T07:30:05.000Z",
  ...over,
});

const eventsOf = (over: Partial<OuraSleepDocument> = {}) => ouraSleepEvents(doc(over), "athlete-1", notification());

test("only the main sleep is mapped: long_sleep or no type; naps, rests and deleted documents give nothing", () => {
  assert.equal(isMappedSleep(doc({ type: "long_sleep" })), true);
  assert.equal(isMappedSleep(doc({ type: undefined })), true);
  assert.ok(eventsOf({ type: undefined }).sleep);
  for (const type of ["sleep", "late_nap", "rest", "deleted"]) {
    assert.equal(isMappedSleep(doc({ type })), false, type);
    assert.deepEqual(eventsOf({ type }), {}, type);
  }
});

test("an event id is oura:<kind>:<object>:<version>, a short plain object id kept as it is", () => {
  assert.equal(
    ouraEventId("sleep", "doc-1.a_B", "2026-01-02T07:30:00.000Z"),
    "oura:sleep:doc-1.a_B:2026-01-02T07:30:00.000Z",
  );
  assert.equal(ouraEventId("hrv", "x".repeat(64), "v"), `oura:hrv:${"x".repeat(64)}:v`);
});

test("an object id that is long or holds other characters becomes the first 40 hex of its SHA-256", () => {
  const digest = (id: string) => createHash("sha256").update(id, "utf8").digest("hex").slice(0, 40);
  const long = "x".repeat(65);
  assert.equal(ouraEventId("sleep", long, "v"), `oura:sleep:${digest(long)}:v`);
  for (const id of ["doc:1", "doc/1", "doc 1", "dóc"])
    assert.equal(ouraEventId("sleep", id, "v"), `oura:sleep:${digest(id)}:v`, id);
});

test("the version and capturedAt are the notification's event_time in UTC, so a later version sorts after", () => {
  const { sleep, hrv } = eventsOf();
  assert.equal(sleep?.capturedAt, "2026-01-02T07:30:00.000Z");
  assert.equal(sleep?.eventId, "oura:sleep:doc-1:2026-01-02T07:30:00.000Z");
  assert.equal(hrv?.eventId, "oura:hrv:doc-1:2026-01-02T07:30:00.000Z");
  const later = ouraSleepEvents(doc(), "athlete-1", notification({ eventTime: "2026-01-02T07:31:00Z" }));
  assert.ok((later.sleep?.eventId ?? "") > (sleep?.eventId ?? ""));
});

test("the same document and notification map to the same events: a redelivery is stored once", () => {
  assert.deepEqual(eventsOf(), eventsOf());
});

test("sleep: total_sleep_duration seconds become minutes, score becomes qualityScore when it is a number", () => {
  const { sleep } = eventsOf({ total_sleep_duration: 27_030 });
  assert.equal(sleep?.durationMinutes, 450.5);
  assert.equal(sleep?.qualityScore, 81);
  const unscored = eventsOf({ score: null }).sleep;
  assert.ok(unscored);
  assert.equal("qualityScore" in unscored, false);
  assert.equal("qualityScore" in (eventsOf({ score: undefined }).sleep ?? {}), false);
});

test("no sleep event without a total_sleep_duration; the HRV event still comes", () => {
  for (const total_sleep_duration of [null, undefined]) {
    const events = eventsOf({ total_sleep_duration });
    assert.equal(events.sleep, undefined);
    assert.equal(events.hrv?.rmssd, 48);
  }
});

test("hrv: a positive average_hrv becomes rmssd; zero, null or absent gives no HRV event", () => {
  assert.equal(eventsOf({ average_hrv: 61.5 }).hrv?.rmssd, 61.5);
  for (const average_hrv of [0, -3, null, undefined]) {
    const events = eventsOf({ average_hrv });
    assert.equal(events.hrv, undefined, String(average_hrv));
    assert.ok(events.sleep);
  }
});

test("both events carry our user, Oura's day, the receive time and the vendor:oura source", () => {
  const { sleep, hrv } = eventsOf();
  for (const event of [sleep, hrv]) {
    assert.equal(event?.userId, "athlete-1");
    assert.equal(event?.date, "2026-01-02");
    assert.equal(event?.receivedAt, "2026-01-02T07:30:05.000Z");
    assert.equal(event?.source, EventSources.oura);
  }
});

test("raw holds where the reading came from, not the whole document", () => {
  const { sleep } = ouraSleepEvents(
    { ...doc({ type: undefined }), heart_rate: { items: [50, 52] } } as OuraSleepDocument,
    "athlete-1",
    notification(),
  );
  assert.deepEqual(sleep?.raw, {
    vendor: "oura",
    data_type: "sleep",
    document_id: "doc-1",
    type: null,
    bedtime_start: "2026-01-01T23:10:00+01:00",
    bedtime_end: "2026-01-02T07:00:00+01:00",
    event_time: "2026-01-02T09:30:00+02:00",
    notification_id: "n-1",
  });
});

test("the events are valid raw-received events of their kind", () => {
  const { sleep, hrv } = eventsOf();
  const now = new Date("2026-01-02T08:00:00Z");
  assert.deepEqual(validateSleepRawReceived(sleep, now), { ok: true, value: sleep });
  assert.deepEqual(validateHrvRawReceived(hrv, now), { ok: true, value: hrv });
});
