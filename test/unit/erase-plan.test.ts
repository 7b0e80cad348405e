import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import {
  auditRecord,
  payloadBelongsTo,
  remaining,
  TOMBSTONE_MARGIN_MS,
  tombstoneUntil,
  userSha256,
} from "../../tools/ops/src/erase/plan.js";

const bytes = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
const HOUR_MS = 3_600_000;

test("a payload belongs to the person by our user id, or by the linked Oura user id on Oura's documents", () => {
  const person = { userId: "u-1", ouraUserId: "oura-1" };
  assert.equal(payloadBelongsTo(bytes({ userId: "u-1", rmssd: 50 }), person), true, "a reading or announcement");
  assert.equal(payloadBelongsTo(bytes({ user_id: "oura-1", data_type: "sleep" }), person), true, "an Oura webhook");
  assert.equal(payloadBelongsTo(bytes({ userId: "u-2" }), person), false);
  assert.equal(payloadBelongsTo(bytes({ user_id: "u-1" }), person), false, "user_id is Oura's id, not ours");
  assert.equal(payloadBelongsTo(bytes({ user_id: "oura-1" }), { userId: "u-1" }), false, "no Oura account linked");
  for (const junk of ["not json", "null", "42", '"u-1"', "[]"])
    assert.equal(payloadBelongsTo(bytes(junk), person), false, junk);
});

test("the tombstone outlives the longest retention by the margin; it is the user id's SHA-256 as SQL computes it", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  const until = tombstoneUntil(now, [48 * HOUR_MS, 14 * 24 * HOUR_MS, 24 * HOUR_MS]);
  assert.equal(until.getTime() - now.getTime(), 14 * 24 * HOUR_MS + TOMBSTONE_MARGIN_MS);
  assert.equal(tombstoneUntil(now, []).getTime(), now.getTime() + TOMBSTONE_MARGIN_MS, "no stream: the margin");
  assert.equal(userSha256("ü-1"), createHash("sha256").update(Buffer.from("ü-1", "utf8")).digest("hex"));
});

test("what stays in a stream ages out max_age after its newest message; without an age limit it never does", () => {
  const newest = new Date("2026-01-01T10:00:00Z");
  assert.equal(remaining("AA_CORE_HOT", newest, 48 * HOUR_MS).agesOutAt?.toISOString(), "2026-01-03T10:00:00.000Z");
  assert.equal(remaining("KEEP", newest, 0).agesOutAt, undefined);
});

test("the audit record carries the hash, the counts and the deadlines, never the user id", () => {
  const record = auditRecord({
    at: new Date("2026-01-01T00:00:00Z"),
    userHash: "0123456789abcdef",
    counts: [
      { table: "hrv_data", rows: 2 },
      { table: "sleep_data", rows: 0 },
    ],
    ouraRevoked: null,
    dlqPurged: 1,
    tombstoneUntil: new Date("2026-01-15T01:00:00Z"),
    remaining: [remaining("AA_CORE_HOT", new Date("2026-01-01T00:00:00Z"), 48 * HOUR_MS)],
  });
  assert.deepEqual(record, {
    action: "users.erase",
    at: "2026-01-01T00:00:00.000Z",
    user: "0123456789abcdef",
    rows: { hrv_data: 2, sleep_data: 0 },
    ouraRevoked: null,
    dlqPurged: 1,
    tombstoneUntil: "2026-01-15T01:00:00.000Z",
    remaining: [{ stream: "AA_CORE_HOT", agesOutAt: "2026-01-03T00:00:00.000Z" }],
  });
});
