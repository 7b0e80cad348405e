import assert from "node:assert/strict";
import { test } from "node:test";
import { retryDelayMs } from "@aa/event-bus";

// [deliveryCount, maxDeliver, budgetMs, expected delay ms]
const CASES: readonly [number, number, number, number][] = [
  [1, 5, 600_000, 40_000],
  [2, 5, 600_000, 80_000],
  [3, 5, 600_000, 160_000],
  [4, 5, 600_000, 320_000],
  [5, 5, 600_000, 320_000], // past the last nak: no longer than the last delay
  [0, 5, 600_000, 40_000], // a missing count is the first delivery
  [1, 5, 3_000, 200],
  [4, 5, 3_000, 1_600],
  [1, 1, 5_000, 5_000], // one delivery: the whole budget
  [2, 4, 1_000, 286], // rounded up to whole milliseconds
  [1, 0, 600_000, 1_000], // no delivery limit: doubling from 1 s
  [3, -1, 600_000, 4_000],
  [20, 0, 600_000, 300_000], // ... capped at 5 min
];

for (const [count, maxDeliver, budget, expected] of CASES) {
  test(`retryDelayMs(delivery ${count}, max_deliver ${maxDeliver}, budget ${budget} ms) = ${expected} ms`, () => {
    assert.equal(retryDelayMs(count, maxDeliver, budget), expected);
  });
}

test("retryDelayMs: the naks of max_deliver 5 add up to the budget, so a shorter outage never exhausts them", () => {
  for (const budget of [3_000, 60_000, 600_000]) {
    const total = [1, 2, 3, 4].reduce((sum, n) => sum + retryDelayMs(n, 5, budget), 0);
    assert.ok(total >= budget && total <= budget + 4, `budget ${budget}: delays add up to ${total}`);
  }
});
