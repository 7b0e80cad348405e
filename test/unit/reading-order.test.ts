import assert from "node:assert/strict";
import { test } from "node:test";
import { replaces, type RankedReading } from "../../services/normalize/src/reading-order.js";

const reading = (over: Partial<RankedReading>): RankedReading => ({
  eventId: "e-1",
  source: "tenant:a",
  capturedAt: "2026-01-01T08:00:00.000Z",
  receivedAt: "2026-01-01T08:00:01.000Z",
  ...over,
});

test("within one source the newer capturedAt wins, whatever the receive order", () => {
  const held = reading({ capturedAt: "2026-01-01T09:00:00.000Z" });
  const olderReceivedLater = reading({ eventId: "e-2", receivedAt: "2026-01-01T10:00:00.000Z" });
  assert.equal(replaces(olderReceivedLater, held), false);
  assert.equal(replaces(held, olderReceivedLater), true);
});

test("across sources the later-received reading wins, even with an older capturedAt", () => {
  const held = reading({ capturedAt: "2026-01-01T08:04:00.000Z" });
  const other = reading({ source: "vendor:oura", eventId: "o-1", capturedAt: "2026-01-01T05:00:00.000Z" });
  assert.equal(replaces({ ...other, receivedAt: "2026-01-01T08:00:02.000Z" }, held), true);
  assert.equal(replaces({ ...other, receivedAt: "2026-01-01T08:00:00.000Z" }, held), false);
});

test("the same reading again never replaces itself, and ties across sources have one winner", () => {
  const held = reading({});
  assert.equal(replaces({ ...held }, held), false);
  const twin = reading({ source: "tenant:b" });
  assert.notEqual(replaces(twin, held), replaces(held, twin));
});
