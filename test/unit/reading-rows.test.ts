import assert from "node:assert/strict";
import { test } from "node:test";
import { EventSources, type HrvRawReceived, type SleepRawReceived } from "@aa/contracts";
import { toRow, toStored } from "../../services/normalize/src/reading-kind.js";
import { hrv, sleep } from "../../services/normalize/src/reading-kinds.js";

const receivedAt = "2026-12-01T06:00:00.000Z";
const hrvEvent = (over: Partial<HrvRawReceived> = {}): HrvRawReceived => ({
  userId: "u1",
  date: "2026-12-01",
  rmssd: 55,
  eventId: "e-1",
  receivedAt,
  source: "tenant:acme",
  ...over,
});
const sleepEvent = (over: Partial<SleepRawReceived> = {}): SleepRawReceived => ({
  userId: "u1",
  date: "2026-12-01",
  durationMinutes: 437.5,
  eventId: "s-1",
  receivedAt,
  source: "tenant:acme",
  ...over,
});

test("HRV: the row keeps rmssd and adds its natural log", () => {
  const row = toRow(hrv, hrvEvent({ rmssd: 55 }));
  assert.equal(row.rmssd, 55);
  assert.equal(row.lnRmssd, Math.log(55));
});

test("HRV: ln(rmssd) is finite at both ends of the schema's range (0, 1000]", () => {
  assert.equal(toRow(hrv, hrvEvent({ rmssd: 0.001 })).lnRmssd, Math.log(0.001));
  assert.equal(toRow(hrv, hrvEvent({ rmssd: 1000 })).lnRmssd, Math.log(1000));
  assert.ok(Number.isFinite(toRow(hrv, hrvEvent({ rmssd: Number.MIN_VALUE })).lnRmssd));
});

test("capturedAt is kept, in UTC: an offset is converted, not dropped", () => {
  const row = toRow(hrv, hrvEvent({ capturedAt: "2026-12-01T08:30:00+02:00" }));
  assert.equal(row.capturedAt, "2026-12-01T06:30:00.000Z");
});

test("without capturedAt the row counts as captured when ingest received it", () => {
  const row = toRow(sleep, sleepEvent({ receivedAt: "2026-12-01T07:15:00Z" }));
  assert.equal(row.capturedAt, "2026-12-01T07:15:00.000Z");
  assert.equal(row.receivedAt, "2026-12-01T07:15:00.000Z");
});

test("the row's date is the reading's date as sent, never shifted by capturedAt's day or time zone", () => {
  const row = toRow(hrv, hrvEvent({ date: "2026-11-30", capturedAt: "2026-12-01T01:00:00+05:00" }));
  assert.equal(row.date, "2026-11-30");
  assert.equal(row.capturedAt, "2026-11-30T20:00:00.000Z");
});

test("identity: eventId and source are kept; an event from before scoped identity (no source) is unscoped", () => {
  assert.deepEqual([toRow(hrv, hrvEvent()).eventId, toRow(hrv, hrvEvent()).source], ["e-1", "tenant:acme"]);
  const { source: _source, ...unscoped } = hrvEvent();
  assert.equal(toRow(hrv, unscoped).source, EventSources.unscoped);
});

test("raw is stored as sent, and null when the reading had none", () => {
  assert.deepEqual(toRow(sleep, sleepEvent({ raw: { device: "ring" } })).raw, { device: "ring" });
  assert.equal(toRow(sleep, sleepEvent()).raw, null);
});

test("the whole HRV row, field by field", () => {
  assert.deepEqual(toRow(hrv, hrvEvent({ capturedAt: "2026-12-01T05:59:00Z" })), {
    userId: "u1",
    date: "2026-12-01",
    rmssd: 55,
    lnRmssd: Math.log(55),
    capturedAt: "2026-12-01T05:59:00.000Z",
    receivedAt,
    eventId: "e-1",
    source: "tenant:acme",
    raw: null,
  });
});

test("sleep: a fractional duration is kept, a missing quality score is null, a score of 0 stays 0", () => {
  const row = toRow(sleep, sleepEvent({ durationMinutes: 437.5 }));
  assert.equal(row.durationMinutes, 437.5);
  assert.equal(row.qualityScore, null);
  assert.equal(toRow(sleep, sleepEvent({ qualityScore: 0 })).qualityScore, 0);
});

test("the HRV announcement carries rmssd and ln(rmssd) and is valid under its contract", () => {
  const row = toRow(hrv, hrvEvent());
  const stored = toStored(hrv, row, "2026-12-01T06:00:01.000Z");
  assert.deepEqual(stored, {
    eventId: "e-1",
    userId: "u1",
    date: "2026-12-01",
    rmssd: 55,
    lnRmssd: Math.log(55),
    capturedAt: receivedAt,
    storedAt: "2026-12-01T06:00:01.000Z",
  });
  assert.equal(hrv.contract.validateNormalizedStored(stored).ok, true);
});

test("the sleep announcement leaves out a missing quality score (absent, not null) and keeps a score of 0", () => {
  const storedAt = "2026-12-01T06:00:01.000Z";
  const without = toStored(sleep, toRow(sleep, sleepEvent()), storedAt);
  assert.equal("qualityScore" in without, false);
  assert.equal(sleep.contract.validateNormalizedStored(without).ok, true);
  const zero = toStored(sleep, toRow(sleep, sleepEvent({ qualityScore: 0 })), storedAt);
  assert.equal(zero.qualityScore, 0);
  assert.equal(sleep.contract.validateNormalizedStored(zero).ok, true);
});

test("each kind maps every value its contract stores to a column, in the table's order", () => {
  for (const kind of [hrv, sleep]) {
    assert.deepEqual(Object.keys(kind.columns), Object.keys(kind.contract.storedValues), kind.label);
  }
  assert.deepEqual(
    Object.values(hrv.columns).map((c) => c.column),
    ["rmssd", "ln_rmssd"],
  );
  assert.deepEqual(
    Object.values(sleep.columns).map((c) => c.column),
    ["duration_minutes", "quality_score"],
  );
});
