import assert from "node:assert/strict";
import { test } from "node:test";
import { ALL_STEPS, PATHS } from "../../rehearsal/paths.js";
import { NOT_REHEARSED, runbookSteps, stepName } from "../../rehearsal/runbook.js";

const rehearsed = new Set(ALL_STEPS.map((s) => stepName(s.section, s.heading)));

test("every step heading of the runbook is played by the rehearsal or says why not", () => {
  const missing = runbookSteps().filter((name) => !rehearsed.has(name) && !(name in NOT_REHEARSED));
  assert.deepEqual(missing, [], "runbook steps without a rehearsal counterpart (rehearsal/steps.ts) nor a reason");
});

test("every rehearsal step names a heading that is in the runbook", () => {
  const headings = new Set(runbookSteps());
  assert.deepEqual(
    [...rehearsed].filter((name) => !headings.has(name)),
    [],
  );
});

test("a heading added to the runbook without a counterpart fails the check", () => {
  const text = "## Deployment Steps\n\n### Step 9: Something new (T+1)\n";
  assert.deepEqual(runbookSteps(text), ["Deployment Steps: Step 9: Something new"]);
  assert.ok(!rehearsed.has("Deployment Steps: Step 9: Something new"));
});

test("each path plays the runbook's steps in the runbook's order (rollback steps after the forward ones)", () => {
  const order = runbookSteps();
  for (const [path, steps] of Object.entries(PATHS)) {
    const forward = steps
      .filter((s) => s.section !== "Rollback Procedure")
      .map((s) => order.indexOf(stepName(s.section, s.heading)));
    const ranks = forward.map((i, k) => (k === 0 ? 0 : i - forward[k - 1]!));
    assert.ok(
      forward.every((i) => i >= 0),
      path,
    );
    // The retirement step (Deployment Step 4) follows the soak, which the runbook writes after it.
    assert.ok(ranks.filter((d) => d < 0).length <= 1, `${path}: steps out of the runbook's order`);
  }
});
