import assert from "node:assert/strict";
import { test } from "node:test";
import { coveringPattern, patternCovers, patternsOverlap } from "@aa/event-bus";

// [a, b, overlap]: some concrete subject matches both (JetStream error 10065 between two streams).
const OVERLAPS: readonly [string, string, boolean][] = [
  ["athlete-ally.>", "athlete-ally.hrv.raw-received", true],
  ["athlete-ally.>", "vendor.>", false],
  ["sleep.*", "sleep.raw", true],
  ["sleep.*", "sleep.a.b", false],
  ["a.>", "a", false],
  [">", "a", true],
  ["a.*.c", "a.b.*", true],
  ["*.b", "a.*", true],
  ["a.b", "a.b.c", false],
  ["a.b", "a.c", false],
  ["dlq.>", "athlete-ally.>", false],
];

for (const [a, b, expected] of OVERLAPS) {
  test(`patternsOverlap(${a}, ${b}) is ${expected}, either way round`, () => {
    assert.equal(patternsOverlap(a, b), expected);
    assert.equal(patternsOverlap(b, a), expected);
  });
}

// [pattern, subject, covers]: every subject `subject` matches is matched by `pattern`.
const COVERS: readonly [string, string, boolean][] = [
  ["athlete-ally.>", "athlete-ally.hrv.raw-received", true],
  ["athlete-ally.>", "athlete-ally", false],
  ["sleep.*", "sleep.raw-received", true],
  ["sleep.*", "sleep.>", false],
  ["vendor.>", "vendor.oura.>", true],
  ["vendor.oura.>", "vendor.>", false],
  ["a.b", "a.b", true],
];

for (const [pattern, subject, expected] of COVERS) {
  test(`patternCovers(${pattern}, ${subject}) is ${expected}`, () =>
    assert.equal(patternCovers(pattern, subject), expected));
}

test("coveringPattern: the first pattern that covers the subject, or undefined", () => {
  assert.equal(coveringPattern(["vendor.>", "athlete-ally.>"], "athlete-ally.sleep.raw-received"), "athlete-ally.>");
  assert.equal(coveringPattern(["vendor.>"], "athlete-ally.sleep.raw-received"), undefined);
});
