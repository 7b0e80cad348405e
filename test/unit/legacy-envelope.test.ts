import assert from "node:assert/strict";
import { test } from "node:test";
import {
  HrvRawReceivedSchema,
  SleepRawReceivedSchema,
  validateHrvRawReceived,
  validateSleepRawReceived,
} from "@aa/contracts";
import { legacyMsgId, toLegacyEnvelope } from "../../tools/ops/src/migration/legacy-envelope.js";

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const decode = (data: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(data));
/** The 1.0 envelope: today's raw-received fields without `source`, nothing else allowed. */
function assertLegacy(value: unknown, properties: Record<string, unknown>, valid: (v: unknown) => { ok: boolean }) {
  const allowed = Object.keys(properties).filter((k) => k !== "source");
  assert.deepEqual(
    Object.keys(value as object).filter((k) => !allowed.includes(k)),
    [],
    "only 1.0 fields",
  );
  assert.equal(valid(value).ok, true);
}
const receivedAt = "2026-12-01T06:00:00Z";
const hrv = { userId: "u1", date: "2026-12-01", rmssd: 52, eventId: "e-1", receivedAt, source: "tenant:acme" };
const sleep = {
  userId: "u1",
  date: "2026-12-01",
  durationMinutes: 430,
  eventId: "s-1",
  receivedAt,
  source: "vendor:oura",
};

test("an HRV reading loses source and nothing else: eventId stays, the rest is byte-for-byte the same", () => {
  const copy = toLegacyEnvelope("athlete-ally.hrv.raw-received", encode(hrv));
  assert.equal(copy.downConverted, true);
  const { source: _source, ...legacy } = hrv;
  assert.deepEqual(decode(copy.data), legacy);
  assertLegacy(decode(copy.data), HrvRawReceivedSchema.properties, validateHrvRawReceived);
});

test("a sleep reading (an Oura-derived one too) loses source", () => {
  const copy = toLegacyEnvelope("athlete-ally.sleep.raw-received", encode(sleep));
  assert.equal(copy.downConverted, true);
  assert.equal("source" in (decode(copy.data) as object), false);
  assertLegacy(decode(copy.data), SleepRawReceivedSchema.properties, validateSleepRawReceived);
});

test("a reading of the previous ingest (no source) and other subjects go unchanged", () => {
  const { source: _source, ...old } = hrv;
  const data = encode(old);
  assert.deepEqual(toLegacyEnvelope("athlete-ally.hrv.raw-received", data), { data, downConverted: false });
  const oura = encode({ notificationId: "n-1", source: "kept: not a reading" });
  assert.deepEqual(toLegacyEnvelope("vendor.oura.webhook.received", oura), { data: oura, downConverted: false });
});

test("a payload that is not a JSON object goes unchanged (1.0 judges it as the new normalize would)", () => {
  for (const raw of ["not json", "[1,2]", "null", '"text"']) {
    const data = new TextEncoder().encode(raw);
    assert.deepEqual(toLegacyEnvelope("athlete-ally.hrv.raw-received", data), { data, downConverted: false });
  }
});

test("the copy keeps the original msg id; a message without one gets an id stable across re-runs", () => {
  assert.equal(legacyMsgId("hrv:abc", "AA_CORE_HOT", 7), "hrv:abc");
  assert.equal(legacyMsgId(undefined, "AA_CORE_HOT", 7), "aa-ops-forward:AA_CORE_HOT:7");
  assert.equal(legacyMsgId("  ", "AA_CORE_HOT", 7), "aa-ops-forward:AA_CORE_HOT:7");
});
