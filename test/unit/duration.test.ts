import assert from "node:assert/strict";
import { test } from "node:test";
import { durationMs, WHOLE_SECONDS } from "../../tools/ops/src/duration.js";

test("a number and a unit letter is milliseconds", () => {
  assert.equal(durationMs("30s"), 30_000);
  assert.equal(durationMs("5m"), 300_000);
  assert.equal(durationMs("48h"), 172_800_000);
  assert.equal(durationMs("90d"), 7_776_000_000);
  assert.equal(durationMs(" 2h "), 7_200_000, "surrounding spaces are ignored");
});

test("anything else is undefined, so the caller words its own usage error", () => {
  for (const raw of ["", "0s", "05m", "-5m", "1.5h", "5", "5 m", "5M", "5ms", "m", "h5", "2w"]) {
    assert.equal(durationMs(raw), undefined, JSON.stringify(raw));
  }
});

test("units narrow or widen what an option accepts", () => {
  assert.equal(durationMs("2w", { units: ["s", "m", "h", "d", "w"] }), 1_209_600_000);
  assert.equal(durationMs("2d", { units: ["h"] }), undefined);
  assert.equal(durationMs("3h", { units: ["h"] }), 10_800_000);
});

test("whole seconds take a bare number and no unit", () => {
  assert.equal(durationMs("90", WHOLE_SECONDS), 90_000);
  assert.equal(durationMs("1", WHOLE_SECONDS), 1_000);
  for (const raw of ["90s", "0", "1.5", "-3", "", "5m"]) assert.equal(durationMs(raw, WHOLE_SECONDS), undefined, raw);
});
